//! `kraken-sentry service run`, as the SCM starts it: connects to the service control
//! dispatcher, reports start pending while the configuration is read and the store opened,
//! running once the agent has started, and on STOP, SHUTDOWN or PRESHUTDOWN stop pending until
//! the loggers have committed, then stopped. A start that fails stops the service with a
//! service-specific exit code ([`ExitReason`]) and writes the reason to the Application event
//! log and to the service's log file (`%ProgramData%\KrakenSentry\logs\kraken-sentry.log`,
//! rotated), since a service has no console.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

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

fn service_main(_arguments: Vec<OsString>) {
    init_log_file();
    let stop = Arc::new(tokio::sync::Notify::new());
    let lifecycle: Arc<OnceLock<Lifecycle<ScmReporter>>> = Arc::default();
    let handler = {
        let (stop, lifecycle) = (stop.clone(), lifecycle.clone());
        move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
                tracing::info!(?control, "the service manager asks the service to stop");
                if let Some(lifecycle) = lifecycle.get() {
                    lifecycle.stopping();
                }
                stop.notify_one();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let handle = match service_control_handler::register(SERVICE_NAME, handler) {
        Ok(handle) => handle,
        Err(error) => {
            tracing::error!(%error, "cannot register the service control handler");
            return;
        }
    };
    let lifecycle = lifecycle.get_or_init(|| Lifecycle::start(ScmReporter(handle)));
    let reason = serve(lifecycle, stop);
    tracing::info!(?reason, code = reason as u32, "service stopped");
    lifecycle.stopped(reason);
}

/// Starts the agent and runs it until the SCM asks it to stop; says why it ended.
fn serve(lifecycle: &Lifecycle<ScmReporter>, stop: Arc<tokio::sync::Notify>) -> ExitReason {
    let config_path = CONFIG.get().cloned().flatten();
    let config = match Config::load(config_path.as_deref()) {
        Ok((config, source)) => {
            tracing::info!(config = %source, data_dir = %config.data_dir.display(), "configuration loaded");
            config
        }
        Err(error) => return start_failed(ExitReason::BadConfiguration, &format!("{error:#}")),
    };
    let agent = match Agent::start(config) {
        Ok(agent) => agent,
        Err(error) => return start_failed(ExitReason::StoreUnavailable, &format!("{error:#}")),
    };
    if !lifecycle.running() {
        tracing::info!("asked to stop while starting");
    }
    let ended = agent.run_until(async move {
        stop.notified().await;
        "stop requested by the service manager"
    });
    lifecycle.stopping();
    match ended {
        Ok(()) => ExitReason::Asked,
        Err(error) => {
            let message = format!("the agent stopped on an error: {error:#}");
            tracing::error!("{message}");
            event_log::report_error(event_log::START_FAILED, &message);
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
