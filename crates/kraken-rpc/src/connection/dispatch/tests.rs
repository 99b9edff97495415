//! Back-pressure in dispatch, between two real connections over an in-memory pipe: the handler
//! slots (a call past them is refused at once, and a finished handler frees its slot), and the
//! post backlogs (bounded per session and, in bytes, per connection; past either, the reader
//! pauses until there is room, and then goes on with nothing lost and nothing reordered).
//!
//! The backlog tests pause the clock: it then moves on only when every task waits, so a ping
//! that times out shows the reader was stuck, not merely slow.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::future::select_all;
use kraken_codec::Value;
use tokio::sync::{Semaphore, mpsc};

use crate::connection::handle::{RpcConnection, ServiceTable};
use crate::connection::limits::Limits;
use crate::connection::locks::lock;
use crate::connection::test_support::{PATIENCE, connected_pair, within};
use crate::error::{RpcError, RpcFault};
use crate::service::service_fn;

/// Long enough for no call of these tests to time out before the test decides.
const NO_LIMIT: Duration = Duration::from_secs(3600);

/// A service `test` whose `block(x)` and `slow(x)` wait for a permit of `gate` before they
/// finish, and whose `quick(x)` and `note(x, ...)` finish at once. Each sends `x` to the returned
/// channel when it starts (`block`) or when it finishes (the others), and returns it.
fn gated_service(gate: &Arc<Semaphore>) -> (ServiceTable, mpsc::UnboundedReceiver<Value>) {
    let (seen, seen_rx) = mpsc::unbounded_channel();
    let gate = gate.clone();
    let service = service_fn(move |_, method, params| {
        let (gate, seen) = (gate.clone(), seen.clone());
        async move {
            let tag = params.into_iter().next().unwrap_or(Value::Null);
            match method.as_str() {
                "block" => {
                    let _ = seen.send(tag.clone());
                    gate.acquire().await.map_err(|_| RpcFault::new("gate closed"))?.forget();
                }
                "slow" => {
                    gate.acquire().await.map_err(|_| RpcFault::new("gate closed"))?.forget();
                    let _ = seen.send(tag.clone());
                }
                "quick" | "note" => {
                    let _ = seen.send(tag.clone());
                }
                other => return Err(RpcFault::method_not_found(other)),
            }
            Ok(tag)
        }
    });
    (ServiceTable::from([("test".to_owned(), service)]), seen_rx)
}

/// How many posts wait in the backlog of `session` on `server`.
fn backlog_len(server: &RpcConnection, session: i32) -> usize {
    let sessions = lock(&server.inner.sessions);
    sessions.get(&session).and_then(|entry| entry.post_backlog.as_ref()).map_or(0, VecDeque::len)
}

/// Everything seen so far, without waiting.
fn drain(seen: &mut mpsc::UnboundedReceiver<Value>) -> Vec<Value> {
    std::iter::from_fn(|| seen.try_recv().ok()).collect()
}

/// Receives `count` values, in the order they come.
async fn receive(seen: &mut mpsc::UnboundedReceiver<Value>, count: usize) -> Vec<Value> {
    let mut values = Vec::with_capacity(count);
    while values.len() < count {
        values.push(within(seen.recv()).await.expect("the service is still there"));
    }
    values
}

/// The byte budget of the budget tests: a few posts or calls of some KiB fill it.
const SMALL_BUDGET: usize = 64 << 10;

/// A connected pair whose server has [`SMALL_BUDGET`] and the [`gated_service`], with its gate.
async fn budgeted_pair() -> (Arc<Semaphore>, mpsc::UnboundedReceiver<Value>, RpcConnection, RpcConnection) {
    let gate = Arc::new(Semaphore::new(0));
    let (services, seen) = gated_service(&gate);
    let limits = Limits { backlog_budget: SMALL_BUDGET, ..Limits::default() };
    let (client, server) = connected_pair(services, limits).await;
    (gate, seen, client, server)
}

/// Sends a ping and checks it is not answered: the server's reader has paused. Nothing but the
/// gate can move things on (the tests pause the clock, which skips ahead until the wait ends).
/// Returns the ping, to be answered once the reader goes on.
async fn ping_behind_a_paused_reader(
    client: &RpcConnection,
) -> tokio::task::JoinHandle<Result<(), RpcError>> {
    let mut ping = tokio::spawn({
        let client = client.clone();
        async move { client.ping(NO_LIMIT).await }
    });
    let unanswered = tokio::time::timeout(PATIENCE, &mut ping).await;
    assert!(unanswered.is_err(), "the reader paused: a ping behind the posts is not answered");
    ping
}

