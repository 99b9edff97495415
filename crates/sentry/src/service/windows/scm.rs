//! The Windows service control manager behind [`ServiceManager`]: `KrakenSentry`, its own
//! process, started automatically (delayed) as LocalSystem (the Security log needs it), with
//! the restarts of [`crate::service::recovery`]; installing registers the Application event
//! log source the service writes its start failures to, and restricts
//! `%ProgramData%\KrakenSentry` (configuration, keys, state) to SYSTEM and the Administrators.

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use windows_service::service::{
    Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceExitCode,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState,
    ServiceType,
};
use windows_service::service_manager::{ServiceManager as Scm, ServiceManagerAccess};

use super::{acl, event_log};
use crate::config::program_data_dir;
use crate::service::manager::{DESCRIPTION, DISPLAY_NAME, InstallOptions, SERVICE_NAME, ServiceManager};
use crate::service::recovery::{Recovery, recovery};

/// `ERROR_SERVICE_EXISTS`.
const SERVICE_EXISTS: i32 = 1073;
/// `ERROR_SERVICE_DOES_NOT_EXIST`.
const SERVICE_DOES_NOT_EXIST: i32 = 1060;
/// `ERROR_INVALID_LEVEL`: a configuration the SCM does not know.
const INVALID_LEVEL: i32 = 124;
/// `ERROR_SERVICE_ALREADY_RUNNING`.
const ALREADY_RUNNING: i32 = 1056;
/// `ERROR_SERVICE_CANNOT_ACCEPT_CTRL`: starting or stopping, it takes no control now.
const CANNOT_ACCEPT_CONTROL: i32 = 1061;
/// `ERROR_SERVICE_NOT_ACTIVE`.
const NOT_ACTIVE: i32 = 1062;
/// How long `stop` waits for the service to report stopped.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// The local computer's SCM.
pub struct WindowsServices;

impl WindowsServices {
    fn scm(access: ServiceManagerAccess) -> anyhow::Result<Scm> {
        Scm::local_computer(None::<&str>, access)
            .context("cannot open the service control manager (run this as an administrator)")
    }

    fn open(access: ServiceAccess) -> anyhow::Result<Service> {
        Self::scm(ServiceManagerAccess::CONNECT)?.open_service(SERVICE_NAME, access).map_err(|e| {
            match os_error(&e) {
                Some(SERVICE_DOES_NOT_EXIST) => {
                    anyhow::anyhow!("the {SERVICE_NAME} service is not installed")
                }
                _ => anyhow::Error::new(e).context(format!("cannot open the {SERVICE_NAME} service")),
            }
        })
    }
}

/// The service's registration for `options`: the SCM starts `<exe> service run --config <file>`.
pub fn service_info(options: &InstallOptions) -> ServiceInfo {
    ServiceInfo {
        name: SERVICE_NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: options.executable.clone(),
        launch_arguments: vec![
            "service".into(),
            "run".into(),
            "--config".into(),
            options.config.clone().into(),
        ],
        dependencies: Vec::new(),
        account_name: None, // LocalSystem
        account_password: None,
    }
}

/// The SCM's failure actions for a recovery policy.
pub fn failure_actions(policy: &Recovery) -> ServiceFailureActions {
    ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(policy.reset_after),
        reboot_msg: None,
        command: None,
        actions: Some(
            policy
                .restart_delays
                .iter()
                .map(|delay| ServiceAction { action_type: ServiceActionType::Restart, delay: *delay })
                .collect(),
        ),
    }
}

impl ServiceManager for WindowsServices {
    fn install(&self, options: &InstallOptions) -> anyhow::Result<()> {
        let home = program_data_dir();
        acl::protect_directory(&home)
            .with_context(|| format!("cannot restrict {} to SYSTEM and Administrators", home.display()))?;
        if options.protect_program_dir
            && let Some(program_dir) = options.executable.parent()
        {
            acl::protect_program_directory(program_dir).with_context(|| {
                format!("cannot restrict {} to SYSTEM and Administrators", program_dir.display())
            })?;
        }
        let info = service_info(options);
        let access = ServiceAccess::CHANGE_CONFIG | ServiceAccess::START | ServiceAccess::QUERY_STATUS;
        let scm = Self::scm(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
        let service = match scm.create_service(&info, access) {
            Ok(service) => service,
            Err(error) if os_error(&error) == Some(SERVICE_EXISTS) => {
                let service =
                    scm.open_service(SERVICE_NAME, access).context("cannot open the existing service")?;
                service.change_config(&info).context("cannot update the existing service")?;
                service
            }
            Err(error) => return Err(error).context(format!("cannot create the {SERVICE_NAME} service")),
        };
        service.set_description(DESCRIPTION).context("cannot set the service's description")?;
        unless_unknown(service.set_delayed_auto_start(true), "a delayed automatic start")?;
        let policy = recovery();
        service
            .update_failure_actions(failure_actions(&policy))
            .context("cannot set the restarts on failure")?;
        unless_unknown(
            service.set_failure_actions_on_non_crash_failures(policy.on_non_crash_failures),
            "restarts on non-crash failures",
        )?;
        event_log::register_source(&options.executable).context("cannot register the event log source")?;
        if options.start {
            start(&service).context("installed, but cannot start the service")?;
        }
        Ok(())
    }

    fn uninstall(&self) -> anyhow::Result<()> {
        let service = Self::open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE)?;
        if service.query_status()?.current_state != ServiceState::Stopped {
            stop_and_wait(&service)?;
        }
        service.delete().context("cannot delete the service")?;
        event_log::unregister_source();
        Ok(())
    }

