//! RPC messages: the four kinds of frame and their header and body fields.
//!
//! A frame is `[header, body]`, two string-keyed maps. The header carries `id`, `session`,
//! `type` and, in replies, `ret-for`; all integers there are ZINT32 because Java casts them to
//! `Integer` (anything else closes a Java peer's connection). Bodies: a call or post has `method`
//! and `params` (an ARRAY, or NULL for none), a return has `method` and `ret`, an error has
//! `cause` (a string or NULL).
//!
//! On receipt this module is lenient where it costs nothing: integer header fields of any kind
//! are accepted if they fit in 32 bits, and maps may list their keys in any order.

use kraken_codec::{Map, Value};

/// The `type` header of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `rpc-call`: expects a return or an error.
    Call,
    /// `rpc-post`: expects nothing back.
    Post,
    /// `rpc-ret`: the result of a call.
    Return,
    /// `rpc-error`: the failure of a call.
    Error,
}

impl MessageKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Call => "rpc-call",
            MessageKind::Post => "rpc-post",
            MessageKind::Return => "rpc-ret",
            MessageKind::Error => "rpc-error",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "rpc-call" => MessageKind::Call,
            "rpc-post" => MessageKind::Post,
            "rpc-ret" => MessageKind::Return,
            "rpc-error" => MessageKind::Error,
            _ => return None,
        })
    }
}

/// One RPC message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The sender's message id.
    pub id: i32,
    /// The session it belongs to (0 is `rpc-control`).
    pub session: i32,
    /// What the body holds.
    pub body: Body,
}

/// The body of a message, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A call: `method(params...)`, answered by a return or an error.
    Call {
        /// The method name.
        method: String,
        /// Positional arguments.
        params: Vec<Value>,
    },
    /// A post: like a call, never answered.
    Post {
        /// The method name.
        method: String,
        /// Positional arguments.
        params: Vec<Value>,
    },
    /// The result of the call whose id is `ret_for`.
    Return {
        /// Id of the call answered.
        ret_for: i32,
        /// The called method's name, echoed.
        method: String,
        /// The result (NULL for none).
        value: Value,
    },
    /// The failure of the call whose id is `ret_for`.
    Error {
        /// Id of the call answered.
        ret_for: i32,
        /// The exception message; Java may send NULL.
        cause: Option<String>,
    },
}

impl Message {
    /// The kind of this message.
    pub fn kind(&self) -> MessageKind {
        match self.body {
            Body::Call { .. } => MessageKind::Call,
            Body::Post { .. } => MessageKind::Post,
            Body::Return { .. } => MessageKind::Return,
            Body::Error { .. } => MessageKind::Error,
        }
    }

    /// The frame value `[header, body]`, with header integers as ZINT32.
    pub fn into_value(self) -> Value {
        let mut header = Map::with_capacity(4);
        header.insert("session", Value::I32(self.session));
        header.insert("id", Value::I32(self.id));
        header.insert("type", Value::from(self.kind().as_str()));
        let mut body = Map::with_capacity(2);
        match self.body {
            Body::Call { method, params } | Body::Post { method, params } => {
                body.insert("method", Value::from(method));
                body.insert("params", Value::Array(params));
            }
            Body::Return { ret_for, method, value } => {
                header.insert("ret-for", Value::I32(ret_for));
                body.insert("method", Value::from(method));
                body.insert("ret", value);
            }
            Body::Error { ret_for, cause } => {
                header.insert("ret-for", Value::I32(ret_for));
                body.insert("cause", Value::from(cause));
            }
        }
        Value::Array(vec![Value::Map(header), Value::Map(body)])
    }

