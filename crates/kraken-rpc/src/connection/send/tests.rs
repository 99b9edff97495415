//! A peer that asks and never reads the answers: its replies pile up in the outbox until they
//! pass the hard limit, and then that connection is closed, while another connection to the
//! same service, on the same runtime, goes on being answered promptly throughout.

use std::time::Duration;

use kraken_codec::Value;

use crate::connection::handle::{Role, ServiceTable};
use crate::connection::limits::Limits;
use crate::connection::test_support::{RawPeer, connected_pair, start_with_limits, within};
use crate::error::RpcFault;
use crate::service::service_fn;

/// How long an answer on the well-behaved connection may take: "promptly", on a loaded machine.
const PROMPTLY: Duration = Duration::from_secs(5);

/// The size of each answer the hostile peer asks for.
const ANSWER: usize = 1 << 20;

#[tokio::test]
async fn a_peer_that_never_reads_its_answers_is_cut_off_while_other_connections_are_served() {
    let service = service_fn(|_, method, params| async move {
        match method.as_str() {
            "big" => Ok(Value::Blob(vec![0; ANSWER])),
            "echo" => Ok(params.into_iter().next().unwrap_or(Value::Null)),
            other => Err(RpcFault::method_not_found(other)),
        }
    });
    let services = ServiceTable::from([("test".to_owned(), service)]);

    // The hostile peer peers and opens a session, then never reads again, over a pipe that
    // holds 64 KiB: what it does not read stays in our outbox.
    let (ours, theirs) = tokio::io::duplex(64 << 10);
    let hostile = start_with_limits(ours, Role::Acceptor, services.clone(), Limits::default());
    let mut peer = RawPeer::new(theirs);
    let session = peer.peer_and_open_session("test").await;

    let (client, server) = connected_pair(services, Limits::default()).await;
    let polite = within(client.create_session("test")).await.expect("a session");

    let hard_limit = Limits::default().outbox_hard_limit;
    assert_eq!(hard_limit, 16 << 20, "the production hard limit");
    let enough = hard_limit / ANSWER + 8;
    let mut asked = 0;
    while !hostile.is_closed() && asked < enough {
        peer.call(session, "big", Vec::new()).await;
        asked += 1;
        let echoed = polite.call_with_timeout("echo", vec![Value::from(asked as i32)], PROMPTLY).await;
        assert_eq!(echoed, Ok(Value::from(asked as i32)), "the other connection answers promptly");
    }
    let reason = within(hostile.closed()).await;
    assert_eq!(reason, "the peer does not read what it asked for (outbox full)");
    assert!(asked > hard_limit / ANSWER, "not before {} MiB of answers were left unread", hard_limit >> 20);

    let echoed = polite.call_with_timeout("echo", vec![Value::from("after")], PROMPTLY).await;
    assert_eq!(echoed, Ok(Value::from("after")), "the other connection is still served");
    assert!(!client.is_closed() && !server.is_closed());
    drop(peer);
}
