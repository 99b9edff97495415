//! `kraken-sentry service run`, as the SCM starts it: connects to the service control
//! dispatcher, reports start pending while the configuration is read and the store opened,
//! running once the agent has started, and on STOP, SHUTDOWN or PRESHUTDOWN stop pending until
//! the loggers have committed, then stopped. A start that fails stops the service with a
//! service-specific exit code ([`ExitReason`]) and writes the reason to the Application event
//! log and to the service's log file (`%ProgramData%\KrakenSentry\logs\kraken-sentry.log`,
//! rotated), since a service has no console.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use anyhow::Context;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult, ServiceStatusHandle};
use windows_service::{define_windows_service, service_dispatcher};

use super::event_log;
use crate::agent::Agent;
use crate::config::{Config, program_data_dir};
use crate::rotating_file::RotatingFile;
use crate::service::key_files;
use crate::service::lifecycle::{ExitReason, Lifecycle, State, Status, StatusReporter};
use crate::service::manager::SERVICE_NAME;

/// The configuration file named on the service's command line (set before dispatching).
static CONFIG: OnceLock<Option<PathBuf>> = OnceLock::new();

/// The service's log file's size limit and the rotated files kept.
const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
const LOG_KEEP: u32 = 5;

define_windows_service!(ffi_service_main, service_main);

/// Hands this thread to the service control dispatcher until the service has stopped.
pub fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    let _ = CONFIG.set(config);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).context(
        "cannot reach the service control manager: `service run` is what the SCM starts; \
         in a console, use `kraken-sentry run`",
    )
}

/// Reports to the SCM through the service's status handle.
struct ScmReporter(ServiceStatusHandle);

impl StatusReporter for ScmReporter {
    fn report(&mut self, status: &Status) -> Result<(), String> {
        self.0.set_service_status(scm_status(status)).map_err(|e| e.to_string())
    }
}

/// The SCM's form of a status.
fn scm_status(status: &Status) -> ServiceStatus {
    let (current_state, controls_accepted) = match status.state {
        State::StartPending => (ServiceState::StartPending, ServiceControlAccept::empty()),
        State::Running => (
            ServiceState::Running,
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN | ServiceControlAccept::PRESHUTDOWN,
        ),
        State::StopPending => (ServiceState::StopPending, ServiceControlAccept::empty()),
        State::Stopped => (ServiceState::Stopped, ServiceControlAccept::empty()),
    };
    let exit_code = match status.exit {
        Some(reason) if reason != ExitReason::Asked => ServiceExitCode::ServiceSpecific(reason as u32),
        _ => ServiceExitCode::Win32(0),
    };
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state,
        controls_accepted,
        exit_code,
        checkpoint: status.checkpoint,
        wait_hint: status.wait_hint,
        process_id: None,
    }
}

/// Set by the control handler when the SCM asks the service to stop.
static STOP: tokio::sync::Notify = tokio::sync::Notify::const_new();
/// The service's reported life, once its status handle exists.
static LIFECYCLE: OnceLock<Lifecycle<ScmReporter>> = OnceLock::new();

/// The SCM's controls. It captures nothing, on purpose: `windows-service` frees the handler's
/// box after the first STOP, SHUTDOWN or PRESHUTDOWN, yet the SCM still delivers INTERROGATE
/// (which any interactive user may send) while the service stops; a handler with no state
/// has nothing to free.
fn control_handler(control: ServiceControl) -> ServiceControlHandlerResult {
    match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            tracing::info!(?control, "the service manager asks the service to stop");
            if let Some(lifecycle) = LIFECYCLE.get() {
                lifecycle.stopping();
            }
            STOP.notify_one();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    }
}

fn service_main(_arguments: Vec<OsString>) {
    init_log_file();
    let handle = match service_control_handler::register(SERVICE_NAME, control_handler) {
        Ok(handle) => handle,
        Err(error) => {
            tracing::error!(%error, "cannot register the service control handler");
            return;
        }
    };
    let lifecycle = LIFECYCLE.get_or_init(|| Lifecycle::start(ScmReporter(handle)));
    let reason = serve(lifecycle);
    tracing::info!(?reason, code = reason as u32, "service stopped");
    lifecycle.stopped(reason);
}

