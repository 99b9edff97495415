//! Account names for the SIDs of live events (`LookupAccountSidW`), looked up on worker threads
//! so that a read never waits for them longer than twice [`ACCOUNT_LOOKUP_BUDGET`] in all.
//!
//! `LookupAccountSidW` can wait seconds for a domain or machine account (`S-1-5-21-...`, or
//! an Azure AD one, `S-1-12-...`) when a domain controller does not answer. Those go to one
//! worker, every other SID (well-known and built-in accounts, resolved locally) to another, so
//! that a domain lookup that hangs does not leave SYSTEM without its name. Each worker looks
//! one SID up at a time, and a read waits for each worker only while its budget for that
//! worker lasts, and not for a lookup already older than the budget. Past it, the read's
//! events whose SIDs are not known yet keep them without names (`user` null, `user_sid` kept),
//! the lookup in hand goes on in the background, and what it finds serves the later reads. A
//! lookup still unanswered after [`ACCOUNT_GIVE_UP_AFTER`] (by the monotonic clock) is given
//! up: its thread is left to end when the call returns, and a new worker takes the next SID (at
//! most one thread left behind per worker and that time); its SID counts as one without an
//! account. Names found are remembered; SIDs without an account are asked again after
//! [`ACCOUNT_RETRY`] (by the log's clock, which tests move).

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use super::cache::BoundedCache;

/// The (domain, account) of a SID given as text, or none found; callable from any thread.
pub type LookupFn = Arc<dyn Fn(&str) -> Option<(String, String)> + Send + Sync>;

/// The most one read waits for each worker's lookups (domain SIDs; the others).
pub const ACCOUNT_LOOKUP_BUDGET: Duration = Duration::from_secs(2);

/// How long a SID without an account (or whose lookup failed or was given up) is not asked
/// again.
pub const ACCOUNT_RETRY: Duration = Duration::from_secs(600);

/// How long a lookup may stay unanswered before it is given up.
pub const ACCOUNT_GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// The least time between two warnings that one worker's lookups are slow.
const WARN_EVERY: Duration = Duration::from_secs(600);

/// Whether looking `sid` up may wait for a domain controller.
fn may_wait_on_a_domain(sid: &str) -> bool {
    sid.starts_with("S-1-5-21-") || sid.starts_with("S-1-12-")
}

/// A SID's answer and when it came (by the log's clock).
type Answer = (Option<(String, String)>, SystemTime);

/// The names of one source's SIDs.
pub struct AccountNames {
    lookup: LookupFn,
    /// The channel, for the agent's log.
    channel: String,
    names: BoundedCache<Answer>,
    /// Well-known and local SIDs; domain SIDs.
    local: Lane,
    domain: Lane,
    /// The most a read may wait for each lane.
    budget: Duration,
    /// [`ACCOUNT_GIVE_UP_AFTER`]; shorter in tests.
    give_up_after: Duration,
}

/// A worker, the SID it has in hand, the time this read has waited for it, and when its
/// lookups were last said to be slow.
#[derive(Default)]
struct Lane {
    worker: Option<Worker>,
    in_flight: Option<InFlight>,
    waited: Duration,
    warned_at: Option<Instant>,
}

/// A SID handed to a worker, and when.
struct InFlight {
    sid: String,
    since: Instant,
}

/// A lookup thread: SIDs in, answers out.
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
                tracing::warn!(%error, "cannot start an account lookup thread: SIDs stay without names");
                None
            }
        }
    }
}

/// What waiting on a lane gave.
enum Collected {
    /// Nothing in hand, or no answer yet.
    Nothing,
    /// An answer for this SID.
    Answer(String, Option<(String, String)>),
    /// The lookup of this SID is lost (its thread ended, or it was given up).
    Lost(String),
}

impl Lane {
    /// Hands `sid` to the worker (started on first use); false if no thread would take it.
    fn start(&mut self, sid: &str, lookup: &LookupFn) -> bool {
        if self.worker.is_none() {
            self.worker = Worker::spawn(lookup.clone());
        }
        match &self.worker {
            Some(worker) if worker.requests.send(sid.to_owned()).is_ok() => {
                self.in_flight = Some(InFlight { sid: sid.to_owned(), since: Instant::now() });
                true
            }
            _ => {
                self.worker = None;
                false
            }
        }
    }

