//! Logger factories: a name, display names and descriptions per language, an option schema,
//! and a constructor.
//!
//! `createLogger` checks the caller's options against the schema before anything is stored:
//! required options present, every value of its declared type (an integer option accepts any
//! integer kind that fits an i32, or a string of digits from a CLI), no unknown option
//! (BUG-20). Display names and descriptions are maps of ISO-639 language to text; a lookup
//! falls back to `en` (BUG-27).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use kraken_codec::{Map, Value};
use sentry_host::HostFacts;

use super::delivery::DeliveryGate;
use crate::store::{OptionValue, Store};

/// One logger's work, called once per interval on its own thread.
pub trait LoggerRun: Send {
    /// Reads the host and returns the records to write, in order; possibly none (a first run
    /// that only takes a baseline). An error is counted and logged; the logger keeps running.
    fn run_once(&mut self) -> Result<RunOutput, String>;
}

/// What one run made.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunOutput {
    /// Each record's date (`None`: the time of the run) and params (with `logtype` and `msg`).
    pub records: Vec<(Option<SystemTime>, Map)>,
    /// Where a logger that reads a source has got to after these records: committed with them
    /// (in the spool's transaction when a base takes them), so the next run after a crash goes
    /// on exactly after the last record kept. `None` for loggers without a position.
    pub position: Option<String>,
    /// More records wait in the source: once these are committed, the next run starts at once
    /// instead of at the next interval.
    pub more: bool,
}

impl From<Vec<Map>> for RunOutput {
    /// Records dated at the run, without a position.
    fn from(records: Vec<Map>) -> Self {
        RunOutput {
            records: records.into_iter().map(|params| (None, params)).collect(),
            position: None,
            more: false,
        }
    }
}

pub use crate::store::cursors::POSITION_CURSOR;

/// `(language, text)` pairs; `en` first.
pub type Localized = &'static [(&'static str, &'static str)];

/// The type of an option value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    String,
    Integer,
}

/// One option of a factory's schema.
#[derive(Debug, Clone, Copy)]
pub struct ConfigOption {
    pub name: &'static str,
    pub kind: OptionKind,
    pub required: bool,
    pub display_names: Localized,
    pub descriptions: Localized,
    /// Default value text per language (usually none).
    pub default_values: Localized,
}

/// What a factory may use to build its loggers.
#[derive(Clone)]
pub struct FactoryContext {
    pub host: Arc<dyn HostFacts>,
    pub store: Arc<Store>,
    /// Whether the bases can take more records now (`None`: no spool, records go only to the
    /// local output). Loggers that read a source the OS keeps (the event log) read nothing
    /// while it says wait.
    pub delivery: Option<Arc<dyn DeliveryGate>>,
}

/// A kind of logger.
pub trait LoggerFactory: Send + Sync {
    /// Short name (`cpu-usage`).
    fn name(&self) -> &'static str;
    fn display_names(&self) -> Localized;
    fn descriptions(&self) -> Localized;
    /// The option schema (empty for the performance loggers).
    fn options(&self) -> &'static [ConfigOption] {
        &[]
    }
    /// Whether its records are performance metrics, which a full spool drops first (records
    /// of security loggers are kept longest).
    fn performance(&self) -> bool {
        false
    }
    /// Whether each run makes its records afresh (a check of the current state), so that a
    /// full spool drops them after performance records and before those of loggers whose
    /// records no run gives again (events, read from a position).
    fn periodic(&self) -> bool {
        false
    }
    /// Checks option values beyond their types (ranges, choices); called by
    /// [`validate_options`] once the types are right.
    fn check(&self, _config: &BTreeMap<String, OptionValue>) -> Result<(), String> {
        Ok(())
    }
    /// A fresh runner for the logger `name` with this (already validated) config. Called at
    /// every start, so per-run state (baselines) starts afresh.
    fn create(
        &self,
        context: &FactoryContext,
        name: &str,
        config: &BTreeMap<String, OptionValue>,
    ) -> Box<dyn LoggerRun>;
}

/// The text for `language`, falling back to `en`, then to the first entry.
pub fn localized(texts: Localized, language: &str) -> Option<&'static str> {
    texts
        .iter()
        .find(|(lang, _)| *lang == language)
        .or_else(|| texts.iter().find(|(lang, _)| *lang == "en"))
        .or(texts.first())
        .map(|(_, text)| *text)
}

fn localized_map(texts: Localized) -> Value {
    let mut map = Map::with_capacity(texts.len());
    for (lang, text) in texts {
        map.insert(*lang, Value::from(*text));
    }
    Value::Map(map)
}

/// FactoryInfo (§4.3): `name`, `display_names`, `descriptions`, `config_options`; all four
/// always present.
pub fn factory_info(factory: &dyn LoggerFactory) -> Value {
    let options: Vec<Value> = factory
        .options()
        .iter()
        .map(|option| {
            kraken_codec::map! {
                "name" => option.name,
                "type" => match option.kind { OptionKind::String => "string", OptionKind::Integer => "integer" },
                "is_required" => option.required,
                "display_names" => localized_map(option.display_names),
                "descriptions" => localized_map(option.descriptions),
                "default_values" => localized_map(option.default_values),
            }
        })
        .collect();
    kraken_codec::map! {
        sentry_protocol::names::factory_info::NAME => factory.name(),
        "display_names" => localized_map(factory.display_names()),
        "descriptions" => localized_map(factory.descriptions()),
        "config_options" => Value::Array(options),
    }
}

