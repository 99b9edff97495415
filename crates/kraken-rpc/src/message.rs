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

use bytes::Bytes;
use kraken_codec::encode::{open_array, open_map, write_key, write_str};
use kraken_codec::{DecodeError, DecodeLimits, Map, RawValue, Value, encode_into};

use crate::params::Params;

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

    /// The kind a `type` header names, from its bytes as sent.
    fn parse_bytes(text: &[u8]) -> Option<Self> {
        Some(match text {
            b"rpc-call" => MessageKind::Call,
            b"rpc-post" => MessageKind::Post,
            b"rpc-ret" => MessageKind::Return,
            b"rpc-error" => MessageKind::Error,
            _ => return None,
        })
    }
}

/// One RPC message. Messages we send carry their parameters as values; messages we receive
/// ([`Message::parse`]) carry them still encoded, as [`Params`].
#[derive(Debug, Clone, PartialEq)]
pub struct Message<P = Vec<Value>> {
    /// The sender's message id.
    pub id: i32,
    /// The session it belongs to (0 is `rpc-control`).
    pub session: i32,
    /// What the body holds.
    pub body: Body<P>,
}

/// The body of a message, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Body<P = Vec<Value>> {
    /// A call: `method(params...)`, answered by a return or an error.
    Call {
        /// The method name.
        method: String,
        /// Positional arguments.
        params: P,
    },
    /// A post: like a call, never answered.
    Post {
        /// The method name.
        method: String,
        /// Positional arguments.
        params: P,
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

impl<P> Message<P> {
    /// The kind of this message.
    pub fn kind(&self) -> MessageKind {
        match self.body {
            Body::Call { .. } => MessageKind::Call,
            Body::Post { .. } => MessageKind::Post,
            Body::Return { .. } => MessageKind::Return,
            Body::Error { .. } => MessageKind::Error,
        }
    }
}

impl Message {
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

    /// Appends the frame to `out`: the bytes [`Message::into_value`] encodes to, written without
    /// building the frame value (the parameters are only borrowed). Returns the frame's length.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> usize {
        let (kind, ret_for) = match &self.body {
            Body::Call { method, params } => {
                return encode_request_into(out, self.id, self.session, MessageKind::Call, method, params);
            }
            Body::Post { method, params } => {
                return encode_request_into(out, self.id, self.session, MessageKind::Post, method, params);
            }
            Body::Return { ret_for, .. } => (MessageKind::Return, *ret_for),
            Body::Error { ret_for, .. } => (MessageKind::Error, *ret_for),
        };
        let start = out.len();
        let frame = open_array(out);
        write_header(out, self.id, self.session, kind, Some(ret_for));
        let body = open_map(out);
        match &self.body {
            Body::Return { method, value, .. } => {
                write_key(out, "method");
                write_str(out, method);
                write_key(out, "ret");
                encode_into(value, out);
            }
            Body::Error { cause, .. } => {
                write_key(out, "cause");
                match cause {
                    Some(cause) => write_str(out, cause),
                    None => drop(encode_into(&Value::Null, out)),
                }
            }
            Body::Call { .. } | Body::Post { .. } => {}
        }
        body.close(out);
        frame.close(out);
        out.len() - start
    }

    /// Reads a message out of a decoded frame value, parameters decoded too.
    pub fn from_value(frame: Value) -> Result<Message, MessageError> {
        let frame = Bytes::from(kraken_codec::encode(&frame));
        Message::parse(frame, &DecodeLimits::default())?.into_decoded()
    }
}

/// Appends the frame of a call or post, `method(params...)`, to `out`: what
/// [`Message::encode_into`] writes for it, with nothing owned (no method `String`, no params
/// `Vec`). `kind` is [`MessageKind::Call`] or [`MessageKind::Post`]. Returns the frame's length.
pub fn encode_request_into(
    out: &mut Vec<u8>,
    id: i32,
    session: i32,
    kind: MessageKind,
    method: &str,
    params: &[Value],
) -> usize {
    encode_request_with(out, id, session, kind, method, |out| {
        for param in params {
            encode_into(param, out);
        }
    })
}

/// [`encode_request_into`] with parameters written by `write_params`: the items of the params
/// array, one encoded value after another.
pub fn encode_request_with(
    out: &mut Vec<u8>,
    id: i32,
    session: i32,
    kind: MessageKind,
    method: &str,
    write_params: impl FnOnce(&mut Vec<u8>),
) -> usize {
    let start = out.len();
    let frame = open_array(out);
    write_header(out, id, session, kind, None);
    let body = open_map(out);
    write_key(out, "method");
    write_str(out, method);
    write_key(out, "params");
    let array = open_array(out);
    write_params(out);
    array.close(out);
    body.close(out);
    frame.close(out);
    out.len() - start
}

/// Writes a frame's header map, integers as ZINT32.
fn write_header(out: &mut Vec<u8>, id: i32, session: i32, kind: MessageKind, ret_for: Option<i32>) {
    let header = open_map(out);
    write_key(out, "session");
    encode_into(&Value::I32(session), out);
    write_key(out, "id");
    encode_into(&Value::I32(id), out);
    write_key(out, "type");
    write_str(out, kind.as_str());
    if let Some(ret_for) = ret_for {
        write_key(out, "ret-for");
        encode_into(&Value::I32(ret_for), out);
    }
    header.close(out);
}

