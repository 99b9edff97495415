//! The process checklist: process names that must (`allow`) or must not (`deny`) be running.
//!
//! Names are stored lower-cased, so `Notepad.EXE` and `notepad.exe` are one entry, and removal
//! finds an entry whatever case it is given in (BUG-39).

use super::{Store, StoreError};

/// What the checklist expects of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Expected to be running; a warning when it is not.
    Allow,
    /// Expected not to be running; a warning when it is.
    Deny,
}

impl Policy {
    /// `allow` or `deny`, as stored and as records show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Allow => "allow",
            Policy::Deny => "deny",
        }
    }

    /// Parses `allow`/`deny`, in any case.
    pub fn parse(text: &str) -> Option<Policy> {
        match text.to_ascii_lowercase().as_str() {
            "allow" => Some(Policy::Allow),
            "deny" => Some(Policy::Deny),
            _ => None,
        }
    }
}

/// One checklist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRule {
    /// Lower-cased process name (`notepad.exe`, `sshd`).
    pub name: String,
    pub policy: Policy,
}

impl Store {
    /// Adds or replaces the rule for `name`.
    pub fn set_process_rule(&self, name: &str, policy: Policy) -> Result<(), StoreError> {
        let name = name.trim().to_lowercase();
        if name.is_empty() {
            return Err(StoreError::Rejected("process name must not be empty".into()));
        }
        self.lock().execute(
            "INSERT INTO process_checklist (name, policy) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET policy = excluded.policy",
            (&name, policy.as_str()),
        )?;
        Ok(())
    }

    /// Removes the rule for `name` (any case); an unknown name is an error.
    pub fn remove_process_rule(&self, name: &str) -> Result<(), StoreError> {
        let removed = self
            .lock()
            .execute("DELETE FROM process_checklist WHERE name = ?1", [name.trim().to_lowercase()])?;
        if removed == 0 {
            return Err(StoreError::Rejected(format!("{name} not found in the process checklist")));
        }
        Ok(())
    }

    /// Every rule, by name.
    pub fn process_rules(&self) -> Result<Vec<ProcessRule>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare("SELECT name, policy FROM process_checklist ORDER BY name")?;
        let rows = statement.query_map([], |row| {
            let policy: String = row.get(1)?;
            Ok(ProcessRule { name: row.get(0)?, policy: Policy::parse(&policy).unwrap_or(Policy::Allow) })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::database::tests::temp_data_dir;

    #[test]
    fn names_are_case_insensitive_and_removal_is_checked() {
        let dir = temp_data_dir("checklist");
        let store = Store::open(&dir).unwrap();
        store.set_process_rule("Notepad.EXE", Policy::Allow).unwrap();
        store.set_process_rule("notepad.exe", Policy::Deny).unwrap();
        assert_eq!(
            store.process_rules().unwrap(),
            vec![ProcessRule { name: "notepad.exe".into(), policy: Policy::Deny }]
        );
        store.remove_process_rule("NOTEPAD.exe").unwrap();
        assert!(store.process_rules().unwrap().is_empty());
        let error = store.remove_process_rule("calc.exe").unwrap_err();
        assert_eq!(error.to_string(), "calc.exe not found in the process checklist");
        drop(store); // Windows cannot delete an open file
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
