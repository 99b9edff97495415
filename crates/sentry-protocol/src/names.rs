//! Service and method names of the Kraken sentry protocol, as the original Java peers spell
//! them (protocol spec §3 and §4).
//!
//! A base reaches the sentry's service [`service::SENTRY`] with one RPC method,
//! [`sentry_method::RUN`], whose first argument names a sentry method; a sentry reaches the
//! base's service [`service::BASE`] with the [`base_method`] names.

/// RPC service names.
pub mod service {
    /// The sentry's service, which bases call (`run`).
    pub const SENTRY: &str = "kraken-sentry";
    /// The base's service, which sentries call (`hello`, `onLog`...).
    pub const BASE: &str = "kraken-base";
}

/// Methods of the base's service.
pub mod base_method {
    /// `hello(guid)`: the sentry names itself on its command connection.
    pub const HELLO: &str = "hello";
    /// `setLogChannel(guid, nonce)`: the sentry's second connection presents its nonce.
    pub const SET_LOG_CHANNEL: &str = "setLogChannel";
    /// `onLog(guid, loggerName, {date, msg, params})`: one record, a post (the original's).
    pub const ON_LOG: &str = "onLog";
    /// `onLogBatch(guid, records, epoch)`: an acknowledged batch (this project's extension).
    pub const ON_LOG_BATCH: &str = "onLogBatch";
    /// `factoryAdded(guid, info)`.
    pub const FACTORY_ADDED: &str = "factoryAdded";
    /// `factoryRemoved(guid, name)`.
    pub const FACTORY_REMOVED: &str = "factoryRemoved";
    /// `loggerAdded(guid, info)`.
    pub const LOGGER_ADDED: &str = "loggerAdded";
    /// `loggerRemoved(guid, name)`.
    pub const LOGGER_REMOVED: &str = "loggerRemoved";
    /// `loggerStarted(guid, name, interval)`.
    pub const LOGGER_STARTED: &str = "loggerStarted";
    /// `loggerStopped(guid, name)`.
    pub const LOGGER_STOPPED: &str = "loggerStopped";
    /// Every logger event post, in the order above.
    pub const LOGGER_EVENTS: &[&str] =
        &[FACTORY_ADDED, FACTORY_REMOVED, LOGGER_ADDED, LOGGER_REMOVED, LOGGER_STARTED, LOGGER_STOPPED];
}

/// The base's `hello` reply: a map (an original base replies null).
pub mod hello {
    /// The key listing the extensions the base speaks.
    pub const EXTENSIONS: &str = "extensions";
    /// The extension that says the base acknowledges `onLogBatch`.
    pub const ON_LOG_BATCH: &str = super::base_method::ON_LOG_BATCH;
}

/// Keys of a sentry's LoggerInfo map (`getLoggers`, `loggerAdded`) that a base reads.
pub mod logger_info {
    /// The logger's name.
    pub const LOGGER_NAME: &str = "logger_name";
    /// The logger's interval in milliseconds (an I32).
    pub const INTERVAL: &str = "interval";
}

/// Keys of a sentry's FactoryInfo map (`getLoggerFactories`, `factoryAdded`) that a base reads.
pub mod factory_info {
    /// The factory's name.
    pub const NAME: &str = "name";
}

/// The sentry's methods, reached through `run(methodName, params)`.
pub mod sentry_method {
    /// The one RPC method of the sentry's service.
    pub const RUN: &str = "run";
    /// The features of the sentry's command handlers.
    pub const GET_FEATURES: &str = "getFeatures";

    /// Asks the sentry to open a log channel presenting a nonce (a post).
    pub const CONNECT_LOG_CHANNEL: &str = "connectLogChannel";
    /// Closes the log channel.
    pub const DISCONNECT_LOG_CHANNEL: &str = "disconnectLogChannel";

    pub const GET_LOGGER_FACTORIES: &str = "getLoggerFactories";
    pub const GET_LOGGER_FACTORY: &str = "getLoggerFactory";
    pub const GET_LOGGERS: &str = "getLoggers";
    pub const CREATE_LOGGER: &str = "createLogger";
    pub const REMOVE_LOGGER: &str = "removeLogger";
    pub const START_LOGGER: &str = "startLogger";
    pub const STOP_LOGGER: &str = "stopLogger";
    /// The calling base wants a logger's records.
    pub const CONNECT_LOGGER: &str = "connectLogger";
    /// The calling base no longer wants a logger's records.
    pub const DISCONNECT_LOGGER: &str = "disconnectLogger";

    pub const GET_PROCESSES: &str = "getProcesses";
    pub const GET_ARP_CACHE: &str = "getArpCache";
    pub const GET_ARP_CACHE6: &str = "getArpCache6";
    pub const GET_ROUTING_TABLE: &str = "getRoutingTable";
    pub const GET_ROUTING_TABLE6: &str = "getRoutingTable6";
    pub const GET_NET_STAT: &str = "getNetStat";
    pub const GET_HOST_NAME: &str = "getHostName";
    pub const GET_SYSTEM_INFO: &str = "getSystemInfo";
    pub const GET_DATE: &str = "getDate";
    pub const GET_DISK_PARTITIONS: &str = "getDiskPartitions";
    pub const GET_NETWORK_INTERFACES: &str = "getNetworkInterfaces";
    pub const LIST_FILES: &str = "listFiles";
}