impl Message<Params> {
    /// Reads a message out of one whole frame. The frame is checked in full under `limits` (a
    /// malformed one is an error); the header, the method and any result are built, a call's or
    /// post's parameters are left encoded.
    pub fn parse(frame: Bytes, limits: &DecodeLimits) -> Result<Message<Params>, MessageError> {
        let raw = RawValue::parse(&frame, limits).map_err(undecodable)?;
        let mut parts =
            raw.items().ok_or_else(|| MessageError::new("a frame must be an array of [header, body]"))?;
        let (Some(header), Some(body), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(MessageError::new("a frame must be an array of exactly [header, body]"));
        };
        let (Some(header), Some(entries)) = (header.entries(), body.entries()) else {
            return Err(MessageError::new("the header and the body must be maps"));
        };
        // As in Java's HashMap, a repeated key keeps its last value. Fields are read as they
        // are met (kept as `RawValue`s, they would be copied through memory for nothing); a
        // missing field and one of the wrong kind read alike, as `None`.
        let (mut id, mut session, mut kind, mut ret_for) = (None, None, None, None);
        for (key, value) in header {
            match key {
                b"id" => id = value.as_i32(),
                b"session" => session = value.as_i32(),
                b"type" => kind = value.str_bytes(),
                b"ret-for" => ret_for = value.as_i32(),
                _ => {}
            }
        }
        let int_field = |field: Option<i32>, key: &str| -> Result<i32, MessageError> {
            field.ok_or_else(|| {
                MessageError::new(format!("header field \"{key}\" is missing or not a 32-bit integer"))
            })
        };
        let id = int_field(id, "id")?;
        let session = int_field(session, "session")?;
        let Some(kind) = kind else {
            return Err(MessageError::new("header field \"type\" is missing or not a string"));
        };
        let kind = MessageKind::parse_bytes(kind)
            .ok_or_else(|| MessageError::unknown_kind(&kraken_codec::utf8::decode_lossy(kind)))?;
        let mut fields = BodyFields::default();
        for (key, value) in entries {
            match key {
                b"method" => fields.method = value.str_bytes(),
                b"params" => fields.params = Some(value),
                b"ret" => fields.ret = Some(value),
                b"cause" => fields.cause = value.str_bytes(),
                _ => {}
            }
        }
        let method = fields.method.map(kraken_codec::utf8::decode_lossy_string);
        let body = match kind {
            MessageKind::Call | MessageKind::Post => {
                let Some(method) = method else {
                    return Err(MessageError::new("body field \"method\" is missing or not a string"));
                };
                let params = match fields.params {
                    None => Params::none(),
                    Some(raw) if raw.is_null() => Params::none(),
                    Some(raw) if raw.type_byte() == kraken_codec::type_byte::ARRAY => match raw.share(&frame)
                    {
                        Some(array) => Params::from_checked(array),
                        None => return Err(MessageError::new("params outside their frame")),
                    },
                    Some(raw) => {
                        let kind = raw.decode().map_err(undecodable)?.kind_name();
                        return Err(MessageError::new(format!(
                            "\"params\" must be an array or null, found {kind}"
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
                ret_for: int_field(ret_for, "ret-for")?,
                method: method.unwrap_or_default(),
                value: fields
                    .ret
                    .map(|ret| ret.decode())
                    .transpose()
                    .map_err(undecodable)?
                    .unwrap_or(Value::Null),
            },
            MessageKind::Error => Body::Error {
                ret_for: int_field(ret_for, "ret-for")?,
                cause: fields.cause.map(kraken_codec::utf8::decode_lossy_string),
            },
        };
        Ok(Message { id, session, body })
    }

    /// The same message with its parameters decoded.
    pub fn into_decoded(self) -> Result<Message, MessageError> {
        let decoded = |params: Params| params.decode().map_err(|fault| MessageError::new(fault.to_string()));
        let body = match self.body {
            Body::Call { method, params } => Body::Call { method, params: decoded(params)? },
            Body::Post { method, params } => Body::Post { method, params: decoded(params)? },
            Body::Return { ret_for, method, value } => Body::Return { ret_for, method, value },
            Body::Error { ret_for, cause } => Body::Error { ret_for, cause },
        };
        Ok(Message { id: self.id, session: self.session, body })
    }
}

fn undecodable(err: DecodeError) -> MessageError {
    MessageError::new(format!("undecodable frame: {err}"))
}

/// The body fields a message may have: the texts as sent (`None` when missing or not a string),
/// the values still encoded.
#[derive(Default)]
struct BodyFields<'a> {
    method: Option<&'a [u8]>,
    params: Option<RawValue<'a>>,
    ret: Option<RawValue<'a>>,
    cause: Option<&'a [u8]>,
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
        let mut written = vec![0xee];
        let length = m.encode_into(&mut written);
        assert_eq!(&written[1..], kraken_codec::encode(&m.clone().into_value()), "{m:?}");
        assert_eq!(length, written.len() - 1);
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
        round_trip(Message { id: 5, session: 3, body: Body::Error { ret_for: 9, cause: Some("no".into()) } });
        // A frame over 127 bytes, so that its length prefix takes two bytes.
        let long = vec![Value::from("x".repeat(200)), Value::I64(-1)];
        round_trip(Message { id: 6, session: 5, body: Body::Post { method: "onLog".into(), params: long } });
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
