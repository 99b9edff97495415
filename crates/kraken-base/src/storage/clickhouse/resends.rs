//! Telling a resent record from a new one, for ClickHouse (which has no transactions to keep
//! a "last stored" row in step with the records).
//!
//! A numbered record (epoch and `seq`) is a resend when a record with the same sentry, logger,
//! epoch, number, date, message and params is already stored, or comes earlier in the same
//! append: it is skipped. To avoid reading stored records for every append, the storage keeps
//! what it stored last per sentry and logger ([`LastStored`]): a record numbered above that,
//! in the same epoch, is new without a look. Anything else (no entry yet, another epoch, a
//! number at or below it) is looked up, all of an append's in one query over the primary key
//! ([`lookups`]). The entries of a sentry are forgotten when it connects (it may have sent to
//! another base node since). A record numbered at or below the last one stored, and not a
//! resend, is a new record of a sentry whose state went back: stored, and the first of a run
//! is reported ([`Rollback`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use sha2::{Digest, Sha256};
use std::sync::Mutex;

use super::super::model::StoredRecord;

/// The most loggers remembered; beyond, the memory starts again empty (each logger then costs
/// one lookup).
const MAX_ENTRIES: usize = 200_000;

/// (guid, logger).
type Key = (String, String);

/// The last record stored of one sentry's logger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Last {
    pub epoch: String,
    pub seq: i64,
    /// Whether it continued a run of records numbered as old ones.
    pub rolling_back: bool,
}

/// What this node stored last, per sentry and logger.
#[derive(Default)]
pub struct LastStored(Mutex<Known>);

#[derive(Default)]
struct Known {
    last: HashMap<Key, Last>,
    /// Sentries forgotten since the append under way started: what it learns of them is stale.
    forgotten: HashSet<String>,
}

impl LastStored {
    /// Forgets `guid`'s entries.
    pub fn forget_sentry(&self, guid: &str) {
        let mut known = self.lock();
        known.last.retain(|(of, _), _| of != guid);
        known.forgotten.insert(guid.to_owned());
    }

    /// The entries of the loggers of `records`, for one append (one at a time: the record
    /// writer's).
    pub fn start_append(&self, records: &[StoredRecord]) -> HashMap<Key, Last> {
        let mut known = self.lock();
        known.forgotten.clear();
        let mut taken = HashMap::new();
        for record in records {
            let key = (record.guid.clone(), record.logger.clone());
            if let Some(last) = known.last.get(&key) {
                taken.insert(key, last.clone());
            }
        }
        taken
    }

    /// Forgets the loggers of `records`: an insert of them failed, and may still have been
    /// stored (its answer lost), so the next try looks them up.
    pub fn forget_loggers(&self, records: &[StoredRecord]) {
        let mut known = self.lock();
        for record in records {
            known.last.remove(&(record.guid.clone(), record.logger.clone()));
        }
    }

