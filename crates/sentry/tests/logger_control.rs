//! Logger control through the method table, as a base calls it: factories, create, start,
//! stop, remove, and every refusal with its message. Real store (SQLite in a temp dir), real
//! host, real logger threads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kraken_codec::{Map, Value};
use sentry::commands::{CommandContext, sentry_methods};
use sentry::loggers::{FactoryContext, LoggerRegistry, SinkSet, standard_factories};
use sentry::store::Store;

struct Fixture {
    dir: std::path::PathBuf,
    context: CommandContext,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(registry) = self.context.loggers.take() {
            registry.shutdown(Duration::from_secs(5));
        }
        // The store closes with the registry; Windows cannot delete an open file.
        std::fs::remove_dir_all(&self.dir).unwrap();
    }
}

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("kraken-logger-control-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(Store::open(&dir).unwrap());
    let host: Arc<dyn sentry_host::HostFacts> = Arc::new(sentry_host::SystemHost);
    let registry = LoggerRegistry::new(
        standard_factories(),
        FactoryContext { host, store, delivery: None },
        Arc::new(SinkSet::default()),
        1_000,
    );
    let mut context = CommandContext::for_this_host();
    context.loggers = Some(Arc::new(registry));
    Fixture { dir, context }
}

fn run(fixture: &Fixture, method: &str, params: Vec<Value>) -> Result<Value, String> {
    let params = if params.is_empty() { Value::Null } else { Value::Array(params) };
    sentry_methods().dispatch(&fixture.context, method, &params).map_err(|e| e.to_string())
}

fn keys(value: &Value) -> Vec<String> {
    value.as_map().unwrap().keys().map(|k| k.to_string()).collect()
}

#[test]
fn factories_are_listed_with_all_four_keys() {
    let fixture = fixture("factories");
    let factories = run(&fixture, "getLoggerFactories", vec![]).unwrap();
    let names: Vec<&str> =
        factories.as_array().unwrap().iter().map(|f| f.as_map().unwrap()["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["cpu-usage", "memory-usage", "network-usage", "disk-usage", "process-check", "windows-event-logger"]
    );
    for factory in factories.as_array().unwrap() {
        assert_eq!(keys(factory), ["name", "display_names", "descriptions", "config_options"]);
        let display = factory.as_map().unwrap()["display_names"].as_map().unwrap().clone();
        assert!(display.contains_key("en") && display.contains_key("ko"));
    }
    let cpu = run(&fixture, "getLoggerFactory", vec!["cpu-usage".into()]).unwrap();
    assert_eq!(cpu.as_map().unwrap()["descriptions"].as_map().unwrap()["en"], Value::from("Check CPU Usage"));
    assert_eq!(
        run(&fixture, "getLoggerFactory", vec!["nope".into()]).unwrap_err(),
        "logger factory not found: nope"
    );
    let features = run(&fixture, "getFeatures", vec![]).unwrap();
    assert!(features.as_array().unwrap().contains(&Value::from("logger-control")));
}

#[test]
fn the_lifecycle_and_its_refusals() {
    let fixture = fixture("lifecycle");
    let create = |name: &str, factory: &str, props: Map| {
        run(
            &fixture,
            "createLogger",
            vec![factory.into(), name.into(), Value::from("test logger"), Value::Map(props)],
        )
    };
    assert_eq!(create("mem", "memory-usage", Map::new()), Ok(Value::Null));
    assert_eq!(create("mem", "cpu-usage", Map::new()).unwrap_err(), "logger already exists: local\\mem");
    assert_eq!(create("x", "nope", Map::new()).unwrap_err(), "logger factory not found: nope");
    let mut props = Map::new();
    props.insert("colour", Value::from("red"));
    assert_eq!(create("y", "cpu-usage", props).unwrap_err(), "cpu-usage takes no options, got colour");
    assert!(create("bad\\name", "cpu-usage", Map::new()).unwrap_err().starts_with("invalid logger name"));
    let reserved = create("sentry-spool", "process-check", Map::new()).unwrap_err();
    assert!(reserved.contains("drop reports"), "{reserved}");

    let loggers = run(&fixture, "getLoggers", vec![]).unwrap();
    let mem = loggers.as_array().unwrap()[0].clone();
    let map = mem.as_map().unwrap();
    assert_eq!(
        keys(&mem)[..7],
        [
            "logger_namespace",
            "logger_name",
            "description",
            "factory_name",
            "factory_namespace",
            "is_running",
            "interval"
        ]
    );
    assert_eq!((map["is_running"].clone(), map["interval"].clone()), (Value::Bool(false), Value::I32(0)));

    assert_eq!(
        run(&fixture, "startLogger", vec!["mem".into(), Value::I32(0)]).unwrap_err(),
        "interval must be at least 1000 ms, got 0"
    );
    assert_eq!(
        run(&fixture, "startLogger", vec!["ghost".into(), Value::I32(1000)]).unwrap_err(),
        "logger not found: ghost"
    );
    // A long interval given as i64 is accepted when it fits an i32.
    assert_eq!(run(&fixture, "startLogger", vec!["mem".into(), Value::I64(1_500)]), Ok(Value::Null));
    let info = run(&fixture, "getLoggers", vec![]).unwrap().as_array().unwrap()[0].clone();
    let info = info.as_map().unwrap();
    assert_eq!(
        (info["is_running"].clone(), info["interval"].clone()),
        (Value::Bool(true), Value::I32(1_500))
    );
    assert_eq!(
        run(&fixture, "startLogger", vec!["mem".into(), Value::I32(1_000)]).unwrap_err(),
        "logger is already running"
    );
    assert_eq!(run(&fixture, "removeLogger", vec!["mem".into()]).unwrap_err(), "logger is running: mem");

    // The first run happens at start; wait for it to be counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = run(&fixture, "getLoggers", vec![]).unwrap().as_array().unwrap()[0].clone();
        if info.as_map().unwrap()["log_count"].as_i64().unwrap() >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no run counted: {info:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(run(&fixture, "stopLogger", vec!["mem".into(), Value::I32(5_000)]), Ok(Value::Null));
    let info = run(&fixture, "getLoggers", vec![]).unwrap().as_array().unwrap()[0].clone();
    assert_eq!(info.as_map().unwrap()["is_running"], Value::Bool(false));
    assert_eq!(run(&fixture, "removeLogger", vec!["mem".into()]), Ok(Value::Null));
    assert_eq!(run(&fixture, "getLoggers", vec![]), Ok(Value::Array(vec![])));
}

#[test]
fn a_connecting_base_is_told_every_factory_and_logger_and_which_run() {
    use sentry::loggers::LoggerEvent;
    let fixture = fixture("announcements");
    let registry = fixture.context.loggers.clone().unwrap();
    registry.create("cpu-usage", "cpu", None, &Map::new()).unwrap();
    registry.create("memory-usage", "mem", None, &Map::new()).unwrap();
    registry.start("mem", 2_000).unwrap();
    let events = registry.announcements();
    let factories = events.iter().filter(|e| matches!(e, LoggerEvent::FactoryAdded(_))).count();
    assert_eq!(factories, 6);
    let mut added: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            LoggerEvent::Added(info) => info.as_map().unwrap()["logger_name"].as_str(),
            _ => None,
        })
        .collect();
    added.sort();
    assert_eq!(added, ["cpu", "mem"]);
    let started: Vec<&LoggerEvent> =
        events.iter().filter(|e| matches!(e, LoggerEvent::Started { .. })).collect();
    assert_eq!(started, [&LoggerEvent::Started { name: "mem".into(), interval_ms: 2_000 }]);
    registry.stop("mem", 5_000).unwrap();
}
