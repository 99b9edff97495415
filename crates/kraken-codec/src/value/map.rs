//! [`Map`]: the string-keyed map of a Kraken MAP value, kept in insertion order.
//!
//! Kraken maps are small (a record's params, a process entry) and are built once, then encoded
//! or read a few times. A plain vector of entries serves that best: one allocation per map, no
//! hashing, and iteration in the order the entries were inserted (the wire order of a decoded
//! map). Lookups scan the entries, which for the few dozen keys of a real message is as fast as
//! hashing.
//!
//! Keys are unique, as in Java's `HashMap`: [`Map::insert`] of an existing key replaces its value
//! in place, and decoding a map with repeated keys keeps the last value ([`Map::from_entries`]
//! finds repeats through a hash set in large maps, so a hostile message with many keys cannot
//! make decoding quadratic). Two maps are equal when they hold the same entries in any order, as Java's are.

pub use super::Map;
use super::{Text, Value};

/// Maps up to this size are checked for repeated keys by comparing every pair; larger ones
/// through a hash set.
const PAIRWISE_DEDUP_LIMIT: usize = 32;

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Map { entries: Vec::new() }
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Map { entries: Vec::with_capacity(capacity) }
    }

    /// Builds a map from entries that may repeat keys: the first position of a key is kept,
    /// with the last value given for it (Java's `HashMap.put` semantics).
    pub fn from_entries(mut entries: Vec<(Text, Value)>) -> Self {
        if entries.len() <= PAIRWISE_DEDUP_LIMIT {
            // Compare a cheap signature of every pair; only equal signatures compare the text.
            let mut signatures = [0u64; PAIRWISE_DEDUP_LIMIT];
            for (signature, (key, _)) in signatures.iter_mut().zip(&entries) {
                *signature = key_signature(key.as_bytes());
            }
            let signatures = &signatures[..entries.len()];
            let has_duplicates = (1..entries.len()).any(|i| {
                let mine = signatures[i];
                signatures[..i]
                    .iter()
                    .enumerate()
                    .any(|(j, &other)| other == mine && entries[j].0 == entries[i].0)
            });
            if !has_duplicates {
                return Map { entries };
            }
        } else {
            let mut seen = std::collections::HashSet::with_capacity(entries.len());
            if entries.iter().all(|(k, _)| seen.insert(k.as_str())) {
                return Map { entries };
            }
        }
        let mut map = Map::with_capacity(entries.len());
        for (key, value) in entries.drain(..) {
            map.insert(key, value);
        }
        map
    }

    /// Inserts or replaces; returns the previous value of `key`.
    pub fn insert(&mut self, key: impl Into<Text>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Removes `key`, keeping the order of the others; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Text, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries in order, values mutable.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&Text, &mut Value)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &Text> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }
}

/// The length and the first seven bytes of a key, packed: equal keys have equal signatures.
/// Gathered with whole-word loads: a byte-by-byte copy read back as a word stalls.
pub(crate) fn key_signature(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let word =
        |at: usize| u64::from(u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]));
    let head = match n {
        8.. => u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], 0]),
        // Two overlapping words: the bytes they share are the same.
        4..=7 => word(0) | (word(n - 4) << (8 * (n - 4))),
        _ => bytes.iter().rev().fold(0, |acc, &b| (acc << 8) | u64::from(b)),
    };
    head | ((n as u64 & 0xFF) << 56)
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Map {
    /// Same entries, in any order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;

    /// The value of `key`; panics when it is missing, like `HashMap`'s index.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or_else(|| panic!("no key {key:?} in the map"))
    }
}

impl<K: Into<Text>> FromIterator<(K, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<Text>> Extend<(K, Value)> for Map {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Map {
    type Item = (Text, Value);
    type IntoIter = std::vec::IntoIter<(Text, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Text, &'a Value);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (Text, Value)>, fn(&'a (Text, Value)) -> Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_in_place() {
        let mut m = Map::new();
        m.insert("b", Value::I32(1));
        m.insert("a", Value::I32(2));
        assert_eq!(m.insert("b", Value::I32(3)), Some(Value::I32(1)));
        let keys: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(m["b"], Value::I32(3));
        assert_eq!(m.remove("b"), Some(Value::I32(3)));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn from_entries_keeps_first_position_and_last_value() {
        for n in [4, 40] {
            let mut entries: Vec<(Text, Value)> =
                (0..n).map(|i| (format!("k{i}").into(), Value::I32(i))).collect();
            entries.push(("k1".into(), Value::I32(-1)));
            let m = Map::from_entries(entries);
            assert_eq!(m.len(), n as usize);
            assert_eq!(m.keys().nth(1).unwrap(), "k1");
            assert_eq!(m["k1"], Value::I32(-1));
        }
    }

    #[test]
    fn keys_alike_in_signature_are_still_distinct() {
        let entries: Vec<(Text, Value)> = ["rx_bytes_delta", "rx_bytes_deltb", "rx_bytes_delta"]
            .iter()
            .enumerate()
            .map(|(i, k)| (Text::from(*k), Value::I32(i as i32)))
            .collect();
        let m = Map::from_entries(entries);
        assert_eq!(m.len(), 2);
        assert_eq!(m["rx_bytes_delta"], Value::I32(2));
        assert_eq!(m["rx_bytes_deltb"], Value::I32(1));
    }

    #[test]
    fn signatures_pack_length_and_first_seven_bytes() {
        let text = b"abcdefghijklmnopqrstu";
        for n in 0..=text.len() {
            let mut expected = [0u8; 8];
            expected[..n.min(7)].copy_from_slice(&text[..n.min(7)]);
            expected[7] = n as u8;
            assert_eq!(key_signature(&text[..n]), u64::from_le_bytes(expected), "length {n}");
        }
        assert_ne!(key_signature(b"ab\0"), key_signature(b"ab"));
    }

    #[test]
    fn equality_ignores_order() {
        let a: Map = [("x", Value::I32(1)), ("y", Value::Null)].into_iter().collect();
        let b: Map = [("y", Value::Null), ("x", Value::I32(1))].into_iter().collect();
        assert_eq!(a, b);
        let c: Map = [("y", Value::Null), ("x", Value::I64(1))].into_iter().collect();
        assert_ne!(a, c);
    }
}