/// Checks `props` against the factory's schema and returns the typed config.
pub fn validate_options(
    factory: &dyn LoggerFactory,
    props: &Map,
) -> Result<BTreeMap<String, OptionValue>, String> {
    let schema = factory.options();
    let mut config = BTreeMap::new();
    for (key, value) in props.iter() {
        let Some(option) = schema.iter().find(|o| o.name == key.as_str()) else {
            let known: Vec<&str> = schema.iter().map(|o| o.name).collect();
            return Err(if known.is_empty() {
                format!("{} takes no options, got {key}", factory.name())
            } else {
                format!("unknown option {key} for {} (options: {})", factory.name(), known.join(", "))
            });
        };
        let typed = match (option.kind, value) {
            (OptionKind::String, Value::Str(text)) => OptionValue::Str(text.to_string()),
            (OptionKind::Integer, Value::Str(text)) => match text.trim().parse::<i32>() {
                Ok(n) => OptionValue::Int(i64::from(n)),
                Err(_) => return Err(format!("option {key} must be an integer, got {text:?}")),
            },
            (OptionKind::Integer, other) => match other.as_i32() {
                Some(n) => OptionValue::Int(i64::from(n)),
                None => {
                    return Err(format!(
                        "option {key} must be an integer within i32, got {}",
                        other.kind_name()
                    ));
                }
            },
            (OptionKind::String, other) => {
                return Err(format!("option {key} must be a string, got {}", other.kind_name()));
            }
        };
        if let OptionValue::Str(text) = &typed
            && option.required
            && text.trim().is_empty()
        {
            return Err(format!("option {key} must not be empty"));
        }
        config.insert(key.to_string(), typed);
    }
    if let Some(missing) = schema.iter().find(|o| o.required && !config.contains_key(o.name)) {
        return Err(format!("option {} is required by {}", missing.name, factory.name()));
    }
    factory.check(&config)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample;

    const SOURCE: ConfigOption = ConfigOption {
        name: "event_source",
        kind: OptionKind::String,
        required: true,
        display_names: &[("en", "Event Source"), ("ko", "이벤트 소스")],
        descriptions: &[("en", "Event Source"), ("ko", "이벤트 소스")],
        default_values: &[],
    };
    const LIMIT: ConfigOption = ConfigOption {
        name: "limit",
        kind: OptionKind::Integer,
        required: false,
        display_names: &[("en", "Limit")],
        descriptions: &[("en", "Limit")],
        default_values: &[],
    };

    impl LoggerFactory for Sample {
        fn name(&self) -> &'static str {
            "sample"
        }
        fn display_names(&self) -> Localized {
            &[("en", "Sample"), ("ko", "샘플")]
        }
        fn descriptions(&self) -> Localized {
            &[("en", "A sample")]
        }
        fn options(&self) -> &'static [ConfigOption] {
            &[SOURCE, LIMIT]
        }
        fn create(
            &self,
            _: &FactoryContext,
            _: &str,
            _: &BTreeMap<String, OptionValue>,
        ) -> Box<dyn LoggerRun> {
            unreachable!("not built in these tests")
        }
    }

    fn props(pairs: &[(&str, Value)]) -> Map {
        let mut map = Map::new();
        for (k, v) in pairs {
            map.insert(*k, v.clone());
        }
        map
    }

    #[test]
    fn options_are_typed_and_required_ones_checked() {
        let config =
            validate_options(&Sample, &props(&[("event_source", "System".into()), ("limit", Value::I64(5))]));
        assert_eq!(
            config.unwrap(),
            BTreeMap::from([
                ("event_source".to_owned(), OptionValue::Str("System".into())),
                ("limit".to_owned(), OptionValue::Int(5)),
            ])
        );
        let from_cli =
            validate_options(&Sample, &props(&[("event_source", "System".into()), ("limit", "7".into())]));
        assert_eq!(from_cli.unwrap()["limit"], OptionValue::Int(7));
        let cases = [
            (props(&[]), "option event_source is required by sample"),
            (props(&[("event_source", "".into())]), "option event_source must not be empty"),
            (props(&[("event_source", Value::I32(1))]), "option event_source must be a string, got i32"),
            (
                props(&[("event_source", "S".into()), ("limit", "many".into())]),
                "option limit must be an integer",
            ),
            (
                props(&[("event_source", "S".into()), ("colour", "red".into())]),
                "unknown option colour for sample",
            ),
        ];
        for (props, expected) in cases {
            let error = validate_options(&Sample, &props).unwrap_err();
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn factory_info_has_all_four_keys_and_locale_maps() {
        let info = factory_info(&Sample);
        let map = info.as_map().unwrap();
        let keys: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["name", "display_names", "descriptions", "config_options"]);
        assert_eq!(map["display_names"].as_map().unwrap()["ko"], Value::from("샘플"));
        let option = map["config_options"].as_array().unwrap()[0].as_map().unwrap().clone();
        assert_eq!(option["type"], Value::from("string"));
        assert_eq!(option["is_required"], Value::Bool(true));
        assert_eq!(option["default_values"], Value::Map(Map::new()));
    }

    #[test]
    fn lookups_fall_back_to_english() {
        assert_eq!(localized(Sample.display_names(), "ko"), Some("샘플"));
        assert_eq!(localized(Sample.descriptions(), "ko"), Some("A sample"));
        assert_eq!(localized(Sample.display_names(), "fr"), Some("Sample"));
    }
}
