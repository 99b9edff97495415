//! Account lookups on their worker threads, with a lookup that answers domain SIDs only when
//! the test lets it: nothing here depends on how fast a thread is scheduled, only on the
//! budget bounding a wait.

use std::sync::Mutex;

use super::*;

const SYSTEM: &str = "S-1-5-18";
const ALICE: &str = "S-1-5-21-1-2-3-1000";
const BOB: &str = "S-1-5-21-1-2-3-1001";

fn system() -> Option<(String, String)> {
    Some(("NT AUTHORITY".into(), "SYSTEM".into()))
}

fn alice() -> Option<(String, String)> {
    Some(("CONTOSO".into(), "alice".into()))
}

/// A lookup that knows SYSTEM and ALICE; each domain SID answers only once the test releases
/// one lookup.
struct Gated {
    lookup: LookupFn,
    /// Every SID, as its lookup starts.
    asked: Receiver<String>,
    release: Sender<()>,
}

fn gated() -> Gated {
    let (asking, asked) = mpsc::channel();
    let (release, gate) = mpsc::channel::<()>();
    let (asking, gate) = (Mutex::new(asking), Mutex::new(gate));
    let lookup: LookupFn = Arc::new(move |sid: &str| {
        let _ = asking.lock().unwrap().send(sid.to_owned());
        if may_wait_on_a_domain(sid) {
            let _ = gate.lock().unwrap().recv();
        }
        match sid {
            SYSTEM => system(),
            ALICE => alice(),
            _ => None,
        }
    });
    Gated { lookup, asked, release }
}

impl Gated {
    /// The next SID a lookup started for.
    fn next_asked(&self) -> String {
        self.asked.recv_timeout(Duration::from_secs(30)).expect("a lookup started")
    }

    /// The SIDs asked so far and not yet taken by `next_asked`.
    fn asked_now(&self) -> Vec<String> {
        self.asked.try_iter().collect()
    }
}

#[test]
fn a_name_is_looked_up_once_and_a_sid_without_account_again_after_the_retry_time() {
    let lookups = gated();
    let mut names = AccountNames::new(lookups.lookup.clone(), "Security");
    let now = SystemTime::now();
    let nobody = "S-1-5-32-999";
    // A budget that a machine slowed by other tests cannot spend before the answers come.
    names.set_budget(Duration::from_secs(30));
    names.begin_read();
    assert_eq!(names.name(SYSTEM, now), system());
    assert_eq!(names.name(SYSTEM, now), system());
    assert_eq!(names.name(nobody, now), None);
    assert_eq!(names.name(nobody, now + ACCOUNT_RETRY / 2), None);
    assert_eq!(lookups.asked_now(), [SYSTEM, nobody], "each SID asked once");
    assert_eq!(names.name(nobody, now + ACCOUNT_RETRY), None);
    assert_eq!(lookups.asked_now(), [nobody], "a SID without account asked again");
}

#[test]
fn a_lookup_that_outlasts_the_budget_holds_a_read_up_no_longer_and_serves_a_later_read() {
    let lookups = gated();
    let mut names = AccountNames::new(lookups.lookup.clone(), "Security");
    names.set_budget(Duration::from_millis(100));
    let now = SystemTime::now();
    names.begin_read();
    let started = Instant::now();
    assert_eq!(names.name(ALICE, now), None, "not answered within the budget");
    assert_eq!(lookups.next_asked(), ALICE);
    assert_eq!(names.name(BOB, now), None, "the worker has ALICE in hand");
    assert_eq!(names.name(ALICE, now), None);
    // The budget bounds the read's wait: ALICE never answers before the test lets it.
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "the read waited {waited:?}");
    assert!(lookups.asked_now().is_empty(), "BOB not handed over: one SID in hand, none queued");
    lookups.release.send(()).unwrap();
    // A budget that a machine slowed by other tests cannot spend before the answer comes.
    names.set_budget(Duration::from_secs(30));
    names.begin_read();
    assert_eq!(names.name(ALICE, now), alice(), "found in the background, kept");
    assert!(lookups.asked_now().is_empty(), "and not asked again");
}

#[test]
fn a_domain_lookup_that_hangs_leaves_local_names_be_and_is_given_up_in_time() {
    let lookups = gated();
    let mut names = AccountNames::new(lookups.lookup.clone(), "Security");
    names.set_budget(Duration::from_millis(100));
    names.set_give_up_after(Duration::from_millis(300));
    let now = SystemTime::now();
    names.begin_read();
    assert_eq!(names.name(ALICE, now), None);
    assert_eq!(lookups.next_asked(), ALICE);
    // SYSTEM goes to the other worker: it does not queue behind ALICE.
    names.set_budget(Duration::from_secs(30));
    assert_eq!(names.name(SYSTEM, now), system(), "a hung domain lookup leaves local ones be");
    assert_eq!(lookups.next_asked(), SYSTEM);
    names.set_budget(Duration::from_millis(100));
    std::thread::sleep(Duration::from_millis(400));
    names.begin_read();
    assert_eq!(names.name(BOB, now), None, "BOB is not answered either");
    assert_eq!(lookups.next_asked(), BOB, "ALICE given up: a new worker takes BOB");
    assert_eq!(names.name(ALICE, now), None, "ALICE, given up, counts as not found");
    assert!(lookups.asked_now().is_empty(), "and is not asked again before the retry time");
}

#[test]
fn each_read_has_a_budget_of_its_own() {
    let lookups = gated();
    let mut names = AccountNames::new(lookups.lookup.clone(), "Security");
    names.set_budget(Duration::from_millis(100));
    let now = SystemTime::now();
    names.begin_read();
    assert_eq!(names.name(BOB, now), None);
    assert_eq!(lookups.next_asked(), BOB);
    // Answered after the budget: not waited for again in this read, taken up in the next.
    lookups.release.send(()).unwrap();
    names.set_budget(Duration::from_secs(30));
    names.begin_read();
    lookups.release.send(()).unwrap();
    assert_eq!(names.name(ALICE, now), alice(), "BOB's answer taken, then ALICE asked and waited for");
    assert_eq!(lookups.asked_now(), [ALICE]);
    assert_eq!(names.name(BOB, now), None, "BOB has no account");
    assert!(lookups.asked_now().is_empty());
}

#[test]
fn a_lookup_that_panics_leaves_the_sid_without_a_name_and_lookups_go_on() {
    let lookup: LookupFn = Arc::new(|sid: &str| {
        assert_ne!(sid, BOB, "a lookup that panics");
        (sid == ALICE).then(|| ("CONTOSO".to_owned(), "alice".to_owned()))
    });
    let mut names = AccountNames::new(lookup, "Security");
    names.set_budget(Duration::from_secs(30));
    let now = SystemTime::now();
    names.begin_read();
    assert_eq!(names.name(BOB, now), None);
    assert_eq!(names.name(ALICE, now), alice(), "a new worker answers");
}
