//! Console page load times at fleet scale: a base (`kraken-base serve`, this build) over a
//! SQLite storage holding 10,000 sentries (half connected once, half gone) and, for one of
//! them, a day of cpu, memory and network records at one a second; Debian's chromium
//! (headless, through chromedriver) logged in. Timed from navigation to the page showing its
//! data: the fleet page (first 50 of 10,000), a search narrowing it, the host page's cpu chart
//! over 1 h and over 24 h, and the API calls behind them alone (`/api/sentries?limit=50`,
//! median of 50).
//!
//! Run: `cargo bench -p kraken-base --bench console` (`-- --quick`: 2,000 sentries, 2 h of
//! records). Needs chromium and chromium-driver (`scripts/setup-debian.sh`); Linux only.
#![cfg_attr(not(target_os = "linux"), allow(unused))]

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
mod linux {

    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use fantoccini::{Client, ClientBuilder, Locator};
    use kraken_base::storage::{SqliteStorage, Storage, StoredRecord};
    use serde_json::{Value as Json, json};

    const BASE: &str = env!("CARGO_BIN_EXE_kraken-base");
    const HOST: &str = "host-00000";

    struct Stopped(Child);

    impl Drop for Stopped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn wait_for_port(port: u16) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "nothing listens on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The stored records of one host: cpu, memory and two network devices each second.
    fn host_records(seconds: i64, now_ms: i64) -> Vec<StoredRecord> {
        let record = |logger: &str, date_ms: i64, seq: i64, params: String| StoredRecord {
            guid: HOST.into(),
            logger: logger.into(),
            date_ms,
            logtype: Some("system".into()),
            msg: None,
            params,
            seq: Some(seq),
            epoch: None,
        };
        let mut records = Vec::new();
        for n in 0..seconds {
            let date = now_ms - (seconds - n) * 1000;
            records.push(record(
                "cpu",
                date,
                n,
                format!(r#"{{"idle":{},"kernel":5,"user":{}}}"#, 60 + n % 30, 35 - n % 30),
            ));
            records.push(record(
                "memory",
                date,
                n,
                format!(
                    r#"{{"pfree":{},"ptotal":16000000000,"vfree":30000000000,"vtotal":32000000000}}"#,
                    8_000_000_000 + n * 1000
                ),
            ));
            for (i, device) in ["eth0", "eth1"].iter().enumerate() {
                records.push(record(
                "network",
                date,
                2 * n + i as i64,
                format!(
                    r#"{{"scope":"device","interval":1000,"description":"{device}","rx_bytes_delta":{},"tx_bytes_delta":{}}}"#,
                    10_000 + n % 500,
                    5_000 + n % 300
                ),
            ));
            }
        }
        records
    }

    async fn timed_until(client: &Client, what: &str, script: &str) -> Duration {
        let started = Instant::now();
        loop {
            if client.execute(script, vec![]).await.unwrap_or(Json::Null) == json!(true) {
                return started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(120), "{what}: never shown");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn api_get(admin: u16, path: &str, token: &str) -> Duration {
        let started = Instant::now();
        let mut stream = TcpStream::connect(("127.0.0.1", admin)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert!(
            reply.starts_with(b"HTTP/1.1 200"),
            "{path}: {}",
            String::from_utf8_lossy(&reply[..reply.len().min(200)])
        );
        started.elapsed()
    }

    #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    pub async fn main() {
        let quick = std::env::args().any(|a| a == "--quick");
        let (sentries, seconds) = if quick { (2_000, 2 * 3600) } else { (10_000, 24 * 3600) };
        let dir = std::env::temp_dir().join(format!("kraken-console-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pki = dir.join("pki");
        kraken_base::pki::init(&pki, &[]).unwrap();
        let data = dir.join("data");

        // The storage, filled before the base opens it.
        let filling = Instant::now();
        {
            let storage = SqliteStorage::open(&data.join("base.sqlite3")).unwrap();
            for n in 0..sentries {
                let guid = format!("host-{n:05}");
                storage
                    .sentry_connected(
                        &guid,
                        &format!("10.{}.{}.{}:50000", n / 65536, (n / 256) % 256, n % 256),
                    )
                    .unwrap();
                if n % 2 == 1 {
                    storage.sentry_disconnected(&guid, "gone").unwrap();
                }
            }
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
                    as i64;
            for chunk in host_records(seconds, now_ms).chunks(20_000) {
                storage.append(chunk).unwrap();
            }
        }
        let filled = filling.elapsed();

        let (listen, admin) = (free_port(), free_port());
        let config = dir.join("base.toml");
        std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{listen}\"\ndata_dir = {:?}\ncertificate = {:?}\nkey = {:?}\nsentry_ca = {:?}\n\
             [admin]\nlisten = \"127.0.0.1:{admin}\"\n",
            data,
            pki.join("base.pem"),
            pki.join("base.key"),
            pki.join("ca.pem")
        ),
    )
    .unwrap();
        let _base = Stopped(
            Command::new(BASE)
                .args(["serve", "--config"])
                .arg(&config)
                .stderr(std::fs::File::create(dir.join("base.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        wait_for_port(admin);
        let token = std::fs::read_to_string(data.join("admin.token")).unwrap().trim().to_owned();

        let mut api: Vec<Duration> =
            (0..50).map(|_| api_get(admin, "/api/sentries?limit=50", &token)).collect();
        api.sort();
        let mut search: Vec<Duration> =
            (0..50).map(|_| api_get(admin, "/api/sentries?limit=50&q=host-00999", &token)).collect();
        search.sort();
        let mut hour: Vec<Duration> = (0..10)
            .map(|_| {
                let now =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
                api_get(
                    admin,
                    &format!("/api/logs?sentry={HOST}&logger=cpu&since={}&limit=10000", now - 3_600_000),
                    &token,
                )
            })
            .collect();
        hour.sort();

        let driver_port = free_port();
        let _driver = Stopped(
            Command::new("/usr/bin/chromedriver")
                .arg(format!("--port={driver_port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver"),
        );
        wait_for_port(driver_port);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium", "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1100",
            format!("--user-data-dir={}", dir.join("profile").display())]}),
    );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .expect("a chromium session");
        let base_url = format!("http://127.0.0.1:{admin}");
        client.goto(&format!("{base_url}/console/login")).await.unwrap();
        client.find(Locator::Css("#token")).await.unwrap().send_keys(&token).await.unwrap();
        client.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
        client.wait().for_element(Locator::Css("#fleet-table")).await.unwrap();

        let rows_shown = "return document.querySelectorAll('#fleet-table tbody tr').length === 50";
        client.goto(&format!("{base_url}/console/")).await.unwrap();
        let fleet = timed_until(&client, "the fleet page", rows_shown).await;
        let searching = Instant::now();
        client.find(Locator::Css("#search")).await.unwrap().send_keys("host-00999").await.unwrap();
        // The page waits 250 ms after the last key before asking: counted in.
        let narrowed = "return document.querySelectorAll('#fleet-table tbody tr').length === 1";
        timed_until(&client, "the search", narrowed).await;
        let searched = searching.elapsed();
        let chart_points = |min: u64| {
            format!("return Number(document.querySelector('#chart-cpu')?.dataset.points) >= {min}")
        };
        client.goto(&format!("{base_url}/console/sentry/{HOST}")).await.unwrap();
        let host_hour = timed_until(&client, "the host page (1 h)", &chart_points(3500)).await;
        client.execute("document.querySelector('#range').value = '24 h'; document.querySelector('#range').dispatchEvent(new Event('change'));", vec![]).await.unwrap();
        let started = Instant::now();
        let day_points = (seconds as u64).min(50_000) - 100;
        timed_until(&client, "the host page (24 h)", &chart_points(day_points)).await;
        let host_day = started.elapsed();
        client.close().await.unwrap();

        println!(
            "console: {sentries} sentries, {} stored records ({seconds} s of one host), filled in {filled:.1?}",
            seconds * 4
        );
        println!("  API /api/sentries?limit=50:         median {:>8.1?}", api[api.len() / 2]);
        println!("  API /api/sentries?limit=50&q=...:   median {:>8.1?}", search[search.len() / 2]);
        println!("  API /api/logs cpu, 1 h (3,600):     median {:>8.1?}", hour[hour.len() / 2]);
        println!("  fleet page, first 50 rows shown:           {fleet:>8.1?}");
        println!(
            "  fleet search, typed to 1 row shown:        {searched:>8.1?} (250 ms of it the page's own pause)"
        );
        println!("  host page, 1 h cpu chart drawn:            {host_hour:>8.1?}");
        println!(
            "  host page, 24 h cpu chart drawn:           {host_day:>8.1?} ({} points at most)",
            (seconds as u64).min(50_000)
        );
        let _ = std::fs::remove_dir_all(Path::new(&dir));
    }
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}
