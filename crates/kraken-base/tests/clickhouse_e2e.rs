//! The real binaries with ClickHouse storage: `kraken-base serve` with `[storage] kind =
//! "clickhouse"` (a server of the test's own) and a linked `kraken-sentry run`. ClickHouse is
//! killed for 30 s mid-stream: the base stays up and says so in `kraken-base sentries`, the
//! sentry keeps its records, and once ClickHouse is back every record made is stored once.
#![cfg(unix)]

mod clickhouse_server;
mod deploy;
mod ports;

use std::fs;
use std::path::Path;
use std::time::Duration;

use clickhouse_server::ClickHouseServer;
use deploy::{BASE, Deployment, all_stored, made_since_first_stored, run, sentry, serve, stored, wait_until};

const GUID: &str = "sentry-ch";

#[test]
fn nothing_is_lost_or_stored_twice_when_clickhouse_goes_away_for_30_s() {
    let deployment =
        Deployment::new("clickhouse", GUID, "min_interval_ms = 1000\ndefault_interval_ms = 1000");
    let (dir, config, sentry_config, records_file) = (
        deployment.dir.clone(),
        deployment.base_config.clone(),
        deployment.sentry_config.clone(),
        deployment.records.clone(),
    );
    let mut clickhouse = ClickHouseServer::start(&dir.join("clickhouse"));
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[storage]\nkind = \"clickhouse\"\nurl = \"{}\"\nnode = \"node-1\"\ninsert_interval_ms = 200\n",
        clickhouse.url()
    ));
    fs::write(&config, text).unwrap();
    let (base_log, sentry_log) = (dir.join("base.log"), dir.join("sentry.log"));
    let mut base = serve(&config, &base_log);
    let _sentry = sentry(&sentry_config, &sentry_log);
    let log_of = |path: &Path| fs::read_to_string(path).unwrap_or_default();
    let flowing =
        wait_until(Duration::from_secs(30), || (stored(&config, GUID, "memory").len() >= 3).then_some(()));
    assert!(
        flowing.is_some(),
        "no records; base log: {}\nsentry log: {}",
        log_of(&base_log),
        log_of(&sentry_log)
    );
    let listed = run(Path::new(BASE), &["sentries", "--config", &config]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&format!("{GUID}  connected")));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("node node-1"), "{listed:?}");

    clickhouse.kill();
    let reported = wait_until(Duration::from_secs(20), || {
        let listed = run(Path::new(BASE), &["sentries", "--config", &config]);
        let complaint = String::from_utf8_lossy(&listed.stderr).into_owned();
        (listed.status.success() && complaint.contains("storage (clickhouse) unavailable")).then_some(listed)
    })
    .unwrap_or_else(|| panic!("the base never reported ClickHouse down: {}", log_of(&base_log)));
    assert!(
        String::from_utf8_lossy(&reported.stdout).contains(&format!("{GUID}  connected")),
        "the connected sentry is still listed, from the node's own memory: {reported:?}"
    );
    std::thread::sleep(Duration::from_secs(30));
    assert!(base.0.try_wait().unwrap().is_none(), "the base stayed up: {}", log_of(&base_log));
    clickhouse.start_again();

    // Once the base stores again, stop the logger from the base and wait for the spool.
    let resumed = wait_until(Duration::from_secs(60), || {
        run(Path::new(BASE), &["logger", "--config", &config, GUID, "stop", "memory"])
            .status
            .success()
            .then_some(())
    });
    assert!(resumed.is_some(), "the sentry never came back: {}", log_of(&sentry_log));
    let made = made_since_first_stored(&records_file, &config, GUID, "memory");
    assert!(made.len() >= 30, "too few records made across the outage: {}", made.len());
    let records =
        all_stored(&config, GUID, "memory", &made, Duration::from_secs(60)).unwrap_or_else(|missing| {
            panic!("made but never stored: {missing:?}; base log: {}", log_of(&base_log))
        });
    let seqs: Vec<i64> = records.iter().map(|(seq, _)| *seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "a gap, a repeat or a reordering: {seqs:?}");

    // In ClickHouse itself, every (sentry, logger, epoch, seq) once: no second copy at all,
    // not even one waiting for a merge.
    let counts = clickhouse.query(&format!(
        "SELECT count(), uniqExact(guid, logger, epoch, seq) FROM kraken.records WHERE guid = '{GUID}'"
    ));
    let (rows, distinct) = counts.trim().split_once('\t').unwrap();
    assert_eq!(rows, distinct, "rows and distinct records");
    eprintln!(
        "made {} memory records across a 30 s ClickHouse outage; stored {} (seq {}..={}); {rows} rows in all, {distinct} distinct",
        made.len(),
        seqs.len(),
        seqs[0],
        seqs[seqs.len() - 1]
    );
    drop(base);
    let _ = fs::remove_dir_all(&dir);
}