    fn start(&self) -> anyhow::Result<()> {
        start(&Self::open(ServiceAccess::START)?).context("cannot start the service")
    }

    fn stop(&self) -> anyhow::Result<()> {
        let service = Self::open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP)?;
        stop_and_wait(&service)
    }

    fn status(&self) -> anyhow::Result<String> {
        let status = Self::open(ServiceAccess::QUERY_STATUS)?.query_status()?;
        let state = state_name(status.current_state);
        Ok(match (status.current_state, status.exit_code) {
            (ServiceState::Stopped, ServiceExitCode::ServiceSpecific(code)) => {
                format!("{state} (service-specific exit code {code})")
            }
            (ServiceState::Stopped, ServiceExitCode::Win32(code)) if code != 0 => {
                format!("{state} (exit code {code})")
            }
            _ => state.to_owned(),
        })
    }
}

/// Starts the service; one already running is left running, saying so (it reads its new
/// configuration at its next start).
fn start(service: &Service) -> windows_service::Result<()> {
    match service.start(&[] as &[&OsStr]) {
        Err(error) if os_error(&error) == Some(ALREADY_RUNNING) => {
            eprintln!(
                "warning: the service was already running; `service stop` then `service start` to restart it"
            );
            Ok(())
        }
        other => other,
    }
}

/// A configuration step's result, where a service manager that does not know the setting
/// (`ERROR_INVALID_LEVEL`: Wine's, for the delayed start and the non-crash flag; Windows has
/// both since Vista) is a warning, not a failed install.
fn unless_unknown(result: windows_service::Result<()>, setting: &str) -> anyhow::Result<()> {
    match result {
        Err(error) if os_error(&error) == Some(INVALID_LEVEL) => {
            eprintln!("warning: this service manager does not support {setting}; installed without it");
            Ok(())
        }
        other => other.with_context(|| format!("cannot set {setting}")),
    }
}

/// Asks the service to stop, then waits until it reports stopped. A service still starting
/// cannot take the request yet (`ERROR_SERVICE_CANNOT_ACCEPT_CTRL`): it is asked again once
/// running; one already stopping is waited for.
fn stop_and_wait(service: &Service) -> anyhow::Result<()> {
    let deadline = Instant::now() + STOP_WAIT;
    let mut asked = false;
    loop {
        let state = service.query_status()?.current_state;
        if state == ServiceState::Stopped {
            return Ok(());
        }
        if !asked && state != ServiceState::StopPending && state != ServiceState::StartPending {
            match service.stop() {
                Ok(_) => asked = true,
                // It stopped, or began to, since the query.
                Err(error) if matches!(os_error(&error), Some(NOT_ACTIVE | CANNOT_ACCEPT_CONTROL)) => {}
                Err(error) => return Err(error).context("cannot stop the service"),
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("the service is still {} after {STOP_WAIT:?}", state_name(state));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The SCM's names for the states (`sc query` prints the same).
fn state_name(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Stopped => "STOPPED",
        ServiceState::StartPending => "START_PENDING",
        ServiceState::StopPending => "STOP_PENDING",
        ServiceState::Running => "RUNNING",
        ServiceState::ContinuePending => "CONTINUE_PENDING",
        ServiceState::PausePending => "PAUSE_PENDING",
        ServiceState::Paused => "PAUSED",
    }
}

/// The Win32 error code behind a windows-service error, if any.
fn os_error(error: &windows_service::Error) -> Option<i32> {
    match error {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn the_failure_actions_restart_after_5_30_60_seconds_and_reset_after_a_day() {
        let actions = failure_actions(&recovery());
        let steps: Vec<(ServiceActionType, u64)> =
            actions.actions.unwrap().iter().map(|a| (a.action_type, a.delay.as_secs())).collect();
        assert_eq!(
            steps,
            [
                (ServiceActionType::Restart, 5),
                (ServiceActionType::Restart, 30),
                (ServiceActionType::Restart, 60)
            ]
        );
        assert_eq!(actions.reset_period, ServiceFailureResetPeriod::After(Duration::from_secs(86_400)));
        assert!(actions.reboot_msg.is_none() && actions.command.is_none(), "left unchanged");
    }

    #[test]
    fn the_scm_runs_the_service_entry_with_the_configuration_file() {
        let options = InstallOptions {
            executable: r"C:\Program Files\Kraken Sentry\kraken-sentry.exe".into(),
            config: r"C:\ProgramData\KrakenSentry\sentry.toml".into(),
            start: false,
            protect_program_dir: false,
        };
        let info = service_info(&options);
        let expected: Vec<OsString> =
            ["service", "run", "--config", r"C:\ProgramData\KrakenSentry\sentry.toml"]
                .map(OsString::from)
                .to_vec();
        assert_eq!(info.launch_arguments, expected);
        assert_eq!((info.start_type, info.account_name), (ServiceStartType::AutoStart, None));
    }
}
