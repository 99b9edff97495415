//! Windows events as they come out of a source, before they become records.
//!
//! An [`EventSource`] hands out events (their XML, as Windows renders them) in order, in
//! batches, from a *position* the caller keeps: an opaque text the source wrote (a bookmark's
//! XML for a live log, `evtx:...` for a file). The caller stores the position a batch ends at
//! together with what it made of the batch, and passes it back to the next read; a read from an
//! older position simply reads again from there, so a batch the caller could not keep is never
//! lost.
//!
//! Sources:
//! - [`evtx_file::EvtxFileSource`]: an `.evtx` file (every platform);
//! - [`subscription::SubscriptionSource`]: a live channel through a pull subscription, written once
//!   over [`subscription::SubscriptionApi`]; the Windows API implements it in
//!   `windows/eventlog.rs` ([`live_source`]), and [`scripted::ScriptedApi`] implements it in memory
//!   for tests, with every documented error on call.
//!
//! A live source is wrapped in [`archive_fill::ArchiveFill`], which reads the events a log set
//! to archive itself when full moved into its archive files before they were read.
//!
//! Besides events a batch can carry a [`Gap`] (events that can no longer be read: a bookmark whose
//! record was cleared or overwritten, a file replaced) and a [`Damage`] (a record or chunk of a
//! file that cannot be read). Both say where they are, so the caller reports them instead of
//! losing them silently.

pub mod accounts;
pub mod archive_fill;
mod cache;
pub mod evtx_file;
pub mod live;
pub mod query;
pub mod scripted;
pub mod source;
pub mod subscription;

pub use evtx_file::{EvtxFileSource, FileOptions};
pub use live::{channels, live_source};
pub use source::{Batch, Damage, EventSource, Gap, SourceError, SourceEvent, SourceItem};
pub use subscription::{ApiError, LiveOptions, StartAt, SubscribeFrom, SubscriptionApi, SubscriptionSource};
