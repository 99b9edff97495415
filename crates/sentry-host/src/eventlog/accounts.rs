//! Account names for the SIDs of live events (`LookupAccountSidW`), looked up on a worker
//! thread so that a read never waits for them longer than [`ACCOUNT_LOOKUP_BUDGET`] in all.
//!
//! `LookupAccountSidW` can wait seconds for a domain account when a domain controller does not
//! answer. The worker looks one SID up at a time; a read waits for it only while its budget
//! lasts. Past it, the read's events whose SIDs are not known yet keep them without names
//! (`user` null, `user_sid` kept), the lookup in hand goes on in the background, and what it
//! finds serves the later reads. Names found are remembered; SIDs without an account are asked
//! again after [`ACCOUNT_RETRY`]. One worker per source, and at most one SID waiting for it: a
//! lookup that never returns costs one thread, never a queue.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use super::cache::BoundedCache;

/// The (domain, account) of a SID given as text, or none found; callable from any thread.
pub type LookupFn = Arc<dyn Fn(&str) -> Option<(String, String)> + Send + Sync>;

/// The most one read waits for account lookups in all.
pub const ACCOUNT_LOOKUP_BUDGET: Duration = Duration::from_secs(2);

/// How long a SID without an account (or whose lookup failed) is not asked again.
pub const ACCOUNT_RETRY: Duration = Duration::from_secs(600);

/// A SID's answer and when it came (by the log's clock).
type Answer = (Option<(String, String)>, SystemTime);

/// The names of one source's SIDs.
pub struct AccountNames {
    lookup: LookupFn,
    /// The channel, for the agent's log.
    channel: String,
    names: BoundedCache<Answer>,
    worker: Option<Worker>,
    /// The SID the worker is looking up.
    in_flight: Option<String>,
    /// Time this read has waited for lookups, and the most it may.
    waited: Duration,
    budget: Duration,
    /// Whether the reads that spent their budget, in a row, were logged.
    warned: bool,
}

/// The lookup thread: SIDs in, answers out.
struct Worker {
    requests: Sender<String>,
    answers: Receiver<(String, Option<(String, String)>)>,
}

impl Worker {
    fn spawn(lookup: LookupFn) -> Option<Worker> {
        let (requests, inbox) = mpsc::channel::<String>();
        let (outbox, answers) = mpsc::channel();
        let spawned = std::thread::Builder::new().name("eventlog-accounts".into()).spawn(move || {
            for sid in inbox {
                let found = lookup(&sid);
                if outbox.send((sid, found)).is_err() {
                    break;
                }
            }
        });
        match spawned {
            Ok(_) => Some(Worker { requests, answers }),
            Err(error) => {
                tracing::warn!(%error, "cannot start the account lookup thread: SIDs stay without names");
                None
            }
        }
    }
}

impl AccountNames {
    pub fn new(lookup: LookupFn, channel: &str) -> Self {
        AccountNames {
            lookup,
            channel: channel.to_owned(),
            names: BoundedCache::default(),
            worker: None,
            in_flight: None,
            waited: Duration::ZERO,
            budget: ACCOUNT_LOOKUP_BUDGET,
            warned: false,
        }
    }

    /// Sets the budget of each read ([`ACCOUNT_LOOKUP_BUDGET`]; shorter in tests).
    pub fn set_budget(&mut self, budget: Duration) {
        self.budget = budget;
    }

    /// Starts a read: a budget of its own.
    pub fn begin_read(&mut self) {
        if self.waited < self.budget {
            self.warned = false;
        }
        self.waited = Duration::ZERO;
    }

    /// The (domain, account) of `sid`, if known or found within the read's budget; `now` by the
    /// log's clock.
    pub fn name(&mut self, sid: &str, now: SystemTime) -> Option<(String, String)> {
        self.collect(Duration::ZERO, now);
        if let Some(known) = self.known(sid, now) {
            return known;
        }
        // The worker takes one SID at a time: the one in hand first.
        if self.in_flight.as_deref().is_some_and(|busy| busy != sid) {
            self.collect(self.remaining(), now);
            if let Some(known) = self.known(sid, now) {
                return known;
            }
        }
        if self.in_flight.is_none() {
            self.start(sid, now);
        }
        if self.in_flight.as_deref() == Some(sid) {
            self.collect(self.remaining(), now);
        }
        self.known(sid, now).flatten()
    }

    /// What is known of `sid`: `Some(None)` for no account, asked less than
    /// [`ACCOUNT_RETRY`] ago.
    fn known(&self, sid: &str, now: SystemTime) -> Option<Option<(String, String)>> {
        match self.names.get(sid) {
            Some((Some(found), _)) => Some(Some(found.clone())),
            Some((None, at)) if now.duration_since(*at).is_ok_and(|age| age < ACCOUNT_RETRY) => Some(None),
            _ => None,
        }
    }

    fn remaining(&self) -> Duration {
        self.budget.saturating_sub(self.waited)
    }

    /// Hands `sid` to the worker (started on first use).
    fn start(&mut self, sid: &str, now: SystemTime) {
        if self.worker.is_none() {
            self.worker = Worker::spawn(self.lookup.clone());
        }
        match &self.worker {
            Some(worker) if worker.requests.send(sid.to_owned()).is_ok() => {
                self.in_flight = Some(sid.to_owned());
            }
            // No thread: no name, asked again later.
            _ => {
                self.worker = None;
                self.names.insert(sid, (None, now));
            }
        }
    }

