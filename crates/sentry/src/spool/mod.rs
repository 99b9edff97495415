//! The spool: records waiting for the bases that want them, durable in the state store.
//!
//! * [`sink`]: the record sink that commits each run's records to the spool of every base that
//!   connected their logger, with sequence numbers, the spool's bound and drop reports.
//! * [`queries`]: the store's spool tables: subscriptions, append with the bound, batches,
//!   acknowledgements, totals, the spool epoch, the spools of bases no longer configured.
//! * [`sender`]: a link's sender, which batches what waits and deletes what the base has.
//! * [`pressure`]: whether the bases can take more now, for loggers whose source is the buffer.
//!
//! A record enters the spool before it is sent and leaves it only once its base has it, so a
//! base that is away, or an agent that crashes, loses nothing.

pub mod pressure;
pub mod queries;
pub mod sender;
pub mod sink;

pub use pressure::SpoolPressure;
pub use queries::{DropClass, SpoolEntry, SpoolSummary, SpooledRecord};
pub use sender::SpoolAccess;
pub use sink::{DROP_REPORT_LOGGER, PENDING_MAX_BYTES, SpoolSink};