#[tokio::test]
async fn past_the_handler_slots_a_call_is_refused_at_once_and_a_finished_handler_frees_its_slot() {
    let gate = Arc::new(Semaphore::new(0));
    let (services, mut entered) = gated_service(&gate);
    let (client, server) = connected_pair(services, Limits::default()).await;
    let session = within(client.create_session("test")).await.expect("a session");
    let slots = server.inner.config.max_concurrent_handlers;
    assert_eq!(slots, 64, "the production number of handler slots");

    let mut blocked = Vec::new();
    for n in 0..slots as i32 {
        blocked.push(session.start_call("block", vec![Value::I32(n)], NO_LIMIT).await.expect("sent"));
    }
    assert_eq!(receive(&mut entered, slots).await.len(), slots, "all of them are running");

    let refused = Err(RpcError::Remote(Some("too many calls in progress (64)".into())));
    let quick = || session.call_with_timeout("quick", vec![Value::from("quick")], NO_LIMIT);
    assert_eq!(within(quick()).await, refused, "the 65th call is refused");
    assert!(drain(&mut entered).is_empty(), "it never reached the service");

    gate.add_permits(1);
    let waits = blocked.into_iter().map(|reply| Box::pin(reply.wait()));
    let (finished, index, mut still_blocked) = within(select_all(waits)).await;
    assert_eq!(finished, Ok(Value::I32(index as i32)), "one blocked call finished");
    assert_eq!(within(quick()).await, Ok(Value::from("quick")), "its slot takes a new call");
    assert_eq!(drain(&mut entered), vec![Value::from("quick")]);

    let refill = session.start_call("block", vec![Value::I32(slots as i32)], NO_LIMIT).await.expect("sent");
    assert_eq!(receive(&mut entered, 1).await, vec![Value::I32(slots as i32)], "a new call takes the slot");
    assert_eq!(within(quick()).await, refused, "and the slots are full again");

    gate.add_permits(slots);
    still_blocked.push(Box::pin(refill.wait()));
    for reply in still_blocked {
        assert!(matches!(within(reply).await, Ok(Value::I32(_))), "every blocked call is answered");
    }
    assert!(!client.is_closed() && !server.is_closed());
}

#[tokio::test(start_paused = true)]
async fn posts_behind_a_slow_post_queue_up_to_the_session_bound_then_the_reader_pauses() {
    let gate = Arc::new(Semaphore::new(0));
    let (services, mut ran) = gated_service(&gate);
    let (client, server) = connected_pair(services, Limits::default()).await;
    let session = within(client.create_session("test")).await.expect("a session");
    let bound = Limits::default().post_queue;
    assert_eq!(bound, 256, "the production bound");

    let last = bound as i32 + 20;
    within(session.post("slow", vec![Value::I32(0)])).await.expect("posted");
    for n in 1..=last {
        within(session.post("note", vec![Value::I32(n)])).await.expect("posted");
    }
    let ping = ping_behind_a_paused_reader(&client).await;
    assert_eq!(backlog_len(&server, session.id()), bound, "posts queued up to the bound");
    assert!(drain(&mut ran).is_empty(), "no post ran ahead of the slow one");

    gate.add_permits(1);
    within(ping).await.expect("the ping task").expect("answered once the reader goes on");
    let expected: Vec<Value> = (0..=last).map(Value::I32).collect();
    assert_eq!(receive(&mut ran, expected.len()).await, expected, "every post ran, in order");
    assert_eq!(backlog_len(&server, session.id()), 0);
    assert!(!client.is_closed() && !server.is_closed());
}

