//! The web console in a real browser: Debian's chromium, headless, driven through its
//! chromedriver (WebDriver, by `fantoccini`), both installed by `scripts/setup-debian.sh` and
//! started here on free ports. With a real base and a linked sentry: log in with the token,
//! see the sentry on the fleet page, its host page with a cpu chart that has points, a logger
//! stopped and started again, `getProcesses` with the agent's own pid; without a session a
//! page redirects and the API answers 401; a POST without the CSRF token, from the console's
//! own page or from another origin's form, is refused. Screenshots of the three main pages go
//! to `target/console-screens/`.
#![cfg(target_os = "linux")]

mod deploy;
mod ports;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use deploy::{Deployment, free_port, sentry, serve, wait_until};
use fantoccini::{Client, ClientBuilder, Locator};
use kraken_base::config::BaseConfig;
use serde_json::{Value as Json, json};

const GUID: &str = "console-1";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free port, stopped (by pid) when dropped.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver(log: &Path) -> Driver {
    let port = free_port();
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("chromedriver (scripts/setup-debian.sh installs chromium and chromium-driver)");
    let up = wait_until(Duration::from_secs(20), || TcpStream::connect(("127.0.0.1", port)).ok());
    assert!(up.is_some(), "chromedriver never listened");
    Driver(child, port)
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--no-first-run", "--window-size=1400,1100",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await
        .expect("a chromium session")
}

