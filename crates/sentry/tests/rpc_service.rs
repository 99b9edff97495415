//! A base reaches the sentry's commands over real Kraken RPC: the sentry dials a base on
//! loopback (plain TCP, password peering), the base opens a `kraken-sentry` session and calls
//! `run(methodName, params)`, as the original base does.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use kraken_codec::Value;
use kraken_rpc::{Connector, PeerAuth, RpcConfig, RpcServer, ServiceTable, TrustLevel};
use sentry::commands::SentryService;
use sentry::commands::{CommandContext, FileRoots, host_methods};
use sentry_protocol::names::service::SENTRY as SERVICE_NAME;

fn config(guid: &str, password: &str, peer: &str, peer_password: &str) -> RpcConfig {
    let mut config = RpcConfig::new(guid);
    config.call_timeout = Duration::from_secs(10);
    config.ping_interval = None;
    config.password = Some(password.into());
    config.peers.insert(peer.into(), PeerAuth { password: peer_password.into(), trust: TrustLevel::High });
    config
}

#[tokio::test]
async fn a_base_runs_sentry_methods_over_rpc() {
    let base_config = config("base", "base-pass", "sentry", "sentry-pass");
    let mut base =
        RpcServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(base_config), None, ServiceTable::new())
            .await
            .unwrap();

    let mut context = CommandContext::for_this_host();
    context.sampling_window = Duration::from_millis(20);
    // listFiles as an agent with the default configuration (an empty sentry.toml) has it.
    let defaults = sentry::config::Config::parse("").unwrap();
    context.file_roots =
        FileRoots::from_settings(defaults.commands.list_files, defaults.commands.list_files_roots.as_deref());
    let mut services = ServiceTable::new();
    services.insert(SERVICE_NAME.into(), SentryService::new(Arc::new(host_methods()), Arc::new(context)));
    let sentry_config = config("sentry", "sentry-pass", "base", "base-pass");
    let sentry =
        Connector::plain(Arc::new(sentry_config)).connect(base.local_addr(), services).await.unwrap();
    let to_sentry = base.accept().await.unwrap();
    sentry.peered(Duration::from_secs(5)).await.unwrap();
    to_sentry.peered(Duration::from_secs(5)).await.unwrap();
    let session = to_sentry.create_session(SERVICE_NAME).await.unwrap();

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = Value::I32(i32::from(listener.local_addr().unwrap().port()));
    let netstat = session.call("run", vec!["getNetStat".into(), Value::Null]).await.unwrap();
    let tcp = netstat.as_map().unwrap()["tcp"].as_array().unwrap().to_vec();
    assert!(tcp.iter().any(|row| row.as_map().unwrap()["local_port"] == port), "listener missing");

    let processes = session.call("run", vec!["getProcesses".into(), Value::Array(vec![])]).await.unwrap();
    let me = Value::I32(i32::try_from(std::process::id()).unwrap());
    assert!(processes.as_array().unwrap().iter().any(|p| p.as_map().unwrap()["pid"] == me));

    let features = session.call("run", vec!["getFeatures".into(), Value::Null]).await.unwrap();
    assert!(features.as_array().unwrap().contains(&Value::from("netstat")));

    // Errors reach the base as RPC errors with the table's message.
    let unknown = session.call("run", vec!["formatDisk".into(), Value::Null]).await.unwrap_err();
    assert_eq!(unknown.remote_cause(), Some("sentry method not found: formatDisk"));
    let wrong =
        session.call("run", vec!["listFiles".into(), Value::Array(vec![Value::I32(1)])]).await.unwrap_err();
    assert_eq!(
        wrong.remote_cause(),
        Some("illegal argument: listFiles parameter 1 (path) must be str, got i32")
    );
    // By default listFiles lists nothing: no roots, and no path, however plain.
    for params in
        [Value::Null, Value::Array(vec![Value::from(std::env::temp_dir().to_string_lossy().as_ref())])]
    {
        let refused = session.call("run", vec!["listFiles".into(), params]).await.unwrap_err();
        let cause = refused.remote_cause().unwrap_or_default();
        assert!(
            cause.starts_with("listFiles is not allowed on this sentry: no roots are configured"),
            "{cause}"
        );
    }
    let not_run = session.call("getNetStat", vec![]).await.unwrap_err();
    assert_eq!(not_run.remote_cause(), Some("method not found: getNetStat"));
    let bad_run = session.call("run", vec![Value::I32(5)]).await.unwrap_err();
    assert!(bad_run.remote_cause().unwrap().starts_with("illegal argument: run takes"));
}
