//! `process-check`: every run, each process of the checklist with whether it runs and whether
//! that is as expected.
//!
//! The check is level-triggered: every run reports every listed process, so an allowed process
//! that is already down when the agent starts is reported at once (BUG-39). Names compare
//! case-insensitively with the process image name (`notepad.exe`) or, on Linux, the kernel
//! `comm` (a longer name matches by its first 15 bytes, all `comm` keeps) or the executable's
//! file name (readable only for the agent's own user unless it runs as root). Records add `running` (bool) and `status`
//! (`ok`|`warning`) to the seed's `name` and `policy`, so no one parses `msg`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kraken_codec::{Map, Value};
use sentry_host::{HostFacts, ProcessSnapshot};

use super::factory::{FactoryContext, Localized, LoggerFactory};
use super::factory::{LoggerRun, RunOutput};
use crate::store::{OptionValue, Policy, ProcessRule, Store};
use sentry_protocol::record::params;

pub struct ProcessCheckFactory;

impl LoggerFactory for ProcessCheckFactory {
    fn name(&self) -> &'static str {
        "process-check"
    }
    fn periodic(&self) -> bool {
        true
    }
    fn display_names(&self) -> Localized {
        &[("en", "Process Check"), ("ko", "프로세스 점검")]
    }
    fn descriptions(&self) -> Localized {
        &[("en", "Check process running status periodically"), ("ko", "프로세스 실행 상태를 주기적으로 점검")]
    }
    fn create(
        &self,
        context: &FactoryContext,
        _: &str,
        _: &BTreeMap<String, OptionValue>,
    ) -> Box<dyn LoggerRun> {
        Box::new(ProcessCheck { host: context.host.clone(), store: context.store.clone() })
    }
}

struct ProcessCheck {
    host: Arc<dyn HostFacts>,
    store: Arc<Store>,
}

impl LoggerRun for ProcessCheck {
    fn run_once(&mut self) -> Result<RunOutput, String> {
        let rules = self.store.process_rules().map_err(|e| e.to_string())?;
        if rules.is_empty() {
            return Ok(RunOutput::default());
        }
        let processes = self.host.processes().map_err(|e| e.to_string())?;
        Ok(check_records(&rules, &running_names(&processes)).into())
    }
}

/// Lower-cased names every running process answers to.
pub fn running_names(processes: &[ProcessSnapshot]) -> HashSet<String> {
    let mut names = HashSet::with_capacity(processes.len() * 2);
    for process in processes {
        names.insert(process.name.to_lowercase());
        if let Some(path) = &process.image_path
            && let Some(file) = path.rsplit(['/', '\\']).next()
        {
            names.insert(file.to_lowercase());
        }
    }
    names
}

/// Linux keeps only the first 15 bytes of a process name (`comm`); a longer rule name also
/// matches its first 15 bytes there.
const COMM_LEN: Option<usize> = if cfg!(target_os = "linux") { Some(15) } else { None };

fn is_running(name: &str, running: &HashSet<String>) -> bool {
    if running.contains(name) {
        return true;
    }
    match COMM_LEN {
        Some(len) if name.len() > len && name.is_char_boundary(len) => running.contains(&name[..len]),
        _ => false,
    }
}

/// One record per rule.
pub fn check_records(rules: &[ProcessRule], running: &HashSet<String>) -> Vec<Map> {
    rules
        .iter()
        .map(|rule| {
            let is_running = is_running(&rule.name, running);
            let ok = match rule.policy {
                Policy::Allow => is_running,
                Policy::Deny => !is_running,
            };
            let status = if ok { "ok" } else { "warning" };
            let state = if is_running { "is running" } else { "is not running" };
            params(
                "processcheck",
                format!("process check: {status}, [{}] {state}", rule.name),
                [
                    ("name", Value::from(rule.name.as_str())),
                    ("policy", Value::from(rule.policy.as_str())),
                    ("running", Value::Bool(is_running)),
                    ("status", Value::from(status)),
                ],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(name: &str, path: Option<&str>) -> ProcessSnapshot {
        ProcessSnapshot {
            pid: 1,
            parent_pid: None,
            name: name.into(),
            image_path: path.map(str::to_owned),
            working_set: None,
            cpu_time: None,
            start_stamp: None,
        }
    }

    #[test]
    fn every_rule_is_reported_every_run() {
        let running = running_names(&[
            process("Notepad.exe", Some(r"C:\Windows\notepad.exe")),
            process("kworker/0:1", None),
            process("systemd-journal", Some("/usr/lib/systemd/systemd-journald")),
        ]);
        let rules = [
            ProcessRule { name: "notepad.exe".into(), policy: Policy::Allow },
            ProcessRule { name: "sshd".into(), policy: Policy::Allow },
            ProcessRule { name: "nc".into(), policy: Policy::Deny },
            ProcessRule { name: "systemd-journald".into(), policy: Policy::Deny },
        ];
        let records = check_records(&rules, &running);
        let summary: Vec<(Value, Value, Value)> =
            records.iter().map(|r| (r["name"].clone(), r["running"].clone(), r["status"].clone())).collect();
        assert_eq!(
            summary,
            [
                (Value::from("notepad.exe"), Value::Bool(true), Value::from("ok")),
                (Value::from("sshd"), Value::Bool(false), Value::from("warning")),
                (Value::from("nc"), Value::Bool(false), Value::from("ok")),
                (Value::from("systemd-journald"), Value::Bool(true), Value::from("warning")),
            ]
        );
        assert_eq!(records[1]["msg"], Value::from("process check: warning, [sshd] is not running"));
        assert_eq!(records[3]["msg"], Value::from("process check: warning, [systemd-journald] is running"));
        assert_eq!(records[1]["policy"], Value::from("allow"));
        assert_eq!(records[1]["logtype"], Value::from("processcheck"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn long_names_match_the_15_bytes_linux_keeps() {
        // Another user's process: no exe path, only the cut `comm`.
        let running = running_names(&[process("systemd-journal", None)]);
        let rules = [ProcessRule { name: "systemd-journald".into(), policy: Policy::Deny }];
        assert_eq!(check_records(&rules, &running)[0]["running"], Value::Bool(true));
    }
}
