//! The sentry's method table: name, parameters, handler. Explicit, not reflection.
//!
//! A base calls `run(methodName, params)`; [`MethodTable::dispatch`] finds the method by name
//! and arity, checks each argument's kind and hands the handler typed [`Args`] (with the calling
//! base, if any). The same table serves the RPC service and `kraken-sentry exec`; every method is
//! an entry, `getFeatures` and the log channel's too. Errors keep the
//! original's message prefixes (`sentry method not found: `, `illegal argument: `) so a Java base
//! shows something familiar, but say what was expected (BUG-17, BUG-22).
//!
//! Integer arguments are lenient: an `i16`, `i32` or `i64` is accepted wherever an integer is
//! expected, if its value fits (a Java base sends `int`, a Rust base may send `long`).

use std::fmt;

use kraken_codec::{Map, Value};

use super::context::{Caller, CommandContext};

/// What a parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A string.
    Str,
    /// A string or null.
    OptStr,
    /// Any integer kind whose value fits in an `i32`.
    Int32,
    /// A map.
    Map,
    /// Any number of further arguments of any kind, not read (last parameter only): the
    /// original ignored `getFeatures`' arguments.
    Ignored,
}

impl ArgKind {
    fn accepts(self, value: &Value) -> bool {
        match self {
            ArgKind::Ignored => true,
            ArgKind::Str => matches!(value, Value::Str(_)),
            ArgKind::OptStr => matches!(value, Value::Str(_) | Value::Null),
            ArgKind::Int32 => value.as_i32().is_some(),
            ArgKind::Map => matches!(value, Value::Map(_)),
        }
    }
}

impl fmt::Display for ArgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArgKind::Str => "str",
            ArgKind::OptStr => "str or null",
            ArgKind::Int32 => "an integer within i32",
            ArgKind::Map => "map",
            ArgKind::Ignored => "anything",
        })
    }
}

/// One named, typed parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: ArgKind,
}

/// A handler: reads the host or the agent and returns the reply value.
pub type Handler = fn(&CommandContext, &Args<'_>) -> Result<Value, CommandError>;

/// One entry of the table. A name may appear more than once with different arities
/// (`listFiles` with and without a path).
#[derive(Clone, Copy)]
pub struct Method {
    pub name: &'static str,
    pub params: &'static [Param],
    pub handler: Handler,
}

impl Method {
    /// Whether the method takes `count` arguments (any count from its fixed ones up, when its
    /// last parameter is [`ArgKind::Ignored`]).
    fn takes(&self, count: usize) -> bool {
        match self.params.split_last() {
            Some((last, fixed)) if last.kind == ArgKind::Ignored => count >= fixed.len(),
            _ => count == self.params.len(),
        }
    }
}

/// Arguments already checked against a method's parameters, with who is calling and the table
/// the method was found in.
pub struct Args<'a> {
    values: &'a [Value],
    caller: Option<&'a Caller>,
    table: &'a MethodTable,
}

impl<'a> Args<'a> {
    /// The base making the call, when the call came over a base link.
    pub fn caller(&self) -> Option<&'a Caller> {
        self.caller
    }

    /// The table the method was found in (`getFeatures` lists its features).
    pub fn table(&self) -> &'a MethodTable {
        self.table
    }

    /// The string at `index` (the table has checked it is one).
    pub fn str(&self, index: usize) -> &'a str {
        self.values[index].as_str().unwrap_or_default()
    }

    /// The string at `index`, or `None` for null.
    pub fn opt_str(&self, index: usize) -> Option<&'a str> {
        self.values[index].as_str()
    }

    /// The integer at `index`, as an `i32` (the table has checked it fits).
    pub fn i32(&self, index: usize) -> i32 {
        self.values[index].as_i32().unwrap_or_default()
    }

    /// The map at `index`.
    pub fn map(&self, index: usize) -> &'a Map {
        static EMPTY: std::sync::OnceLock<Map> = std::sync::OnceLock::new();
        self.values[index].as_map().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }
}

/// Why a method call failed; the `Display` text is the RPC error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("sentry method not found: {0}")]
    UnknownMethod(String),
    #[error("illegal argument: {method} takes {expected}, got {got} argument(s)")]
    WrongArity { method: String, expected: String, got: usize },
    #[error("illegal argument: {method} parameter {position} ({name}) must be {kind}, got {got}")]
    WrongKind { method: String, position: usize, name: &'static str, kind: ArgKind, got: &'static str },
    #[error("illegal argument: params must be a list or null, got {0}")]
    ParamsNotAList(&'static str),
    /// The handler ran and failed; the message says why.
    #[error("{0}")]
    Failed(String),
}

impl CommandError {
    /// A handler failure with a message.
    pub fn failed(message: impl fmt::Display) -> Self {
        CommandError::Failed(message.to_string())
    }
}

/// A host-fact failure as the RPC error message.
pub fn host_error(error: sentry_host::HostError) -> CommandError {
    CommandError::failed(error)
}

/// The sentry's methods and the features they provide.
pub struct MethodTable {
    methods: Vec<Method>,
    features: Vec<&'static str>,
}

impl MethodTable {
    /// An empty table.
    pub fn new() -> Self {
        MethodTable { methods: Vec::new(), features: Vec::new() }
    }

    /// Adds methods and the feature names they provide. A second method with the same name and
    /// arity as an existing one is a programming error and panics at start-up.
    pub fn register(&mut self, features: &[&'static str], methods: &[Method]) {
        for method in methods {
            assert!(
                self.find(method.name, method.params.len()).is_none(),
                "sentry method {} with {} parameter(s) registered twice",
                method.name,
                method.params.len()
            );
            self.methods.push(*method);
        }
        for feature in features {
            if !self.features.contains(feature) {
                self.features.push(feature);
            }
        }
    }

    /// The feature names, in registration order (`getFeatures`).
    pub fn features(&self) -> &[&'static str] {
        &self.features
    }

    /// Whether some method is called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.methods.iter().any(|m| m.name == name)
    }

