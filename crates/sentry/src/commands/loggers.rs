//! Logger control (§4.4): `getLoggerFactories`, `getLoggerFactory`, `getLoggers`,
//! `createLogger`, `removeLogger`, `startLogger`, `stopLogger`, and `connectLogger` /
//! `disconnectLogger`, which say which loggers' records the calling base wants.
//!
//! The registry does the work and gives the error messages (`logger not found: x`, `logger
//! already exists: local\x`, `interval must be at least 1000 ms, got 0`...). An unknown factory
//! is a proper error, not a null message (BUG-22).

use std::sync::Arc;

use kraken_codec::Value;
use sentry_protocol::names::sentry_method;

use super::context::{Caller, CommandContext};
use super::table::{ArgKind, Args, CommandError, Method, Param};
use crate::loggers::LoggerRegistry;
use crate::loggers::factory::factory_info;

const NAME: Param = Param { name: "name", kind: ArgKind::Str };

pub const METHODS: &[Method] = &[
    Method { name: sentry_method::GET_LOGGER_FACTORIES, params: &[], handler: get_logger_factories },
    Method { name: sentry_method::GET_LOGGER_FACTORY, params: &[NAME], handler: get_logger_factory },
    Method { name: sentry_method::GET_LOGGERS, params: &[], handler: get_loggers },
    Method {
        name: sentry_method::CREATE_LOGGER,
        params: &[
            Param { name: "factoryName", kind: ArgKind::Str },
            NAME,
            Param { name: "description", kind: ArgKind::OptStr },
            Param { name: "props", kind: ArgKind::Map },
        ],
        handler: create_logger,
    },
    Method { name: sentry_method::REMOVE_LOGGER, params: &[NAME], handler: remove_logger },
    Method {
        name: sentry_method::START_LOGGER,
        params: &[NAME, Param { name: "interval", kind: ArgKind::Int32 }],
        handler: start_logger,
    },
    Method { name: sentry_method::CONNECT_LOGGER, params: &[NAME], handler: connect_logger },
    Method { name: sentry_method::DISCONNECT_LOGGER, params: &[NAME], handler: disconnect_logger },
    Method {
        name: sentry_method::STOP_LOGGER,
        params: &[NAME, Param { name: "timeout", kind: ArgKind::Int32 }],
        handler: stop_logger,
    },
];

fn registry(context: &CommandContext) -> Result<&Arc<LoggerRegistry>, CommandError> {
    context.loggers.as_ref().ok_or_else(|| CommandError::failed("logger control is not available here"))
}

fn failed(error: impl std::fmt::Display) -> CommandError {
    CommandError::failed(error)
}

fn get_logger_factories(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    Ok(registry(context)?.factories().iter().map(|f| factory_info(f.as_ref())).collect())
}

fn get_logger_factory(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    let name = args.str(0);
    let factory = registry(context)?
        .factory(name)
        .ok_or_else(|| failed(format!("logger factory not found: {name}")))?;
    Ok(factory_info(factory.as_ref()))
}

fn get_loggers(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    Ok(Value::Array(registry(context)?.logger_infos()))
}

fn create_logger(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    registry(context)?.create(args.str(0), args.str(1), args.opt_str(2), args.map(3)).map_err(failed)?;
    Ok(Value::Null)
}

fn remove_logger(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    registry(context)?.remove(args.str(0)).map_err(failed)?;
    Ok(Value::Null)
}

fn start_logger(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    registry(context)?.start(args.str(0), i64::from(args.i32(1))).map_err(failed)?;
    Ok(Value::Null)
}

fn stop_logger(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    registry(context)?.stop(args.str(0), i64::from(args.i32(1))).map_err(failed)?;
    Ok(Value::Null)
}

/// The base making the call; the original's message when there is none.
fn caller<'a>(args: &Args<'a>) -> Result<&'a Caller, CommandError> {
    args.caller().ok_or_else(|| failed("base not found: null"))
}

fn connect_logger(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    registry(context)?.connect(&caller(args)?.base, args.str(0)).map_err(failed)
}

fn disconnect_logger(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    registry(context)?.disconnect(&caller(args)?.base, args.str(0)).map_err(failed)?;
    Ok(Value::Null)
}
