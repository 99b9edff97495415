//! Windows events as the sentry's records: [`mapping`] turns one event's XML (rendered live or
//! read from an `.evtx` file) into a `windows-event-logger` record, and [`records`] turns a
//! source's batch (events, gaps, damage) into records.

pub mod mapping;
pub mod records;

pub use mapping::{EventExtras, MappedEvent, MappingError, MappingOptions, map_event};
pub use records::ItemMapping;
