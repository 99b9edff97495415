//! An output's durable cursor: the id of the last record it delivered, in
//! `data_dir/forward/NAME.cursor` as `STORAGE-KIND ID`, replaced atomically (written beside,
//! synced, renamed, the folder synced) so a crash leaves the old cursor or the new one.
//!
//! Ids belong to one storage: a cursor written for another kind (the base moved from SQLite
//! to ClickHouse) is not used, and the output starts as a new one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::private_files;

/// One output's cursor file.
#[derive(Debug, Clone)]
pub struct CursorFile {
    path: PathBuf,
    kind: String,
}

impl CursorFile {
    /// The cursor of output `name` in `dir`, for a storage of `kind`.
    pub fn new(dir: &Path, name: &str, kind: &str) -> CursorFile {
        CursorFile { path: dir.join(format!("{name}.cursor")), kind: kind.to_owned() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved id; `None` when there is none for this storage. A file that cannot be read as
    /// a cursor is an error: guessing would send every record again, or skip some.
    pub fn load(&self) -> anyhow::Result<Option<i64>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).with_context(|| format!("cannot read {}", self.path.display())),
        };
        let Some((kind, id)) = text.trim().split_once(' ') else {
            bail!(
                "{}: not a forward cursor (`KIND ID`); delete it to start this output again from its `start`",
                self.path.display()
            );
        };
        let Ok(id) = id.parse::<i64>() else {
            bail!(
                "{}: the id {id:?} is not a number; delete the file to start this output again",
                self.path.display()
            );
        };
        if kind != self.kind {
            tracing::warn!(
                file = %self.path.display(),
                "the forward cursor is for {kind} storage, the base now uses {}: starting this output as a new one",
                self.kind
            );
            return Ok(None);
        }
        Ok(Some(id))
    }

    /// Saves `id` durably.
    pub fn save(&self, id: i64) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        private_files::private_dir(dir).with_context(|| format!("cannot make {}", dir.display()))?;
        let mut temporary = self.path.as_os_str().to_owned();
        temporary.push(".new");
        let temporary = PathBuf::from(temporary);
        let mut file =
            fs::File::create(&temporary).with_context(|| format!("cannot write {}", temporary.display()))?;
        writeln!(file, "{} {id}", self.kind)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, &self.path)
            .with_context(|| format!("cannot replace {}", self.path.display()))?;
        // The rename itself lasts once the folder is synced (not possible on Windows).
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kraken-forward-cursor-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_cursor_round_trips_and_belongs_to_its_storage_kind() {
        let dir = scratch("round");
        let cursor = CursorFile::new(&dir, "siem", "sqlite");
        assert_eq!(cursor.load().unwrap(), None, "no file yet");
        cursor.save(41).unwrap();
        cursor.save(42).unwrap();
        assert_eq!(cursor.load().unwrap(), Some(42));
        assert_eq!(CursorFile::new(&dir, "siem", "clickhouse").load().unwrap(), None);
        assert!(!dir.join("siem.cursor.new").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_cursor_is_an_error_that_says_what_to_do() {
        let dir = scratch("damaged");
        fs::create_dir_all(&dir).unwrap();
        let cursor = CursorFile::new(&dir, "siem", "sqlite");
        for text in ["", "garbage", "sqlite x"] {
            fs::write(cursor.path(), text).unwrap();
            let error = cursor.load().unwrap_err().to_string();
            assert!(error.contains("delete"), "{text:?}: {error}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
