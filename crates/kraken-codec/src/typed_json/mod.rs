//! The typed-JSON form of Kraken values: the `value_format` of the shared golden vectors.
//!
//! Every value is a JSON object with a type tag `t`: `{"t":"i32","v":5}`,
//! `{"t":"i64","v":"123"}` (as a string: it may exceed 2^53), `{"t":"date","ms":"0","iso":...}`,
//! `{"t":"map","java":"java.util.HashMap","entries":[["key", VALUE], ...]}` and so on. It is what
//! `kraken-sentry codec decode` prints and `codec encode` reads, and how tests state values
//! without ambiguity about integer kinds.
//!
//! [`render`] turns a [`Value`](crate::Value) into this form, [`parse`] reads it back, including
//! the vectors' Java-only inputs: primitive arrays (`i32[]`...), generated long strings (`gen`),
//! and the inputs Java refuses to encode (`char[]`, `java-object`, non-string map keys), which
//! come back as [`TypedJsonError::Unsupported`].

mod error;
mod generator;
mod parse;
mod path;
mod render;

pub use error::TypedJsonError;
pub use parse::{parse, parse_str};
pub use render::{Abbreviate, render};
