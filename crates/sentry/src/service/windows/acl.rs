//! Who may read the agent's secrets on Windows. `service install` (and the installer) give
//! `%ProgramData%\KrakenSentry` an explicit, protected DACL: full control for SYSTEM and the
//! Administrators, inherited by everything below, nothing for anyone else. Before the service
//! starts, each private key's DACL is read: an allow entry granting read access to Everyone,
//! Users or Authenticated Users (or no DACL at all) makes the key exposed.

use std::ffi::c_void;
use std::path::Path;

use windows_sys::Win32::Foundation::{ERROR_SUCCESS, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
    SDDL_REVISION_1, SE_FILE_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, GetAce, GetSecurityDescriptorDacl,
    INHERIT_ONLY_ACE, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
};

/// SYSTEM and Administrators: full control, inherited by files and folders; nothing else,
/// nothing inherited from above.
pub const PROTECTED_SDDL: &str = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

/// `ACCESS_ALLOWED_ACE_TYPE`.
const ACCESS_ALLOWED: u8 = 0;
/// Rights that let the holder read a file's contents: FILE_READ_DATA, GENERIC_ALL, GENERIC_READ.
const READ_RIGHTS: u32 = 0x0000_0001 | 0x1000_0000 | 0x8000_0000;
/// The broad groups no key may be readable by: (SID, name).
const BROAD_GROUPS: [(&str, &str); 3] =
    [("S-1-1-0", "Everyone"), ("S-1-5-32-545", "Users"), ("S-1-5-11", "Authenticated Users")];

fn wide(path: &Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    path.as_os_str().encode_wide().chain(std::iter::once(0)).collect()
}

/// Frees what Windows allocated with LocalAlloc.
struct Local(*mut c_void);

impl Drop for Local {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an API that allocates with LocalAlloc.
            unsafe { LocalFree(self.0) };
        }
    }
}

/// Gives `dir` (created if missing) the protected DACL of [`PROTECTED_SDDL`]; what is inside
/// inherits it.
pub fn protect_directory(dir: &Path) -> std::io::Result<()> {
    protect_with(dir, PROTECTED_SDDL)
}

/// Sets `path`'s DACL from an SDDL text (protected from inheritance when the SDDL says `P`).
pub fn protect_with(path: &Path, sddl: &str) -> std::io::Result<()> {
    if !path.exists() {
        std::fs::create_dir_all(path)?;
    }
    let text: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated; the descriptor is freed by `Local`.
    let converted = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            text.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if converted == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let descriptor = Local(descriptor);
    let (mut present, mut defaulted, mut dacl) = (0, 0, std::ptr::null_mut::<ACL>());
    // SAFETY: the descriptor is valid; the DACL pointer points into it.
    if unsafe { GetSecurityDescriptorDacl(descriptor.0, &mut present, &mut dacl, &mut defaulted) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let protected = if sddl.starts_with("D:P") { PROTECTED_DACL_SECURITY_INFORMATION } else { 0 };
    let name = wide(path);
    // SAFETY: the name is NUL-terminated and the DACL valid while `descriptor` lives.
    let status = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | protected,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            dacl,
            std::ptr::null(),
        )
    };
    if status != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(status as i32));
    }
    Ok(())
}

/// The broad groups `path`'s DACL lets read it.
pub fn broad_readers(path: &Path) -> std::io::Result<Vec<&'static str>> {
    let name = wide(path);
    let (mut dacl, mut descriptor) = (std::ptr::null_mut::<ACL>(), std::ptr::null_mut());
    // SAFETY: the name is NUL-terminated; the descriptor is freed by `Local`, the DACL lives in it.
    let status = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(status as i32));
    }
    let _descriptor = Local(descriptor);
    if dacl.is_null() {
        return Ok(vec!["Everyone (the file has no DACL)"]);
    }
    let mut readers = Vec::new();
    // SAFETY: `dacl` is a valid ACL inside the descriptor.
    let count = unsafe { (*dacl).AceCount };
    for index in 0..u32::from(count) {
        let mut ace: *mut c_void = std::ptr::null_mut();
        // SAFETY: the index is below the ACL's count.
        if unsafe { GetAce(dacl, index, &mut ace) } == 0 || ace.is_null() {
            continue;
        }
        // SAFETY: every ACE starts with its header.
        let header = unsafe { &*(ace as *const ACE_HEADER) };
        if header.AceType != ACCESS_ALLOWED || u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0 {
            continue;
        }
        // SAFETY: an ACCESS_ALLOWED ACE has this layout; its SID starts at `SidStart`.
        let allowed = unsafe { &*(ace as *const ACCESS_ALLOWED_ACE) };
        if allowed.Mask & READ_RIGHTS == 0 {
            continue;
        }
        let sid = sid_text(&allowed.SidStart as *const u32 as PSID)?;
        if let Some((_, group)) = BROAD_GROUPS.iter().find(|(known, _)| *known == sid)
            && !readers.contains(group)
        {
            readers.push(*group);
        }
    }
    Ok(readers)
}