    /// Waits up to `wait` for the lookup in hand and keeps its answer.
    fn collect(&mut self, wait: Duration, now: SystemTime) {
        let (Some(sid), Some(worker)) = (&self.in_flight, &self.worker) else { return };
        let started = Instant::now();
        let answer = worker.answers.recv_timeout(wait);
        self.waited += started.elapsed();
        match answer {
            Ok((answered, found)) => {
                self.names.insert(&answered, (found, now));
                self.in_flight = None;
            }
            Err(RecvTimeoutError::Timeout) => {
                if !wait.is_zero() && self.remaining().is_zero() && !self.warned {
                    self.warned = true;
                    tracing::warn!(
                        channel = %self.channel,
                        %sid,
                        "looking up account {sid} has taken over {:?}: events of {} whose SIDs are \
                         not known yet keep them without names until lookups answer again",
                        self.budget,
                        self.channel
                    );
                }
            }
            // The thread ended (a panic in the lookup): no name, asked again later.
            Err(RecvTimeoutError::Disconnected) => {
                let sid = sid.clone();
                self.names.insert(&sid, (None, now));
                self.in_flight = None;
                self.worker = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const SYSTEM: &str = "S-1-5-18";

    /// A lookup that knows SYSTEM only, takes `delay` per SID, and counts its calls.
    fn slow_lookup(delay: Duration) -> (LookupFn, Arc<Mutex<Vec<String>>>) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let calls = asked.clone();
        let lookup: LookupFn = Arc::new(move |sid: &str| {
            calls.lock().unwrap().push(sid.to_owned());
            std::thread::sleep(delay);
            (sid == SYSTEM).then(|| ("NT AUTHORITY".to_owned(), "SYSTEM".to_owned()))
        });
        (lookup, asked)
    }

    fn system() -> Option<(String, String)> {
        Some(("NT AUTHORITY".into(), "SYSTEM".into()))
    }

    #[test]
    fn a_name_is_looked_up_once_and_a_sid_without_account_again_after_the_retry_time() {
        let (lookup, asked) = slow_lookup(Duration::ZERO);
        let mut names = AccountNames::new(lookup, "Security");
        let now = SystemTime::now();
        names.begin_read();
        assert_eq!(names.name(SYSTEM, now), system());
        assert_eq!(names.name(SYSTEM, now), system());
        assert_eq!(names.name("S-1-5-21-1-2-3-500", now), None);
        assert_eq!(names.name("S-1-5-21-1-2-3-500", now + ACCOUNT_RETRY / 2), None);
        assert_eq!(asked.lock().unwrap().len(), 2, "each SID asked once");
        assert_eq!(names.name("S-1-5-21-1-2-3-500", now + ACCOUNT_RETRY), None);
        assert_eq!(asked.lock().unwrap().len(), 3, "a SID without account asked again");
    }

    #[test]
    fn a_lookup_that_outlasts_the_budget_holds_the_read_up_no_longer_and_serves_a_later_read() {
        let (lookup, asked) = slow_lookup(Duration::from_millis(1500));
        let mut names = AccountNames::new(lookup, "Security");
        names.set_budget(Duration::from_millis(100));
        let now = SystemTime::now();
        names.begin_read();
        let started = Instant::now();
        for sid in [SYSTEM, "S-1-5-21-1-2-3-1000", "S-1-5-21-1-2-3-1001", SYSTEM] {
            assert_eq!(names.name(sid, now), None, "{sid} not known within the budget");
        }
        // The budget, not the 1.5 s lookup, bounds the wait (with room for a slow machine).
        let waited = started.elapsed();
        assert!(waited < Duration::from_millis(1000), "the read waited {waited:?}");
        assert_eq!(asked.lock().unwrap().as_slice(), [SYSTEM], "one SID in hand, none queued");
        std::thread::sleep(Duration::from_millis(1600));
        // A budget that a machine slowed by other tests cannot spend before the answer comes.
        names.set_budget(Duration::from_secs(10));
        names.begin_read();
        assert_eq!(names.name(SYSTEM, now), system(), "found in the background, kept");
        assert_eq!(asked.lock().unwrap().len(), 1, "and not asked again");
    }

    #[test]
    fn the_budget_is_the_whole_read_s_and_the_next_read_has_its_own() {
        let (lookup, asked) = slow_lookup(Duration::from_millis(40));
        let mut names = AccountNames::new(lookup, "Security");
        names.set_budget(Duration::from_millis(100));
        let now = SystemTime::now();
        names.begin_read();
        let sids: Vec<String> = (0..10).map(|n| format!("S-1-5-21-1-2-3-{n}")).collect();
        for sid in &sids {
            assert_eq!(names.name(sid, now), None);
        }
        let first_read = asked.lock().unwrap().len();
        // 100 ms of waits at 40 ms each: two or three answered, one more handed over at most
        // as the budget ran out (a slow machine answers fewer).
        assert!((1..=4).contains(&first_read), "{first_read} SIDs asked in the first read");
        std::thread::sleep(Duration::from_millis(100));
        names.begin_read();
        for sid in &sids {
            names.name(sid, now);
        }
        let second_read = asked.lock().unwrap().len();
        assert!(second_read > first_read, "the next read asks more: {first_read} then {second_read}");
    }

    #[test]
    fn a_lookup_that_panics_leaves_the_sid_without_a_name_and_lookups_go_on() {
        let lookup: LookupFn = Arc::new(|sid: &str| {
            assert_ne!(sid, "S-1-5-21-9", "a lookup that panics");
            (sid == SYSTEM).then(|| ("NT AUTHORITY".to_owned(), "SYSTEM".to_owned()))
        });
        let mut names = AccountNames::new(lookup, "Security");
        let now = SystemTime::now();
        names.begin_read();
        assert_eq!(names.name("S-1-5-21-9", now), None);
        assert_eq!(names.name(SYSTEM, now), system(), "a new worker answers");
    }
}