/// Starts the agent and runs it until the SCM asks it to stop; says why it ended.
fn serve(lifecycle: &Lifecycle<ScmReporter>) -> ExitReason {
    let config_path = CONFIG.get().cloned().flatten();
    let config = match Config::load(config_path.as_deref()) {
        Ok((config, source)) => {
            tracing::info!(config = %source, data_dir = %config.data_dir.display(), "configuration loaded");
            config
        }
        Err(error) => return start_failed(ExitReason::BadConfiguration, &format!("{error:#}")),
    };
    lifecycle.progress();
    if let Err(error) = key_files::check(&config) {
        return start_failed(ExitReason::ExposedKey, &format!("{error:#}"));
    }
    let agent = match Agent::start(config) {
        Ok(agent) => agent,
        Err(error) => return start_failed(ExitReason::StoreUnavailable, &format!("{error:#}")),
    };
    if !lifecycle.running() {
        tracing::info!("asked to stop while starting");
    }
    let ended = agent.run_until(async {
        STOP.notified().await;
        "stop requested by the service manager"
    });
    lifecycle.stopping();
    match ended {
        Ok(()) => ExitReason::Asked,
        Err(error) => {
            let message = format!("the agent stopped on an error: {error:#}");
            tracing::error!("{message}");
            event_log::report_error(event_log::STOPPED_ON_ERROR, &message);
            ExitReason::Failed
        }
    }
}

/// Logs why the service cannot start, where an administrator looks, and gives the exit reason.
fn start_failed(reason: ExitReason, error: &str) -> ExitReason {
    let message =
        format!("Kraken Sentry cannot start (service-specific exit code {}): {error}", reason as u32);
    tracing::error!("{message}");
    if !event_log::report_error(event_log::START_FAILED, &message) {
        tracing::warn!("the reason could not be written to the Application event log");
    }
    reason
}

/// Diagnostics to the rotated log file (a service has no console); to nowhere if it cannot
/// be opened, which the Application event log then says.
fn init_log_file() {
    let path = program_data_dir().join("logs").join("kraken-sentry.log");
    match RotatingFile::open(&path, LOG_MAX_BYTES, LOG_KEEP) {
        Ok(file) => {
            let level = std::env::var("RUST_LOG")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(tracing::Level::INFO);
            let _ = tracing_subscriber::fmt()
                .with_max_level(level)
                .with_writer(Mutex::new(file))
                .with_ansi(false)
                .with_target(false)
                .try_init();
        }
        Err(error) => {
            event_log::report_error(
                event_log::START_FAILED,
                &format!("cannot open the log file {}: {error}", path.display()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn status(state: State, exit: Option<ExitReason>) -> ServiceStatus {
        scm_status(&Status { state, checkpoint: 3, wait_hint: Duration::from_secs(7), exit })
    }

    #[test]
    fn only_a_running_service_takes_stop_shutdown_and_preshutdown() {
        let stops =
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN | ServiceControlAccept::PRESHUTDOWN;
        assert_eq!(status(State::Running, None).controls_accepted, stops);
        for state in [State::StartPending, State::StopPending, State::Stopped] {
            assert_eq!(status(state, None).controls_accepted, ServiceControlAccept::empty(), "{state:?}");
        }
        let pending = status(State::StopPending, None);
        assert_eq!(
            (pending.current_state, pending.checkpoint, pending.wait_hint),
            (ServiceState::StopPending, 3, Duration::from_secs(7))
        );
    }

    #[test]
    fn a_stop_on_a_problem_is_a_service_specific_exit_code_and_an_asked_stop_is_none() {
        assert_eq!(status(State::Stopped, Some(ExitReason::Asked)).exit_code, ServiceExitCode::Win32(0));
        assert_eq!(
            status(State::Stopped, Some(ExitReason::BadConfiguration)).exit_code,
            ServiceExitCode::ServiceSpecific(1)
        );
        assert_eq!(
            status(State::Stopped, Some(ExitReason::ExposedKey)).exit_code,
            ServiceExitCode::ServiceSpecific(3)
        );
    }
}