/// A SID as `S-1-...` text.
fn sid_text(sid: PSID) -> std::io::Result<String> {
    let mut text = std::ptr::null_mut::<u16>();
    // SAFETY: `sid` points at a SID inside a live ACE; the text is freed by `Local`.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let text = Local(text.cast());
    let start = text.0 as *const u16;
    // SAFETY: the text is NUL-terminated.
    let length = (0..).take_while(|&i| unsafe { *start.add(i) } != 0).count();
    // SAFETY: `length` units were just read.
    Ok(String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(start, length) }))
}

/// Why `key` is exposed, with the fix; `None` when only the service and the administrators can
/// read it, or when it is missing (the link reports that).
pub fn key_exposure(key: &Path) -> Option<String> {
    if !key.exists() {
        return None;
    }
    let fix = format!(
        "fix: keep keys in %ProgramData%\\KrakenSentry (`kraken-sentry service install` protects it), \
         or run `icacls \"{}\" /inheritance:r /grant:r SYSTEM:F Administrators:F`",
        key.display()
    );
    match broad_readers(key) {
        Ok(readers) if readers.is_empty() => None,
        Ok(readers) => Some(format!("{} can be read by {}; {fix}", key.display(), readers.join(", "))),
        Err(error) => Some(format!("cannot read who may read {}: {error}; {fix}", key.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this system stores the DACLs set on files: Wine 8 does not (it derives a
    /// file's DACL from its Unix mode, `o+r` giving Everyone read, and ignores
    /// `SetNamedSecurityInfoW`), so there only the exposed case can be seen.
    fn dacls_are_stored(probe: &Path) -> bool {
        protect_with(probe, "D:P(A;;FA;;;SY)(A;;FA;;;BA)").unwrap();
        broad_readers(probe).unwrap().is_empty()
    }

    #[test]
    fn a_key_readable_by_a_broad_group_is_exposed_and_a_protected_one_is_not() {
        let dir = std::env::temp_dir().join(format!("kraken-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("sentry.key");
        std::fs::write(&key, "secret").unwrap();

        protect_with(&key, "D:P(A;;FA;;;SY)(A;;FR;;;WD)").unwrap();
        assert_eq!(broad_readers(&key).unwrap(), ["Everyone"]);
        let problem = key_exposure(&key).expect("exposed");
        assert!(problem.contains("Everyone") && problem.contains("icacls"), "{problem}");
        assert_eq!(key_exposure(&dir.join("missing.key")), None);

        if dacls_are_stored(&key) {
            protect_with(&key, "D:P(A;;FA;;;SY)(A;;FA;;;BU)(A;;FR;;;AU)").unwrap();
            assert_eq!(broad_readers(&key).unwrap(), ["Users", "Authenticated Users"]);
            // Write access for Users is no read access.
            protect_with(&key, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FW;;;BU)").unwrap();
            assert_eq!(key_exposure(&key), None);
            // A file created in a protected folder inherits its DACL.
            protect_directory(&dir).unwrap();
            let inside = dir.join("new.key");
            std::fs::write(&inside, "secret").unwrap();
            assert_eq!(key_exposure(&inside), None);
        } else {
            eprintln!(
                "this system does not store file DACLs (Wine): the protected cases run on Windows only"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