    /// Every method, in registration order.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    fn find(&self, name: &str, arity: usize) -> Option<&Method> {
        self.methods.iter().find(|m| m.name == name && m.params.len() == arity)
    }

    /// Runs `name` with `params` (a list, or null for no arguments), as `run(name, params)`.
    pub fn dispatch(
        &self,
        context: &CommandContext,
        name: &str,
        params: &Value,
    ) -> Result<Value, CommandError> {
        self.dispatch_from(context, None, name, params)
    }

    /// [`MethodTable::dispatch`] for a call made by `caller` (a base, over its link).
    pub fn dispatch_from(
        &self,
        context: &CommandContext,
        caller: Option<&Caller>,
        name: &str,
        params: &Value,
    ) -> Result<Value, CommandError> {
        let args: &[Value] = match params {
            Value::Null => &[],
            Value::Array(items) => items,
            other => return Err(CommandError::ParamsNotAList(other.kind_name())),
        };
        let candidates: Vec<&Method> = self.methods.iter().filter(|m| m.name == name).collect();
        if candidates.is_empty() {
            return Err(CommandError::UnknownMethod(name.to_owned()));
        }
        let Some(method) = candidates.iter().find(|m| m.takes(args.len())) else {
            let mut arities: Vec<String> = candidates.iter().map(|m| signature(m.params)).collect();
            arities.sort();
            return Err(CommandError::WrongArity {
                method: name.to_owned(),
                expected: arities.join(" or "),
                got: args.len(),
            });
        };
        for (position, (param, value)) in method.params.iter().zip(args).enumerate() {
            if !param.kind.accepts(value) {
                return Err(CommandError::WrongKind {
                    method: name.to_owned(),
                    position: position + 1,
                    name: param.name,
                    kind: param.kind,
                    got: value.kind_name(),
                });
            }
        }
        (method.handler)(context, &Args { values: args, caller, table: self })
    }
}

impl Default for MethodTable {
    fn default() -> Self {
        Self::new()
    }
}

/// `(path: string)`, or `no arguments`.
fn signature(params: &[Param]) -> String {
    if params.is_empty() {
        return "no arguments".to_owned();
    }
    let list: Vec<String> = params.iter().map(|p| format!("{}: {}", p.name, p.kind)).collect();
    format!("({})", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn echo_interval(_: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
        Ok(Value::I32(args.i32(1)))
    }

    fn nothing(_: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
        Ok(Value::Null)
    }

    const INTERVAL: &[Param] =
        &[Param { name: "name", kind: ArgKind::Str }, Param { name: "interval", kind: ArgKind::Int32 }];

    fn table() -> MethodTable {
        let mut table = MethodTable::new();
        table.register(
            &["test-feature"],
            &[Method { name: "startLogger", params: INTERVAL, handler: echo_interval }],
        );
        table.register(&["test-feature", "other"], &[Method { name: "ping", params: &[], handler: nothing }]);
        table.register(&[], super::super::features::METHODS);
        table
    }

    fn context() -> CommandContext {
        CommandContext {
            host: Arc::new(sentry_host::SystemHost),
            sampling_window: std::time::Duration::from_millis(1),
            file_roots: super::super::context::FileRoots::Disabled,
            loggers: None,
        }
    }

    fn run(name: &str, params: Value) -> Result<Value, CommandError> {
        table().dispatch(&context(), name, &params)
    }

    #[test]
    fn integers_of_any_kind_are_accepted_when_they_fit() {
        for interval in [Value::I16(5), Value::I32(5), Value::I64(5)] {
            assert_eq!(run("startLogger", Value::Array(vec!["x".into(), interval])), Ok(Value::I32(5)));
        }
        let too_big = run("startLogger", Value::Array(vec!["x".into(), Value::I64(1 << 40)])).unwrap_err();
        assert_eq!(
            too_big.to_string(),
            "illegal argument: startLogger parameter 2 (interval) must be an integer within i32, got i64"
        );
    }

    #[test]
    fn errors_name_the_method_and_what_was_expected() {
        assert_eq!(run("nope", Value::Null).unwrap_err().to_string(), "sentry method not found: nope");
        assert_eq!(
            run("startLogger", Value::Null).unwrap_err().to_string(),
            "illegal argument: startLogger takes (name: str, interval: an integer within i32), got 0 argument(s)"
        );
        assert_eq!(
            run("startLogger", Value::Array(vec![Value::I32(1), Value::I32(1)])).unwrap_err().to_string(),
            "illegal argument: startLogger parameter 1 (name) must be str, got i32"
        );
        assert_eq!(
            run("ping", Value::from("x")).unwrap_err().to_string(),
            "illegal argument: params must be a list or null, got str"
        );
    }

    #[test]
    fn null_and_an_empty_list_both_mean_no_arguments() {
        assert_eq!(run("ping", Value::Null), Ok(Value::Null));
        assert_eq!(run("ping", Value::Array(vec![])), Ok(Value::Null));
    }

    #[test]
    fn get_features_lists_each_feature_once_whatever_its_arguments() {
        let features = Ok(Value::Array(vec!["test-feature".into(), "other".into()]));
        assert_eq!(run("getFeatures", Value::Null), features);
        assert_eq!(run("getFeatures", Value::Array(vec![Value::I32(1), "x".into()])), features);
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_duplicate_name_and_arity_is_refused() {
        let mut table = table();
        table.register(&[], &[Method { name: "ping", params: &[], handler: nothing }]);
    }
}
