//! Whether a logger that reads from a source the OS keeps (the Windows event log) may read now:
//! the question [`DeliveryGate`] answers for it, implemented by the spool
//! (`crate::spool::pressure`), so that the source stays the buffer while the bases cannot take
//! more.

/// What a positioned logger may do this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Read, making records of at most about this many bytes.
    Open { budget_bytes: u64 },
    /// Read nothing: no base has connected the logger yet.
    Hold(String),
    /// Read nothing: the spool is nearly full or refuses writes.
    Pause(String),
}

/// Answers, before each run of a positioned logger, whether it may read.
pub trait DeliveryGate: Send + Sync {
    /// What `logger` may do this run, wanting to make up to `wants_bytes` of records. An
    /// `Open` budget (at most that) is held for the run, other loggers' budgets leaving it out,
    /// until [`DeliveryGate::settle`].
    fn check(&self, logger: &str, wants_bytes: u64) -> Result<Delivery, String>;

    /// The bytes of records `logger`'s run made, after its budget (0 when it read nothing or
    /// failed): they stay held until its next check, by when they are committed.
    fn settle(&self, _logger: &str, _bytes: u64) {}
}
