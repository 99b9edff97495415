//! `getFeatures`: the features of the table's command groups, each once, in the order they were
//! registered (the original returned the union in no particular order, protocol spec §4.1).

use kraken_codec::Value;
use sentry_protocol::names::sentry_method;

use super::context::CommandContext;
use super::table::{ArgKind, Args, CommandError, Method, Param};

pub const METHODS: &[Method] = &[Method {
    name: sentry_method::GET_FEATURES,
    params: &[Param { name: "ignored", kind: ArgKind::Ignored }],
    handler: get_features,
}];

fn get_features(_: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    Ok(args.table().features().iter().map(|feature| Value::from(*feature)).collect())
}
