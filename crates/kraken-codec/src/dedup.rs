//! Map entries whose keys may repeat, made unique as Java's `HashMap.put` does: each key keeps
//! the position of its first occurrence and the last value given for it. Shared by every map
//! type of the codec ([`crate::Map`], [`crate::BorrowedMap`]) and by every way one is built
//! (decoding, JSON, serde, `collect`), and linear in the number of entries whatever keys repeat:
//! a hostile message of a million entries with one key repeated costs what any other message of
//! that size costs.
//!
//! Small maps (the whole of real traffic) are checked by comparing a cheap signature of every
//! pair, without allocating; larger ones through a hash map with the standard library's keyed
//! hashing, which a peer cannot aim collisions at.

use std::collections::HashMap;

/// Entry lists up to this long are checked pairwise; longer ones through a hash map.
const PAIRWISE_LIMIT: usize = 64;

/// `entries` with each repeated key reduced to one entry, at the key's first position, holding
/// the last value given for it.
pub(crate) fn last_value_wins<K: AsRef<str>, V>(entries: Vec<(K, V)>) -> Vec<(K, V)> {
    let slots =
        if entries.len() <= PAIRWISE_LIMIT { pairwise_slots(&entries) } else { hashed_slots(&entries) };
    let Some((slots, distinct)) = slots else { return entries };
    let mut unique: Vec<(K, V)> = Vec::with_capacity(distinct);
    for ((key, value), slot) in entries.into_iter().zip(slots) {
        match unique.get_mut(slot) {
            Some(kept) => kept.1 = value,
            None => unique.push((key, value)),
        }
    }
    unique
}

/// True when two entry lists hold the same entries in any order (both with distinct keys).
pub(crate) fn same_entries<K: AsRef<str>, V: PartialEq>(ours: &[(K, V)], theirs: &[(K, V)]) -> bool {
    if ours.len() != theirs.len() {
        return false;
    }
    if ours.len() <= PAIRWISE_LIMIT {
        let find = |key: &str| theirs.iter().find(|(k, _)| k.as_ref() == key).map(|(_, v)| v);
        return ours.iter().all(|(k, v)| find(k.as_ref()) == Some(v));
    }
    let theirs: HashMap<&str, &V> = theirs.iter().map(|(k, v)| (k.as_ref(), v)).collect();
    ours.iter().all(|(k, v)| theirs.get(k.as_ref()) == Some(&v))
}

/// For each entry, the slot (position among distinct keys) of its key's first occurrence, and
/// the number of distinct keys; `None` when no key repeats. For at most [`PAIRWISE_LIMIT`]
/// entries.
fn pairwise_slots<K: AsRef<str>, V>(entries: &[(K, V)]) -> Option<(Vec<usize>, usize)> {
    let mut signatures = [0u64; PAIRWISE_LIMIT];
    for (signature, (key, _)) in signatures.iter_mut().zip(entries) {
        *signature = key_signature(key.as_ref().as_bytes());
    }
    let signatures = &signatures[..entries.len()];
    // The first earlier entry with the same key as entry `i`.
    let earlier = |i: usize| {
        let mine = signatures[i];
        signatures[..i]
            .iter()
            .enumerate()
            .position(|(j, &other)| other == mine && entries[j].0.as_ref() == entries[i].0.as_ref())
    };
    // Most maps repeat no key: a scan of the signatures alone (no text compared, no branch per
    // pair) tells so.
    let signature_repeats = (1..signatures.len()).any(|i| signatures[..i].contains(&signatures[i]));
    if !signature_repeats {
        return None;
    }
    let first_repeat = (1..entries.len()).find(|&i| earlier(i).is_some())?;
    let mut slots: Vec<usize> = (0..first_repeat).collect();
    let mut distinct = first_repeat;
    for i in first_repeat..entries.len() {
        match earlier(i) {
            Some(j) => slots.push(slots[j]),
            None => {
                slots.push(distinct);
                distinct += 1;
            }
        }
    }
    Some((slots, distinct))
}

/// [`pairwise_slots`] for any number of entries, through a hash map: linear.
fn hashed_slots<K: AsRef<str>, V>(entries: &[(K, V)]) -> Option<(Vec<usize>, usize)> {
    let mut first_slot: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    let slots: Vec<usize> = entries
        .iter()
        .map(|(key, _)| {
            let next = first_slot.len();
            *first_slot.entry(key.as_ref()).or_insert(next)
        })
        .collect();
    let distinct = first_slot.len();
    (distinct < entries.len()).then_some((slots, distinct))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_and_values(entries: &[(&'static str, i32)]) -> Vec<(&'static str, i32)> {
        last_value_wins(entries.to_vec())
    }

    #[test]
    fn first_position_and_last_value_small_and_large() {
        assert_eq!(
            keys_and_values(&[("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)]),
            [("b", 3), ("a", 5), ("c", 4)]
        );
        assert_eq!(keys_and_values(&[("x", 1), ("y", 2)]), [("x", 1), ("y", 2)]);
        for n in [4usize, 31, 32, 33, 40, 1000] {
            // Keys k0..k(n/2), each given twice: first in order, then again in reverse.
            let half = n / 2;
            let names: Vec<&'static str> = (0..half).map(|i| &*format!("k{i}").leak()).collect();
            let entries: Vec<(&str, usize)> = names
                .iter()
                .enumerate()
                .map(|(i, k)| (*k, i))
                .chain(names.iter().enumerate().rev().map(|(i, k)| (*k, 1000 + i)))
                .collect();
            let unique = last_value_wins(entries);
            let expected: Vec<(&str, usize)> =
                names.iter().enumerate().map(|(i, k)| (*k, 1000 + i)).collect();
            assert_eq!(unique, expected, "{n} entries");
        }
    }

    #[test]
    fn keys_alike_in_signature_are_still_distinct() {
        let unique =
            last_value_wins(vec![("rx_bytes_delta", 0), ("rx_bytes_deltb", 1), ("rx_bytes_delta", 2)]);
        assert_eq!(unique, [("rx_bytes_delta", 2), ("rx_bytes_deltb", 1)]);
    }

    #[test]
    fn same_entries_in_any_order() {
        for n in [3usize, 100] {
            let ours: Vec<(String, usize)> = (0..n).map(|i| (i.to_string(), i)).collect();
            let mut theirs = ours.clone();
            theirs.reverse();
            assert!(same_entries(&ours, &theirs));
            theirs[0].1 += 1;
            assert!(!same_entries(&ours, &theirs));
            assert!(!same_entries(&ours, &theirs[1..]));
        }
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
}
