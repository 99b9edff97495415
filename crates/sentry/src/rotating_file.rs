//! A file that rotates by size: `name` → `name.1` ... `name.N` (the oldest dropped), a fresh
//! `name` each time the current one would pass its limit. The local record output and the
//! service's diagnostics log (`%ProgramData%\KrakenSentry\logs`) write through it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file that is renamed aside when it reaches its size limit.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: File,
    size: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile { path: path.to_path_buf(), max_bytes, keep: keep.max(1), file, size })
    }

    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + bytes.len() as u64 > self.max_bytes {
            // A failed rotation (a reader holding an old file on Windows, say) must not lose
            // records: keep appending to the current file and try again next time.
            if let Err(error) = self.rotate() {
                tracing::warn!(file = %self.path.display(), %error, "cannot rotate the file; appending");
            }
        }
        self.file.write_all(bytes)?;
        self.file.flush()?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// `path.(keep-1)` → `path.keep` ... `path` → `path.1`, then a fresh `path`.
    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        for n in (1..self.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                fs::rename(&from, numbered(n + 1))?;
            }
        }
        fs::rename(&self.path, numbered(1))?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    /// Appends the whole buffer (a diagnostics line is never split across two files).
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.append(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