    /// Waits up to `wait` for the lookup in hand, but not past `budget` after it was handed
    /// over; gives it up once `give_up_after` old.
    fn collect(&mut self, wait: Duration, budget: Duration, give_up_after: Duration) -> Collected {
        let (Some(in_flight), Some(worker)) = (&self.in_flight, &self.worker) else {
            return Collected::Nothing;
        };
        let wait = wait.min(budget.saturating_sub(in_flight.since.elapsed()));
        match worker.answers.recv_timeout(wait) {
            Ok((sid, found)) => {
                self.in_flight = None;
                Collected::Answer(sid, found)
            }
            Err(RecvTimeoutError::Timeout) => {
                if in_flight.since.elapsed() >= give_up_after {
                    let sid = in_flight.sid.clone();
                    tracing::warn!(
                        %sid,
                        "the lookup of account {sid} has not answered in {give_up_after:?}: given \
                         up, a new thread takes the next SIDs"
                    );
                    self.abandon();
                    Collected::Lost(sid)
                } else {
                    Collected::Nothing
                }
            }
            // The thread ended (a panic in the lookup).
            Err(RecvTimeoutError::Disconnected) => {
                let sid = in_flight.sid.clone();
                self.abandon();
                Collected::Lost(sid)
            }
        }
    }

    fn abandon(&mut self) {
        self.worker = None;
        self.in_flight = None;
    }

    fn in_hand(&self) -> Option<&str> {
        self.in_flight.as_ref().map(|in_flight| in_flight.sid.as_str())
    }
}

impl AccountNames {
    pub fn new(lookup: LookupFn, channel: &str) -> Self {
        AccountNames {
            lookup,
            channel: channel.to_owned(),
            names: BoundedCache::default(),
            local: Lane::default(),
            domain: Lane::default(),
            budget: ACCOUNT_LOOKUP_BUDGET,
            give_up_after: ACCOUNT_GIVE_UP_AFTER,
        }
    }

    /// Sets the budget of each read and lane ([`ACCOUNT_LOOKUP_BUDGET`]).
    pub fn set_budget(&mut self, budget: Duration) {
        self.budget = budget;
    }

    /// Sets how long a lookup may stay unanswered ([`ACCOUNT_GIVE_UP_AFTER`]; shorter in tests).
    pub fn set_give_up_after(&mut self, give_up_after: Duration) {
        self.give_up_after = give_up_after;
    }

    /// Starts a read: a budget of its own.
    pub fn begin_read(&mut self) {
        self.local.waited = Duration::ZERO;
        self.domain.waited = Duration::ZERO;
    }

    /// The (domain, account) of `sid`, if known or found within the read's budget; `now` by the
    /// log's clock.
    pub fn name(&mut self, sid: &str, now: SystemTime) -> Option<(String, String)> {
        let domain = may_wait_on_a_domain(sid);
        self.collect(domain, Duration::ZERO, now);
        if let Some(known) = self.known(sid, now) {
            return known;
        }
        // A worker takes one SID at a time: the one in hand first.
        if self.lane(domain).in_hand().is_some_and(|busy| busy != sid) {
            self.collect(domain, self.remaining(domain), now);
            if let Some(known) = self.known(sid, now) {
                return known;
            }
        }
        if self.lane(domain).in_hand().is_none() {
            let lane = if domain { &mut self.domain } else { &mut self.local };
            if !lane.start(sid, &self.lookup) {
                // No thread: no name, asked again later.
                self.names.insert(sid, (None, now));
                return None;
            }
        }
        if self.lane(domain).in_hand() == Some(sid) {
            self.collect(domain, self.remaining(domain), now);
        }
        match self.known(sid, now) {
            Some(known) => known,
            None => {
                self.warn_slow(domain);
                None
            }
        }
    }

    fn lane(&self, domain: bool) -> &Lane {
        if domain { &self.domain } else { &self.local }
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

    fn remaining(&self, domain: bool) -> Duration {
        self.budget.saturating_sub(self.lane(domain).waited)
    }

    /// Waits up to `wait` on a lane and keeps what it gives.
    fn collect(&mut self, domain: bool, wait: Duration, now: SystemTime) {
        let started = Instant::now();
        let lane = if domain { &mut self.domain } else { &mut self.local };
        let collected = lane.collect(wait, self.budget, self.give_up_after);
        lane.waited += started.elapsed();
        match collected {
            Collected::Nothing => {}
            Collected::Answer(sid, found) => self.names.insert(&sid, (found, now)),
            Collected::Lost(sid) => self.names.insert(&sid, (None, now)),
        }
    }

    /// Says that events go without names: at most once per lane every [`WARN_EVERY`].
    fn warn_slow(&mut self, domain: bool) {
        let lane = if domain { &mut self.domain } else { &mut self.local };
        if lane.warned_at.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        lane.warned_at = Some(Instant::now());
        let in_hand = lane.in_flight.as_ref();
        tracing::warn!(
            channel = %self.channel,
            in_hand = in_hand.map(|in_flight| in_flight.sid.as_str()),
            asked_for = ?in_hand.map(|in_flight| in_flight.since.elapsed()),
            waited_in_read = ?lane.waited,
            "{} account lookups are slow: events of {} whose SIDs are not known yet keep them \
             without names until the lookups answer",
            if domain { "domain" } else { "local" },
            self.channel
        );
    }
}

#[cfg(test)]
mod tests;