    /// Keeps what an append stored, but of sentries forgotten meanwhile.
    pub fn finish_append(&self, stored: HashMap<Key, Last>) {
        let mut known = self.lock();
        let known = &mut *known;
        if known.last.len() + stored.len() > MAX_ENTRIES {
            // Logger names come from sentries: this bounds what they can make the base hold.
            known.last.clear();
        }
        for (key, last) in stored {
            if !known.forgotten.contains(&key.0) {
                known.last.insert(key, last);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Stored records to read: one sentry's logger in one epoch, with these numbers and these
/// dates (exact values; the query reads their ranges and keeps only these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub guid: String,
    pub logger: String,
    pub epoch: String,
    pub seqs: BTreeSet<i64>,
    pub dates_ms: BTreeSet<i64>,
}

/// The ranges of `records` that `last` cannot vouch for being new.
pub fn lookups(records: &[StoredRecord], last: &HashMap<Key, Last>) -> Vec<Lookup> {
    let mut ranges: HashMap<(&str, &str, &str), Lookup> = HashMap::new();
    for record in records {
        let (Some(epoch), Some(seq)) = (&record.epoch, record.seq) else { continue };
        let key = (record.guid.clone(), record.logger.clone());
        if last.get(&key).is_some_and(|last| last.epoch == *epoch && seq > last.seq) {
            continue;
        }
        let lookup = ranges.entry((&record.guid, &record.logger, epoch)).or_insert_with(|| Lookup {
            guid: record.guid.clone(),
            logger: record.logger.clone(),
            epoch: epoch.clone(),
            seqs: BTreeSet::new(),
            dates_ms: BTreeSet::new(),
        });
        lookup.seqs.insert(seq);
        lookup.dates_ms.insert(record.date_ms);
    }
    let mut list: Vec<Lookup> = ranges.into_values().collect();
    list.sort_by(|a, b| (&a.guid, &a.logger, &a.epoch).cmp(&(&b.guid, &b.logger, &b.epoch)));
    list
}

/// A stored record as a resend is compared with it: its date and the hash of its content
/// ([`dedup_key`]).
pub type Content = (i64, u64);

/// Stored contents by (guid, logger, epoch, seq): what the lookups found.
pub type Found = HashMap<(String, String, String, i64), Vec<Content>>;

/// A run of records numbered as old ones starting: reported once per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub guid: String,
    pub logger: String,
    pub epoch: String,
    pub last_seq: i64,
    pub seq: i64,
}

/// Which records of an append to store.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Indexes into the append's records, in order.
    pub keep: Vec<usize>,
    pub rollbacks: Vec<Rollback>,
}

/// Decides, in order, which of `records` are new, given what the lookups `found`; `last` is
/// updated as if the kept ones were stored (the caller keeps it only if they are).
pub fn decide(records: &[StoredRecord], last: &mut HashMap<Key, Last>, mut found: Found) -> Decision {
    let mut decision = Decision::default();
    for (index, record) in records.iter().enumerate() {
        let (Some(epoch), Some(seq)) = (&record.epoch, record.seq) else {
            decision.keep.push(index);
            continue;
        };
        let content: Content = (record.date_ms, dedup_key(record, index));
        let number = (record.guid.clone(), record.logger.clone(), epoch.clone(), seq);
        let copies = found.entry(number).or_default();
        if copies.contains(&content) {
            continue; // a resend
        }
        copies.push(content);
        let key = (record.guid.clone(), record.logger.clone());
        let before = last.get(&key);
        // The lookups match a number only with the dates of the append, so a number stored
        // under another date is not seen: a new record at or below the mark counts as a
        // rollback. (A batch that failed to store while later ones were stored, resent, is
        // reported as one too; SQLite, which looks numbers up alone, tells the two apart.)
        let rolled_back = before.is_some_and(|last| last.epoch == *epoch && seq <= last.seq);
        if let Some(before) = before.filter(|before| rolled_back && !before.rolling_back) {
            tracing::warn!(
                guid = %record.guid,
                logger = %record.logger,
                seq,
                last_stored = before.seq,
                "a sentry numbered a new record as an old one (its state went back): stored"
            );
            decision.rollbacks.push(Rollback {
                guid: record.guid.clone(),
                logger: record.logger.clone(),
                epoch: epoch.clone(),
                last_seq: before.seq,
                seq,
            });
        }
        // The mark is the highest number stored: every record at or below it is looked up,
        // also after one that filled a gap.
        let highest = before.filter(|last| last.epoch == *epoch).map_or(seq, |last| last.seq.max(seq));
        last.insert(key, Last { epoch: epoch.clone(), seq: highest, rolling_back: rolled_back });
        decision.keep.push(index);
    }
    decision
}

/// The part of a record's sort key that tells copies apart. For a numbered record, a hash of
/// what a resend repeats (its logtype, message and params): two stores of the same resend
/// make rows that reads see as one, and a resend is recognised by it. For an unnumbered one
/// (an original sentry's), a hash of all of it and of its `position` in the append: the same
/// append tried again (its first answer lost) makes the same rows, while two records that
/// only look alike in one append stay two.
pub fn dedup_key(record: &StoredRecord, position: usize) -> u64 {
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    part(record.logtype.as_deref().unwrap_or_default().as_bytes());
    part(&[u8::from(record.msg.is_some())]);
    part(record.msg.as_deref().unwrap_or_default().as_bytes());
    part(record.params.as_bytes());
    if record.epoch.is_none() || record.seq.is_none() {
        part(b"unnumbered");
        part(&(position as u64).to_le_bytes());
        part(record.guid.as_bytes());
        part(record.logger.as_bytes());
        part(&record.date_ms.to_le_bytes());
    }
    let digest = hash.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, params: &str) -> StoredRecord {
        StoredRecord { epoch: Some("e1".into()), params: params.into(), ..StoredRecord::numbered(seq) }
    }

    fn last(seq: i64) -> HashMap<Key, Last> {
        HashMap::from([(("s1".into(), "cpu".into()), Last { epoch: "e1".into(), seq, rolling_back: false })])
    }

