//! [`Map`]: the string-keyed map of a Kraken MAP value, kept in insertion order.
//!
//! Kraken maps are small (a record's params, a process entry) and are built once, then encoded
//! or read a few times. A plain vector of entries serves that best: one allocation per map, no
//! hashing, and iteration in the order the entries were inserted (the wire order of a decoded
//! map). Lookups scan the entries, which for the few dozen keys of a real message is as fast as
//! hashing.
//!
//! Keys are unique, as in Java's `HashMap`: [`Map::insert`] of an existing key replaces its value
//! in place, and a map built from entries whose keys repeat ([`Map::from_entries`], `collect`,
//! `extend`, decoding) keeps each key at its first position with the last value given for it.
//! Building is linear in the number of entries whatever keys repeat (large maps find repeats
//! through a hash map), so a hostile message or JSON document with many keys cannot make it
//! quadratic; only [`Map::insert`] one by one scans. Two maps are equal when they hold the same
//! entries in any order, as Java's are.

pub use super::Map;
use super::{Text, Value};
use crate::dedup;

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
    /// with the last value given for it (Java's `HashMap.put` semantics). Linear in the number of
    /// entries, whatever keys repeat.
    pub fn from_entries(entries: Vec<(Text, Value)>) -> Self {
        Map { entries: dedup::last_value_wins(entries) }
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

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Map {
    /// Same entries, in any order.
    fn eq(&self, other: &Self) -> bool {
        dedup::same_entries(&self.entries, &other.entries)
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
    /// As [`Map::from_entries`]: a repeated key keeps its first position and its last value;
    /// linear in the number of entries.
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        Map::from_entries(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl<K: Into<Text>> Extend<(K, Value)> for Map {
    /// As [`Map::insert`] of each entry in turn, in time linear in the size of both.
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.extend(iter.into_iter().map(|(k, v)| (k.into(), v)));
        // The map's own keys are distinct, so keeping each key's first position and last value
        // over old and new entries together is what inserting the new ones one by one does.
        *self = Map::from_entries(entries);
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
    fn extend_and_collect_are_inserts_in_turn() {
        for (old, new) in [(3, 5), (30, 10), (100, 300)] {
            let mut by_insert = Map::new();
            for i in 0..old {
                by_insert.insert(format!("k{i}"), Value::I32(i));
            }
            let mut by_extend: Map = by_insert.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            // New entries that repeat old keys, new keys, and each other.
            let more: Vec<(String, Value)> =
                (0..new).map(|i| (format!("k{}", (i * 3) % (old + new / 2)), Value::I32(-i))).collect();
            for (k, v) in more.clone() {
                by_insert.insert(k, v);
            }
            by_extend.extend(more);
            let entries = |m: &Map| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
            assert_eq!(entries(&by_extend), entries(&by_insert), "{old} + {new}");
        }
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