#[tokio::test(start_paused = true)]
async fn posts_past_the_connection_byte_budget_pause_the_reader_whatever_their_session() {
    let (gate, mut ran, client, server) = budgeted_pair().await;
    let first = within(client.create_session("test")).await.expect("a session");
    let second = within(client.create_session("test")).await.expect("a session");

    // Each note carries 4 KiB (and a tag of the same encoded size): ten fit in the budget,
    // twenty do not.
    let note = |tag: i32| vec![Value::I32(tag), Value::Blob(vec![7; 4 << 10])];
    let note_size = kraken_codec::encode(&Value::Array(note(101))).len();
    within(first.post("slow", vec![Value::I32(100)])).await.expect("posted");
    within(second.post("slow", vec![Value::I32(200)])).await.expect("posted");
    for n in 1..=10 {
        within(first.post("note", note(100 + n))).await.expect("posted");
    }
    for n in 1..=10 {
        within(second.post("note", note(200 + n))).await.expect("posted");
    }
    let ping = ping_behind_a_paused_reader(&client).await;
    let queued_bytes = server.inner.backlog_bytes.load(Ordering::Relaxed);
    assert!(
        queued_bytes <= SMALL_BUDGET && queued_bytes + note_size > SMALL_BUDGET,
        "queued up to the budget"
    );
    assert_eq!(backlog_len(&server, first.id()), 10, "the first session's posts all fit");
    let second_queued = backlog_len(&server, second.id());
    assert!(second_queued < 10, "the second session's did not, though far from the session bound");
    // The two running posts count too: they hold their parameters until they end.
    let running = [100, 200].map(|tag| kraken_codec::encode(&Value::Array(vec![Value::I32(tag)])).len());
    assert_eq!(queued_bytes, (10 + second_queued) * note_size + running.iter().sum::<usize>());

    gate.add_permits(2);
    within(ping).await.expect("the ping task").expect("answered once the reader goes on");
    let ran = receive(&mut ran, 22).await;
    for tags in [100..=110, 200..=210] {
        let session_of = |tag: i32| tag / 100;
        let of_this_session =
            |v: &&Value| v.as_i32().is_some_and(|t| session_of(t) == session_of(*tags.start()));
        let order: Vec<Value> = ran.iter().filter(of_this_session).cloned().collect();
        assert_eq!(
            order,
            tags.map(Value::I32).collect::<Vec<_>>(),
            "every post of the session ran, in order"
        );
    }
    assert_eq!(server.inner.backlog_bytes.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn the_waiting_first_posts_of_many_sessions_count_in_the_byte_budget() {
    // One slow post per session, none queued behind another: before, each session's first
    // post went to its own task uncounted, so a peer could make us hold one per session.
    let (gate, mut ran, client, server) = budgeted_pair().await;
    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(within(client.create_session("test")).await.expect("a session"));
    }
    let post = |tag: i32| vec![Value::I32(tag), Value::Blob(vec![7; 8 << 10])];
    let post_size = kraken_codec::encode(&Value::Array(post(100))).len();
    for (n, session) in sessions.iter().enumerate() {
        within(session.post("slow", post(100 + n as i32))).await.expect("posted");
    }
    let ping = ping_behind_a_paused_reader(&client).await;
    let held = server.inner.backlog_bytes.load(Ordering::Relaxed);
    assert!(
        held <= SMALL_BUDGET && held + post_size > SMALL_BUDGET,
        "held {held} bytes, budget {SMALL_BUDGET}"
    );

    gate.add_permits(20);
    within(ping).await.expect("the ping task").expect("answered once the posts ran");
    let mut tags: Vec<i32> = receive(&mut ran, 20).await.iter().filter_map(Value::as_i32).collect();
    tags.sort_unstable();
    assert_eq!(tags, (100..120).collect::<Vec<_>>(), "every post ran once");
    assert_eq!(server.inner.backlog_bytes.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn waiting_calls_past_their_byte_budget_are_refused_at_once() {
    let (gate, mut entered, client, server) = budgeted_pair().await;
    let session = within(client.create_session("test")).await.expect("a session");
    let call = |tag: i32| vec![Value::I32(tag), Value::Blob(vec![7; 8 << 10])];
    let call_size = kraken_codec::encode(&Value::Array(call(0))).len();
    let fit = SMALL_BUDGET / call_size;
    let mut blocked = Vec::new();
    for n in 0..fit as i32 {
        blocked.push(session.start_call("block", call(n), NO_LIMIT).await.expect("sent"));
    }
    assert_eq!(receive(&mut entered, fit).await.len(), fit, "the calls that fit all run");
    let over = within(session.call_with_timeout("block", call(99), NO_LIMIT)).await;
    let refused = format!("too many call bytes in progress (budget {SMALL_BUDGET})");
    assert_eq!(over, Err(RpcError::Remote(Some(refused))));
    assert!(drain(&mut entered).is_empty(), "the refused call never reached the service");
    // A small call still fits.
    let small = within(session.call_with_timeout("quick", vec![Value::from("quick")], NO_LIMIT)).await;
    assert_eq!(small, Ok(Value::from("quick")));

    gate.add_permits(fit);
    for reply in blocked {
        assert!(matches!(within(reply.wait()).await, Ok(Value::I32(_))), "every blocked call is answered");
    }
    assert_eq!(server.inner.call_bytes.load(Ordering::Relaxed), 0);
}