    #[test]
    fn records_numbered_above_the_last_stored_need_no_lookup() {
        let records: Vec<_> = (11..=20).map(|n| record(n, "{}")).collect();
        assert!(lookups(&records, &last(10)).is_empty());
        let decision = decide(&records, &mut last(10), Found::new());
        assert_eq!(decision.keep, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn an_unknown_logger_is_looked_up_over_the_appends_ranges() {
        let records = vec![record(5, "{}"), record(3, "{}"), record(9, "{}")];
        let found = lookups(&records, &HashMap::new());
        assert_eq!(
            found,
            vec![Lookup {
                guid: "s1".into(),
                logger: "cpu".into(),
                epoch: "e1".into(),
                seqs: BTreeSet::from([3, 5, 9]),
                dates_ms: BTreeSet::from([3, 5, 9]),
            }]
        );
        // Another epoch than the one stored last is looked up too.
        let mut other = last(100);
        other.values_mut().for_each(|last| last.epoch = "e0".into());
        assert_eq!(lookups(&records, &other).len(), 1);
    }

    #[test]
    fn identical_stored_copies_are_resends_and_differing_ones_a_rollback() {
        let records = vec![record(4, "{}"), record(5, "{\"changed\":1}"), record(6, "{}"), record(6, "{}")];
        let mut found = Found::new();
        for n in [4, 5] {
            let stored = record(n, "{}");
            found.insert(("s1".into(), "cpu".into(), "e1".into(), n), vec![(n, dedup_key(&stored, 0))]);
        }
        let mut known = last(5);
        let decision = decide(&records, &mut known, found);
        // 4 is stored as it is; 5 differs (a new record under an old number); 6 is new, and
        // its second copy in the same append a resend.
        assert_eq!(decision.keep, vec![1, 2]);
        assert_eq!(decision.rollbacks.len(), 1, "one report per run: {:?}", decision.rollbacks);
        assert_eq!((decision.rollbacks[0].last_seq, decision.rollbacks[0].seq), (5, 5));
        assert_eq!(known[&("s1".to_string(), "cpu".to_string())].seq, 6);
    }

    #[test]
    fn a_batch_that_failed_while_later_ones_were_stored_fills_its_gap_and_nothing_is_stored_twice() {
        // 11..=30 stored, 1..=10 failed; all three batches sent again.
        let records: Vec<_> = (1..=30).map(|n| record(n, "{}")).collect();
        let mut found = Found::new();
        for n in 11..=30 {
            let stored = record(n, "{}");
            found.insert(("s1".into(), "cpu".into(), "e1".into(), n), vec![(n, dedup_key(&stored, 0))]);
        }
        let mut known = last(30);
        assert_eq!(lookups(&records, &known)[0].seqs.len(), 30, "all at or below the mark");
        let decision = decide(&records, &mut known, found);
        assert_eq!(decision.keep, (0..10).collect::<Vec<_>>(), "the gap, and nothing twice");
        assert_eq!(decision.rollbacks.len(), 1, "reported as a rollback: not told apart here");
        assert_eq!(known[&("s1".to_string(), "cpu".to_string())].seq, 30, "the mark stays the highest");
    }

    #[test]
    fn only_numbered_records_with_the_same_content_share_a_dedup_key() {
        let numbered = record(1, "{\"a\":1}");
        assert_eq!(dedup_key(&numbered, 0), dedup_key(&numbered, 7));
        assert_ne!(dedup_key(&numbered, 0), dedup_key(&record(1, "{}"), 0));
        let unnumbered = StoredRecord { epoch: None, ..numbered };
        assert_eq!(dedup_key(&unnumbered, 3), dedup_key(&unnumbered, 3), "the same append tried again");
        assert_ne!(dedup_key(&unnumbered, 0), dedup_key(&unnumbered, 1), "two records of one append");
    }

    #[test]
    fn a_failed_insert_makes_its_loggers_looked_up_again() {
        let memory = LastStored::default();
        let records: Vec<_> = (1..=3).map(|n| record(n, "{}")).collect();
        memory.finish_append(last(3));
        assert!(lookups(&[record(4, "{}")], &memory.start_append(&records)).is_empty());
        // The insert of 4 fails, its answer lost: it may be stored, so 4 is looked up again.
        memory.forget_loggers(&[record(4, "{}")]);
        assert_eq!(lookups(&[record(4, "{}")], &memory.start_append(&records)).len(), 1);
        // A sentry that connected again is looked up too, and what an append under way
        // learnt of it is not kept.
        memory.finish_append(last(4));
        let taken = memory.start_append(&records);
        memory.forget_sentry("s1");
        memory.finish_append(taken);
        assert_eq!(lookups(&[record(5, "{}")], &memory.start_append(&records)).len(), 1);
    }

    #[test]
    fn unnumbered_records_are_always_kept() {
        let records = vec![
            StoredRecord { seq: None, ..record(1, "{}") },
            StoredRecord { epoch: None, ..record(1, "{}") },
        ];
        assert!(lookups(&records, &HashMap::new()).is_empty());
        assert_eq!(decide(&records, &mut HashMap::new(), Found::new()).keep, vec![0, 1]);
    }
}