    /// Reads a message out of a decoded frame.
    pub fn from_value(frame: Value) -> Result<Message, MessageError> {
        let Value::Array(parts) = frame else {
            return Err(MessageError::new("a frame must be an array of [header, body]"));
        };
        let [Value::Map(header), Value::Map(mut body)] = <[Value; 2]>::try_from(parts)
            .map_err(|_| MessageError::new("a frame must be an array of exactly [header, body]"))?
        else {
            return Err(MessageError::new("the header and the body must be maps"));
        };
        let id = int_field(&header, "id")?;
        let session = int_field(&header, "session")?;
        let kind = header
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| MessageError::new("header field \"type\" is missing or not a string"))?;
        let kind = MessageKind::parse(kind).ok_or_else(|| MessageError::unknown_kind(kind))?;
        let body = match kind {
            MessageKind::Call | MessageKind::Post => {
                let method = take_method(&mut body)?;
                let params = match body.remove("params") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(params)) => params,
                    Some(other) => {
                        return Err(MessageError::new(format!(
                            "\"params\" must be an array or null, found {}",
                            other.kind_name()
                        )));
                    }
                };
                if kind == MessageKind::Call {
                    Body::Call { method, params }
                } else {
                    Body::Post { method, params }
                }
            }
            MessageKind::Return => Body::Return {
                ret_for: int_field(&header, "ret-for")?,
                method: body.remove("method").and_then(|m| String::try_from(m).ok()).unwrap_or_default(),
                value: body.remove("ret").unwrap_or(Value::Null),
            },
            MessageKind::Error => Body::Error {
                ret_for: int_field(&header, "ret-for")?,
                cause: match body.remove("cause") {
                    Some(Value::Str(cause)) => Some(cause.into_string()),
                    _ => None,
                },
            },
        };
        Ok(Message { id, session, body })
    }
}

fn int_field(header: &Map, key: &str) -> Result<i32, MessageError> {
    header.get(key).and_then(Value::as_i32).ok_or_else(|| {
        MessageError::new(format!("header field \"{key}\" is missing or not a 32-bit integer"))
    })
}

fn take_method(body: &mut Map) -> Result<String, MessageError> {
    match body.remove("method") {
        Some(Value::Str(method)) => Ok(method.into_string()),
        _ => Err(MessageError::new("body field \"method\" is missing or not a string")),
    }
}

/// A frame that decoded but is not a well-formed message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message: {reason}")]
pub struct MessageError {
    reason: String,
    /// True when only the `type` was unknown: Java ignores such messages.
    pub unknown_kind: bool,
}

impl MessageError {
    fn new(reason: impl Into<String>) -> Self {
        MessageError { reason: reason.into(), unknown_kind: false }
    }

    fn unknown_kind(kind: &str) -> Self {
        MessageError { reason: format!("unknown message type \"{kind}\""), unknown_kind: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(m: Message) {
        let back = Message::from_value(m.clone().into_value()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn every_kind_round_trips() {
        round_trip(Message {
            id: 1,
            session: 0,
            body: Body::Call { method: "ping".into(), params: vec![Value::I32(7)] },
        });
        round_trip(Message {
            id: 2,
            session: 3,
            body: Body::Post { method: "onLog".into(), params: vec![] },
        });
        round_trip(Message {
            id: 3,
            session: 3,
            body: Body::Return { ret_for: 9, method: "run".into(), value: Value::from("x") },
        });
        round_trip(Message { id: 4, session: 3, body: Body::Error { ret_for: 9, cause: None } });
    }

    #[test]
    fn header_integers_are_zint32_on_the_wire() {
        let m = Message { id: 1, session: 0, body: Body::Error { ret_for: 5, cause: Some("x".into()) } };
        let Value::Array(parts) = m.into_value() else { panic!() };
        let header = parts[0].as_map().unwrap();
        for key in ["id", "session", "ret-for"] {
            assert!(matches!(header[key], Value::I32(_)), "{key}");
        }
    }

    #[test]
    fn malformed_messages_are_explained() {
        let err = Message::from_value(Value::Array(vec![])).unwrap_err();
        assert!(err.to_string().contains("exactly [header, body]"));
        let frame = Value::Array(vec![
            kraken_codec::map! { "id" => 1i32, "session" => 0i32, "type" => "rpc-bogus" },
            kraken_codec::map! {},
        ]);
        assert!(Message::from_value(frame).unwrap_err().unknown_kind);
        let frame = Value::Array(vec![
            kraken_codec::map! { "id" => "one", "session" => 0i32, "type" => "rpc-call" },
            kraken_codec::map! {},
        ]);
        assert!(Message::from_value(frame).unwrap_err().to_string().contains("\"id\""));
    }
}
