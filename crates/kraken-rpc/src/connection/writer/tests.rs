//! The writer's batching, against a transport that records every write and flush and lets the
//! test hold a write in progress: frames queued while one write is in progress leave together
//! in the next one, in order, as the same bytes as encoding them one by one.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use kraken_codec::Value;
use tokio::io::AsyncWrite;
use tokio::sync::{Notify, watch};

use super::write_batches;
use crate::connection::limits::Limits;
use crate::connection::locks::lock;
use crate::connection::outbox::{Backpressure, Outbox, Queued};
use crate::connection::test_support::within;
use crate::message::{Body, Message};

/// What the writer did to the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Write(Vec<u8>),
    Flush,
}

/// The test's side of a [`GatedTransport`]: how many writes it may take, and what it saw.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    /// Signalled whenever a write finds the gate shut.
    blocked: Notify,
}

#[derive(Default)]
struct GateState {
    writes_allowed: usize,
    /// The writer waiting at the shut gate, if any.
    waiting: Option<Waker>,
    events: Vec<Event>,
}

impl Gate {
    /// Lets `writes` more writes through.
    fn allow(&self, writes: usize) {
        let mut state = lock(&self.state);
        state.writes_allowed += writes;
        if let Some(waker) = state.waiting.take() {
            waker.wake();
        }
    }

    /// Waits until a write is held at the shut gate.
    async fn write_held(&self) {
        loop {
            let blocked = self.blocked.notified();
            if lock(&self.state).waiting.is_some() {
                return;
            }
            within(blocked).await;
        }
    }

    fn events(&self) -> Vec<Event> {
        lock(&self.state).events.clone()
    }
}

/// A transport that takes each write whole once the [`Gate`] lets it through.
struct GatedTransport(Arc<Gate>);

impl AsyncWrite for GatedTransport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut state = lock(&self.0.state);
        if state.writes_allowed == 0 {
            state.waiting = Some(cx.waker().clone());
            drop(state);
            self.0.blocked.notify_waiters();
            return Poll::Pending;
        }
        state.writes_allowed -= 1;
        state.events.push(Event::Write(buf.to_vec()));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.0.state).events.push(Event::Flush);
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Messages of every kind, as a connection queues them.
fn messages(first_id: i32, count: i32) -> Vec<Message> {
    (first_id..first_id + count)
        .map(|id| {
            let body = match id % 4 {
                0 => Body::Call { method: "echo".into(), params: vec![Value::I32(id)] },
                1 => Body::Post { method: "onLog".into(), params: vec![Value::from(format!("record {id}"))] },
                2 => Body::Return { ret_for: id, method: "echo".into(), value: Value::I64(id.into()) },
                _ => Body::Error { ret_for: id, cause: Some(format!("failure {id}")) },
            };
            Message { id, session: 2, body }
        })
        .collect()
}

/// Queues each message by encoding it straight into the outbox, as senders do.
fn queue(outbox: &Outbox, messages: &[Message]) {
    for message in messages {
        let queued =
            outbox.try_queue(&|out: &mut Vec<u8>| message.encode_into(out), Backpressure::Wait, 1 << 20);
        assert_eq!(queued, Queued::Yes);
    }
}

/// The bytes of the messages encoded one by one, one after another.
fn encoded_one_by_one(messages: &[Message]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for message in messages {
        let mut frame = Vec::new();
        message.encode_into(&mut frame);
        bytes.extend_from_slice(&frame);
    }
    bytes
}

/// Starts [`write_batches`] on its own task over a gated transport.
fn start_writer(
    outbox: &Arc<Outbox>,
    gate: &Arc<Gate>,
) -> (tokio::task::JoinHandle<io::Result<()>>, watch::Sender<Option<String>>) {
    let (closed, closed_rx) = watch::channel(None);
    let (outbox, mut transport) = (outbox.clone(), GatedTransport(gate.clone()));
    let grace = Limits::default().close_grace;
    let writer = tokio::spawn(async move { write_batches(&outbox, &mut transport, closed_rx, grace).await });
    (writer, closed)
}

fn outbox() -> Arc<Outbox> {
    let limits = Limits::default();
    Arc::new(Outbox::new(limits.outbox_limit, limits.outbox_hard_limit))
}

#[tokio::test]
async fn a_burst_queued_before_the_writer_looks_goes_out_in_one_write_and_one_flush() {
    let (outbox, gate) = (outbox(), Arc::new(Gate::default()));
    let burst = messages(1, 100);
    queue(&outbox, &burst);
    gate.allow(usize::MAX);
    let (writer, _closed) = start_writer(&outbox, &gate);
    outbox.close();
    within(writer).await.expect("the writer task").expect("the writer ends cleanly after the close");
    assert_eq!(gate.events(), vec![Event::Write(encoded_one_by_one(&burst)), Event::Flush]);
}

#[tokio::test]
async fn frames_queued_while_a_write_is_in_progress_leave_together_in_the_next_write_in_order() {
    let (outbox, gate) = (outbox(), Arc::new(Gate::default()));
    let (first, during_first, during_second) = (messages(1, 2), messages(3, 5), messages(8, 3));
    queue(&outbox, &first);
    let (writer, _closed) = start_writer(&outbox, &gate);

    gate.write_held().await;
    queue(&outbox, &during_first);
    gate.allow(1);
    gate.write_held().await;
    queue(&outbox, &during_second);
    gate.allow(1);
    gate.write_held().await;
    outbox.close();
    gate.allow(1);
    within(writer).await.expect("the writer task").expect("the writer ends cleanly after the close");

    let expected = vec![
        Event::Write(encoded_one_by_one(&first)),
        Event::Flush,
        Event::Write(encoded_one_by_one(&during_first)),
        Event::Flush,
        Event::Write(encoded_one_by_one(&during_second)),
        Event::Flush,
    ];
    assert_eq!(gate.events(), expected, "one write and one flush per batch, nothing reordered or split");
}

#[tokio::test(start_paused = true)]
async fn after_a_close_a_write_the_peer_never_takes_is_abandoned_after_the_grace_period() {
    let (outbox, gate) = (outbox(), Arc::new(Gate::default()));
    queue(&outbox, &messages(1, 1));
    let (writer, closed) = start_writer(&outbox, &gate);
    gate.write_held().await;
    let started = tokio::time::Instant::now();
    closed.send_replace(Some("closed by the test".into()));
    outbox.close();
    let outcome = within(writer).await.expect("the writer task");
    assert_eq!(outcome.expect_err("the write is abandoned").to_string(), "the peer stopped reading");
    let grace = Limits::default().close_grace;
    assert!(started.elapsed() >= grace, "not before the grace period ends");
    assert!(started.elapsed() < grace * 2, "nor long after it");
    assert!(gate.events().is_empty(), "the transport never took the write");
}
