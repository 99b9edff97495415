//! Windows events as the sentry's records: [`mapping`] turns one event's XML (rendered live or
//! read from an `.evtx` file) into a `windows-event-logger` record.

pub mod mapping;

pub use mapping::{EventExtras, MappedEvent, MappingError, MappingOptions, map_event};
