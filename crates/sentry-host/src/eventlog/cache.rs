//! A small map with a bound on its entries, for the live source's lookup caches (providers
//! without metadata, messages missing, account names): past the bound it starts again empty,
//! which costs lookups and never memory.

use std::collections::HashMap;

/// Entries kept in each lookup cache.
pub const CACHE_ENTRIES: usize = 512;

/// Values by text key, at most [`CACHE_ENTRIES`] of them.
pub struct BoundedCache<V> {
    entries: HashMap<String, V>,
}

impl<V> Default for BoundedCache<V> {
    fn default() -> Self {
        BoundedCache { entries: HashMap::new() }
    }
}

impl<V> BoundedCache<V> {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: &str, value: V) {
        if self.entries.len() >= CACHE_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(key.to_owned(), value);
    }
}
