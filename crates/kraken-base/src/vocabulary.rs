//! The protocol names the base speaks, each spelled in one place: the services, the methods
//! sentries call on the base, the sentry commands the base runs, and the fields it reads from
//! the sentry's replies. They are spelled exactly as the original protocol spells them; a shared
//! vocabulary crate is meant to replace this module, so nothing else in the crate repeats them.

/// The service sentries open on the base.
pub const SERVICE_NAME: &str = "kraken-base";
/// The sentry-side service the base calls.
pub const SENTRY_SERVICE: &str = "kraken-sentry";
/// The base's own RPC GUID, presented when connections are peered (the same text as
/// [`SERVICE_NAME`], but another name).
pub const BASE_RPC_GUID: &str = "kraken-base";

/// `hello(guid)`: a sentry names itself.
pub const HELLO: &str = "hello";
/// `setLogChannel(guid, nonce)`: a sentry's second connection becomes its log channel.
pub const SET_LOG_CHANNEL: &str = "setLogChannel";
/// `onLog(guid, loggerName, record)`: one record, posted.
pub const ON_LOG: &str = "onLog";
/// `onLogBatch(guid, records[, epoch])`: acknowledged records (this base's extension).
pub const ON_LOG_BATCH: &str = "onLogBatch";

/// Sentry events the base stores.
pub const LOGGER_ADDED: &str = "loggerAdded";
pub const LOGGER_REMOVED: &str = "loggerRemoved";
pub const LOGGER_STARTED: &str = "loggerStarted";
pub const LOGGER_STOPPED: &str = "loggerStopped";
pub const FACTORY_ADDED: &str = "factoryAdded";
pub const FACTORY_REMOVED: &str = "factoryRemoved";

/// The sentry method every command goes through: `run(command, params)`.
pub const RUN: &str = "run";
/// Sentry commands the base runs.
pub const CONNECT_LOG_CHANNEL: &str = "connectLogChannel";
pub const GET_LOGGER_FACTORIES: &str = "getLoggerFactories";
pub const GET_LOGGERS: &str = "getLoggers";
pub const CREATE_LOGGER: &str = "createLogger";
pub const START_LOGGER: &str = "startLogger";
pub const STOP_LOGGER: &str = "stopLogger";
pub const CONNECT_LOGGER: &str = "connectLogger";
pub const DISCONNECT_LOGGER: &str = "disconnectLogger";

/// The name field of a sentry's `LoggerInfo`.
pub const LOGGER_INFO_NAME: &str = "logger_name";
/// The name field of a sentry's `FactoryInfo`.
pub const FACTORY_INFO_NAME: &str = "name";
