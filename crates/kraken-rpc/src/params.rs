//! [`Params`]: the positional parameters of a received call or post, still in wire form.
//!
//! The reader checks every frame in full (a malformed one closes the connection, as before) but
//! builds only the header and the method name. The parameters stay encoded, sharing the frame's
//! buffer, until the service wants them: [`Params::decode`] builds the `Vec<Value>` most services
//! take (that is what [`crate::RpcService::call_encoded`] does by default), and [`Params::items`]
//! lets a busy handler read what it needs part by part and pass the rest on as bytes.

use kraken_codec::{RawValue, SharedRawValue, Value};

use crate::error::RpcFault;

/// The parameters of a received call or post; see the module documentation.
#[derive(Clone, Default)]
pub struct Params {
    /// The encoded ARRAY, sharing its frame's buffer; `None` for no parameters (NULL or absent
    /// on the wire).
    array: Option<SharedRawValue>,
}

impl Params {
    /// No parameters.
    pub fn none() -> Self {
        Params::default()
    }

    /// Parameters from a checked value: an ARRAY, as a frame carries them (anything else has no
    /// items and does not decode).
    pub fn from_checked(array: SharedRawValue) -> Self {
        Params { array: Some(array) }
    }

    /// The parameters as one encoded ARRAY; `None` when there are none.
    pub fn raw(&self) -> Option<RawValue<'_>> {
        self.array.as_ref().map(SharedRawValue::get)
    }

    /// The parameters one by one, left encoded.
    pub fn items(&self) -> impl Iterator<Item = RawValue<'_>> {
        self.raw().and_then(|raw| raw.items()).into_iter().flatten()
    }

    /// Size of the encoded parameters, in bytes.
    pub fn encoded_len(&self) -> usize {
        self.raw().map_or(0, |raw| raw.as_bytes().len())
    }

    /// Builds the parameters as values.
    pub fn decode(&self) -> Result<Vec<Value>, RpcFault> {
        let Some(raw) = self.raw() else { return Ok(Vec::new()) };
        match raw.decode() {
            Ok(Value::Array(items)) => Ok(items),
            Ok(other) => Err(RpcFault::new(format!("params must be an array, found {}", other.kind_name()))),
            Err(err) => Err(RpcFault::new(format!("undecodable params: {err}"))),
        }
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.decode() {
            Ok(values) => f.debug_tuple("Params").field(&values).finish(),
            Err(fault) => f.debug_tuple("Params").field(&fault).finish(),
        }
    }
}

impl PartialEq for Params {
    /// Equal when they decode to equal values.
    fn eq(&self, other: &Self) -> bool {
        self.decode() == other.decode()
    }
}