/// (status line, headers and body) of a plain `GET path` with no credentials.
fn anonymous_get(admin: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(admin).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

/// Another origin (a port of its own) serving one page whose form posts to `target` as soon
/// as it loads, the way a hostile site would.
fn hostile_site(target: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(4) {
            let mut stream = stream;
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let page = format!(
                "<html><body><form method=\"post\" action=\"{target}\" enctype=\"text/plain\">\
                 <input name='{{\"method\":\"getHostName\",\"params\":[],\"x\":\"' value='\"}}'></form>\
                 <script>document.forms[0].submit()</script></body></html>"
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    port
}

fn screens_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn save_screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screens_dir().join(name), png).unwrap();
}

/// Waits for `script` (returning a value) to return something truthy; the value.
async fn wait_for_script(client: &Client, what: &str, script: &str) -> Json {
    let started = std::time::Instant::now();
    loop {
        let value = client.execute(script, vec![]).await.unwrap_or(Json::Null);
        if !matches!(value, Json::Null | Json::Bool(false)) && value != json!(0) && value != json!("") {
            return value;
        }
        assert!(
            started.elapsed() < WAIT,
            "{what}: never true; page: {}",
            client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_logs_in_shows_the_fleet_a_host_and_its_processes_and_refuses_forged_requests() {
    let deployment = Deployment::new("console", GUID, "default_interval_ms = 1000");
    let dir = deployment.dir.clone();
    let config = BaseConfig::load(Path::new(&deployment.base_config)).unwrap();
    let admin = config.admin.listen;
    let _base = serve(&deployment.base_config, &dir.join("base.log"));
    let token =
        wait_until(WAIT, || std::fs::read_to_string(config.token_path()).ok().filter(|t| !t.is_empty()))
            .expect("the base never started")
            .trim()
            .to_owned();
    // The token is written before the admin listener is bound: wait for it to take connections.
    wait_until(WAIT, || std::net::TcpStream::connect(admin).ok()).expect("the admin listener never opened");
    let agent = sentry(&deployment.sentry_config, &dir.join("sentry.log"));
    let agent_pid = agent.0.id();

    // Nothing without a session: a page redirects to the login page, the API answers 401.
    let page = anonymous_get(admin, "/console/");
    assert!(page.starts_with("HTTP/1.1 303"), "{page}");
    assert!(page.to_lowercase().contains("location: /console/login"), "{page}");
    assert!(anonymous_get(admin, "/api/sentries").starts_with("HTTP/1.1 401"));
    assert!(anonymous_get(admin, "/console/assets/console.js").starts_with("HTTP/1.1 303"));

    let driver = start_driver(&dir.join("chromedriver.log"));
    let client = browser(&driver, &dir.join("chromium-profile")).await;
    let base_url = format!("http://{admin}");

    // A wrong token is refused; the right one opens the fleet page.
    client.goto(&format!("{base_url}/console/")).await.unwrap();
    let field = client.wait().at_most(WAIT).for_element(Locator::Css("#token")).await.unwrap();
    field.send_keys("not-the-token-0123456789abcdef0123456789").await.unwrap();
    client.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
    let refused = client.wait().at_most(WAIT).for_element(Locator::Css("form.login .error")).await.unwrap();
    assert!(refused.text().await.unwrap().contains("not the admin token"));
    let field = client.find(Locator::Css("#token")).await.unwrap();
    field.send_keys(&token).await.unwrap();
    client.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
    let row = format!("#fleet-table tr[data-guid=\"{GUID}\"]");
    wait_for_script(
        &client,
        "the sentry connected on the fleet page",
        &format!("return document.querySelector('{row} td.up')?.textContent === 'connected'"),
    )
    .await;
    save_screenshot(&client, "fleet.png").await;

    // Its host page: a cpu chart with points (records stored over time), and its loggers.
    client.find(Locator::Css(&format!("{row} a"))).await.unwrap().click().await.unwrap();
    wait_for_script(
        &client,
        "the loggers table",
        "return document.querySelector('#logger-table tr[data-logger=\"cpu\"]') !== null",
    )
    .await;
    let points = wait_for_script(
        &client,
        "a cpu chart with points",
        "const c = document.querySelector('#chart-cpu'); \
         if (Number(c.dataset.points) >= 3) return Number(c.dataset.points); \
         document.querySelector('#refresh-charts').click(); return 0;",
    )
    .await;
    assert!(points.as_u64().unwrap() >= 3, "{points}");
    assert!(client.find(Locator::Css("#chart-cpu canvas")).await.is_ok(), "uPlot drew the chart");
    save_screenshot(&client, "host.png").await;

    // Stop the cpu logger, see it stopped; start it again at 2 s, see it running.
    let state = "return document.querySelector('#logger-table tr[data-logger=\"cpu\"] td[data-state]')?.dataset.state";
    assert_eq!(client.execute(state, vec![]).await.unwrap(), "running");
    client
        .find(Locator::Css("#logger-table tr[data-logger=\"cpu\"] button.stop"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_script(&client, "cpu stopped", &format!("{state} === 'stopped'")).await;
    let interval =
        client.find(Locator::Css("#logger-table tr[data-logger=\"cpu\"] input.interval")).await.unwrap();
    interval.clear().await.unwrap();
    interval.send_keys("2000").await.unwrap();
    client
        .find(Locator::Css("#logger-table tr[data-logger=\"cpu\"] button.start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_script(&client, "cpu running again", &format!("{state} === 'running'")).await;
    let loggers: Json = call_with_token(admin, &token, "getLoggers");
    let cpu = loggers.as_array().unwrap().iter().find(|l| l["logger_name"] == "cpu").unwrap().clone();
    assert_eq!((cpu["is_running"].clone(), cpu["interval"].clone()), (json!(true), json!(2000)), "{cpu}");

    // The command page: getProcesses, with the agent's own pid in the table.
    client.goto(&format!("{base_url}/console/sentry/{GUID}/commands")).await.unwrap();
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("button[data-method=\"getProcesses\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let found = wait_for_script(
        &client,
        "the agent's pid in the process table",
        &format!(
            "const cells = [...document.querySelectorAll('#command-result table td')]; \
             return cells.some(td => td.textContent === '{agent_pid}')"
        ),
    )
    .await;
    assert_eq!(found, json!(true));
    save_screenshot(&client, "commands.png").await;

    // The events page: the sentry's connection and what it announced.
    client.goto(&format!("{base_url}/console/sentry/{GUID}/events")).await.unwrap();
    wait_for_script(
        &client,
        "the sentry's events",
        "return [...document.querySelectorAll('#events td')].some(td => td.textContent === 'loggerAdded')",
    )
    .await;

    // A POST from the console's own page without the CSRF token is refused; with it, served.
    let post = |with_token: bool| {
        format!(
            "const done = arguments[0]; const headers = {{'Content-Type': 'application/json'}}; \
             if ({with_token}) headers['X-CSRF-Token'] = document.querySelector('meta[name=\"csrf-token\"]').content; \
             fetch('/api/sentries/{GUID}/call', {{method: 'POST', headers, credentials: 'same-origin', \
               body: JSON.stringify({{method: 'getHostName', params: []}})}}).then(r => done(r.status), e => done(String(e)));"
        )
    };
    assert_eq!(client.execute_async(&post(false), vec![]).await.unwrap(), json!(403));
    assert_eq!(client.execute_async(&post(true), vec![]).await.unwrap(), json!(200));

    // A form on another origin posting to the API with the session cookie: refused.
    let hostile = hostile_site(format!("{base_url}/api/sentries/{GUID}/call"));
    client.goto(&format!("http://127.0.0.1:{hostile}/")).await.unwrap();
    let answered = wait_for_script(
        &client,
        "the forged POST's answer",
        "return location.pathname.startsWith('/api/') ? document.body.innerText : false",
    )
    .await;
    let answered = answered.as_str().unwrap();
    assert!(
        answered.contains("CSRF") || answered.contains("admin token"),
        "the forged POST was served: {answered}"
    );
    assert!(!answered.contains("result"), "{answered}");

    // Logging out ends the session.
    client.goto(&format!("{base_url}/console/")).await.unwrap();
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.wait().at_most(WAIT).for_element(Locator::Css("#token")).await.unwrap();
    client.goto(&format!("{base_url}/console/")).await.unwrap();
    client.wait().at_most(WAIT).for_element(Locator::Css("#token")).await.expect("the login page again");
    client.close().await.unwrap();
    drop(agent);
}

/// A sentry call through the admin API with the token (the CLI's way), to check what the
/// console did.
fn call_with_token(admin: SocketAddr, token: &str, method: &str) -> Json {
    let body = json!({ "method": method, "params": [] }).to_string();
    let mut stream = TcpStream::connect(admin).unwrap();
    write!(
        stream,
        "POST /api/sentries/{GUID}/call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (_, body) = reply.split_once("\r\n\r\n").unwrap();
    serde_json::from_str::<Json>(body).unwrap()["result"].clone()
}
