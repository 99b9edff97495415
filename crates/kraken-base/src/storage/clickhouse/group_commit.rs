//! Rows written together: each caller waits until its row is stored, but the rows of callers
//! that arrive while an insert is on its way go in the next insert, one for all of them.
//!
//! A sentry's connection, its disconnection and its events are a row each. When thousands of
//! sentries reconnect at once (their node went down), one insert per row would keep as many
//! blocking threads waiting, each with the ClickHouse client's 256 KiB insert buffer, and make
//! one ClickHouse part per row. Here the first caller writes; those who come meanwhile queue and
//! wait; when an insert ends, its callers get its outcome and the next waiting caller writes
//! what has queued since. A caller never writes rows beyond its own batch, so none waits on a
//! stream of others.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::super::model::StorageError;

/// Outcomes kept for callers that have not looked at theirs yet.
const KEPT_OUTCOMES: usize = 4096;

/// Rows of type `T` queued for the next insert; see the module documentation.
pub(super) struct GroupCommit<T> {
    state: Mutex<State<T>>,
    /// Wakes waiting callers: a batch ended.
    ended: Condvar,
}

struct State<T> {
    /// Rows for the batch numbered `next_batch`.
    queued: Vec<T>,
    next_batch: u64,
    /// A batch is being written.
    writing: bool,
    /// Outcomes of the batches numbered `first_kept..`, in order.
    outcomes: VecDeque<Result<(), StorageError>>,
    first_kept: u64,
}

impl<T> State<T> {
    /// The outcome of batch `batch` once it has ended.
    fn outcome(&self, batch: u64) -> Option<Result<(), StorageError>> {
        let ended = self.first_kept + self.outcomes.len() as u64;
        if batch >= ended {
            return None;
        }
        let forgotten = || Err(StorageError("the outcome of this write was not kept".into()));
        Some(batch.checked_sub(self.first_kept).map_or_else(forgotten, |i| self.outcomes[i as usize].clone()))
    }

    fn end(&mut self, outcome: Result<(), StorageError>) {
        self.writing = false;
        self.outcomes.push_back(outcome);
        if self.outcomes.len() > KEPT_OUTCOMES {
            self.outcomes.pop_front();
            self.first_kept += 1;
        }
    }
}

impl<T> GroupCommit<T> {
    pub(super) fn new() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                queued: Vec::new(),
                next_batch: 0,
                writing: false,
                outcomes: VecDeque::new(),
                first_kept: 0,
            }),
            ended: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores `row` with the rows queued beside it, through `write` (one call per batch);
    /// returns the outcome of the batch it went in.
    pub(super) fn submit(
        &self,
        row: T,
        write: impl FnOnce(Vec<T>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut state = self.lock();
        let mine = state.next_batch;
        state.queued.push(row);
        loop {
            if let Some(outcome) = state.outcome(mine) {
                return outcome;
            }
            if !state.writing {
                // Nobody writes and this batch has not ended, so it is the one queued: write it.
                let rows = std::mem::take(&mut state.queued);
                state.next_batch += 1;
                state.writing = true;
                drop(state);
                let writer = Writer { group: self, outcome: None };
                return writer.write(rows, write);
            }
            state = self.ended.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// The caller writing a batch; ends the batch even if `write` panics.
struct Writer<'a, T> {
    group: &'a GroupCommit<T>,
    outcome: Option<Result<(), StorageError>>,
}

impl<T> Writer<'_, T> {
    fn write(
        mut self,
        rows: Vec<T>,
        write: impl FnOnce(Vec<T>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let outcome = write(rows);
        self.outcome = Some(outcome.clone());
        outcome
    }
}

impl<T> Drop for Writer<'_, T> {
    fn drop(&mut self) {
        let outcome =
            self.outcome.take().unwrap_or_else(|| Err(StorageError("the write of this batch failed".into())));
        self.group.lock().end(outcome);
        self.group.ended.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn callers_arriving_during_a_write_share_the_next_one_and_get_its_outcome() {
        let group = Arc::new(GroupCommit::<u32>::new());
        let writes = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let callers: Vec<_> = (0..50u32)
            .map(|row| {
                let (group, writes) = (group.clone(), writes.clone());
                std::thread::spawn(move || {
                    group.submit(row, |rows| {
                        std::thread::sleep(Duration::from_millis(20));
                        let failed = rows.contains(&13);
                        writes.lock().unwrap().push(rows);
                        if failed { Err(StorageError("row 13 is refused".into())) } else { Ok(()) }
                    })
                })
            })
            .collect();
        let outcomes: Vec<_> = callers.into_iter().map(|caller| caller.join().unwrap()).collect();
        let writes = writes.lock().unwrap();
        let mut written: Vec<u32> = writes.iter().flatten().copied().collect();
        written.sort_unstable();
        assert_eq!(written, (0..50).collect::<Vec<_>>(), "every row written once");
        assert!(writes.len() < 50, "rows were grouped: {} writes", writes.len());
        let failed_batch = writes.iter().find(|rows| rows.contains(&13)).unwrap();
        for (row, outcome) in outcomes.iter().enumerate() {
            let in_failed = failed_batch.contains(&(row as u32));
            assert_eq!(outcome.is_err(), in_failed, "row {row}: the outcome of its own batch");
        }
    }

    #[test]
    fn a_writer_that_panics_fails_its_batch_and_the_next_caller_writes() {
        let group = Arc::new(GroupCommit::<u32>::new());
        let panicking = {
            let group = group.clone();
            std::thread::spawn(move || group.submit(1, |_| panic!("the insert panicked")))
        };
        assert!(panicking.join().is_err());
        let written = AtomicUsize::new(0);
        let outcome = group.submit(2, |rows| {
            written.fetch_add(rows.len(), Ordering::SeqCst);
            Ok(())
        });
        assert!(outcome.is_ok());
        assert_eq!(written.load(Ordering::SeqCst), 1, "only the new row: the failed batch is not retried");
    }
}
