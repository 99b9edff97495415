//! Who may read the agent's secrets on Windows.
//!
//! `service install` (and so the installer) makes `%ProgramData%\KrakenSentry` the
//! administrators' own: owner Administrators, an explicit protected DACL (full control for
//! SYSTEM and the Administrators, inherited by everything below, nothing for anyone else). A
//! folder that is a reparse point (a junction planted to redirect the writes), or that an
//! ordinary user created and owns (ProgramData lets users create folders), is refused rather
//! than trusted.
//!
//! Before the service starts, each private key's DACL is read: an allow entry granting read
//! access to anyone but SYSTEM, the Administrators, TrustedInstaller or the service's own
//! account (or no DACL at all) makes the key exposed.

use std::ffi::c_void;
use std::os::windows::fs::MetadataExt;
use std::path::Path;

use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
    SDDL_REVISION_1, SE_FILE_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, GetAce, GetSecurityDescriptorControl,
    GetSecurityDescriptorDacl, GetSecurityDescriptorOwner, GetTokenInformation, INHERIT_ONLY_ACE,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SE_DACL_PROTECTED, TOKEN_QUERY, TOKEN_USER, TokenUser, UNPROTECTED_DACL_SECURITY_INFORMATION,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// SYSTEM and Administrators: full control, inherited by files and folders; nothing else,
/// nothing inherited from above.
pub const PROTECTED_SDDL: &str = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";
/// The protected folder's owner: the Administrators.
const ADMINISTRATORS_OWNER: &str = "O:BA";

/// `ACCESS_ALLOWED_ACE_TYPE` and `ACCESS_ALLOWED_CALLBACK_ACE_TYPE`: entries that grant.
const ALLOW_TYPES: [u8; 2] = [0, 9];
/// Rights that let the holder read a file's contents: FILE_READ_DATA, GENERIC_ALL, GENERIC_READ.
const READ_RIGHTS: u32 = 0x0000_0001 | 0x1000_0000 | 0x8000_0000;
const SYSTEM: &str = "S-1-5-18";
const ADMINISTRATORS: &str = "S-1-5-32-544";
const TRUSTED_INSTALLER: &str = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";
/// Names for the SIDs a message may show.
const KNOWN: [(&str, &str); 5] = [
    ("S-1-1-0", "Everyone"),
    ("S-1-5-32-545", "Users"),
    ("S-1-5-11", "Authenticated Users"),
    ("S-1-5-4", "INTERACTIVE"),
    ("S-1-5-32-546", "Guests"),
];

fn wide(path: &Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    path.as_os_str().encode_wide().chain(std::iter::once(0)).collect()
}

fn last_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn status(code: u32) -> std::io::Result<()> {
    if code == ERROR_SUCCESS { Ok(()) } else { Err(std::io::Error::from_raw_os_error(code as i32)) }
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

/// A security descriptor parsed from SDDL, with its parts.
struct Descriptor {
    /// Owns what `dacl` and `owner` point into.
    _memory: Local,
    dacl: *mut ACL,
    owner: PSID,
    protected: bool,
}

impl Descriptor {
    fn from_sddl(sddl: &str) -> std::io::Result<Descriptor> {
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
            return Err(last_error());
        }
        let memory = Local(descriptor);
        let (mut present, mut defaulted, mut dacl) = (0, 0, std::ptr::null_mut::<ACL>());
        // SAFETY: the descriptor is valid; the parts point into it.
        if unsafe { GetSecurityDescriptorDacl(memory.0, &mut present, &mut dacl, &mut defaulted) } == 0 {
            return Err(last_error());
        }
        if present == 0 || dacl.is_null() {
            // A NULL DACL would give everyone everything.
            return Err(std::io::Error::other(format!("the SDDL {sddl:?} has no DACL")));
        }
        let mut owner: PSID = std::ptr::null_mut();
        // SAFETY: as above.
        if unsafe { GetSecurityDescriptorOwner(memory.0, &mut owner, &mut defaulted) } == 0 {
            return Err(last_error());
        }
        let (mut control, mut revision) = (0u16, 0u32);
        // SAFETY: as above.
        if unsafe { GetSecurityDescriptorControl(memory.0, &mut control, &mut revision) } == 0 {
            return Err(last_error());
        }
        Ok(Descriptor { _memory: memory, dacl, owner, protected: control & SE_DACL_PROTECTED != 0 })
    }

    /// Sets this DACL (and owner, if it names one) on `path`.
    fn apply(&self, path: &Path) -> std::io::Result<()> {
        let mut what = DACL_SECURITY_INFORMATION;
        what |= if self.protected {
            PROTECTED_DACL_SECURITY_INFORMATION
        } else {
            UNPROTECTED_DACL_SECURITY_INFORMATION
        };
        if !self.owner.is_null() {
            what |= OWNER_SECURITY_INFORMATION;
        }
        let name = wide(path);
        // SAFETY: the name is NUL-terminated; owner and DACL live in `self.memory`.
        status(unsafe {
            SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                what,
                self.owner,
                std::ptr::null_mut(),
                self.dacl,
                std::ptr::null(),
            )
        })
    }
}

/// The program's folder: as [`PROTECTED_SDDL`], plus read and execute for Users (who may run
/// the command line), and no one else may write there (no DLL planted beside the service).
pub const PROGRAM_SDDL: &str = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)";

/// Makes `dir` (created if missing) the administrators' own, as the module says.
pub fn protect_directory(dir: &Path) -> std::io::Result<()> {
    protect_tree(dir, PROTECTED_SDDL)
}

/// Makes the program's folder `dir` the administrators' own, readable by Users
/// ([`PROGRAM_SDDL`]): a folder chosen outside Program Files would otherwise inherit what its
/// parent grants (`C:\` lets Authenticated Users write).
pub fn protect_program_directory(dir: &Path) -> std::io::Result<()> {
    protect_tree(dir, PROGRAM_SDDL)
}

fn protect_tree(dir: &Path, sddl: &str) -> std::io::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
    }
    refuse_reparse_point(dir)?;
    let owner = owner_of(dir)?;
    if !trusted_account(&owner)? {
        return Err(std::io::Error::other(format!(
            "{} belongs to {} (not SYSTEM or the Administrators): it may have been planted; \
             remove it or take it over, then install again",
            dir.display(),
            name_of(&owner)
        )));
    }
    // Windows hands the inheritable entries down to what is already inside; an entry of a
    // file's own is left, and a key with one that lets others read it stops the service's start.
    Descriptor::from_sddl(&format!("{ADMINISTRATORS_OWNER}{sddl}"))?.apply(dir)
}

fn refuse_reparse_point(path: &Path) -> std::io::Result<()> {
    const REPARSE_POINT: u32 = 0x400;
    if path.symlink_metadata()?.file_attributes() & REPARSE_POINT != 0 {
        return Err(std::io::Error::other(format!(
            "{} is a link or junction: refusing to protect what it points to",
            path.display()
        )));
    }
    Ok(())
}

/// Sets `path`'s DACL (and owner) from an SDDL text; for tests and the installer's folder.
pub fn protect_with(path: &Path, sddl: &str) -> std::io::Result<()> {
    Descriptor::from_sddl(sddl)?.apply(path)
}

/// The SID owning `path`, as text.
fn owner_of(path: &Path) -> std::io::Result<String> {
    let name = wide(path);
    let (mut owner, mut descriptor) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: the name is NUL-terminated; the descriptor is freed by `Local`, the owner lives in it.
    status(unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    })?;
    let _descriptor = Local(descriptor);
    sid_text(owner)
}

/// SYSTEM, the Administrators, TrustedInstaller, or the account this process runs as.
fn trusted_account(sid: &str) -> std::io::Result<bool> {
    Ok([SYSTEM, ADMINISTRATORS, TRUSTED_INSTALLER].contains(&sid) || process_user()? == sid)
}

fn name_of(sid: &str) -> String {
    KNOWN
        .iter()
        .find(|(known, _)| *known == sid)
        .map_or_else(|| sid.to_owned(), |(_, name)| (*name).to_owned())
}

/// The SID of the account this process runs as (SYSTEM for the service).
fn process_user() -> std::io::Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo handle of this process; the token is closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(last_error());
    }
    let mut buffer = vec![0u64; 64]; // 512 bytes, aligned for TOKEN_USER
    let mut needed = 0u32;
    // SAFETY: the buffer is writable for its length.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            (buffer.len() * 8) as u32,
            &mut needed,
        )
    };
    let error = last_error();
    // SAFETY: opened above.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err(error);
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points into the buffer.
    let user = unsafe { &*(buffer.as_ptr() as *const TOKEN_USER) };
    sid_text(user.User.Sid)
}

/// Who, beyond SYSTEM, the Administrators, TrustedInstaller and this process's account, may
/// read `path` (SIDs by name where known).
pub fn other_readers(path: &Path) -> std::io::Result<Vec<String>> {
    let name = wide(path);
    let (mut dacl, mut descriptor) = (std::ptr::null_mut::<ACL>(), std::ptr::null_mut());
    // SAFETY: the name is NUL-terminated; the descriptor is freed by `Local`, the DACL lives in it.
    status(unsafe {
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
    })?;
    let _descriptor = Local(descriptor);
    if dacl.is_null() {
        return Ok(vec!["Everyone (the file has no DACL)".into()]);
    }
    let mut readers = Vec::new();
    // SAFETY: `dacl` is a valid ACL inside the descriptor.
    let count = unsafe { (*dacl).AceCount };
    for index in 0..u32::from(count) {
        let mut ace: *mut c_void = std::ptr::null_mut();
        // SAFETY: the index is below the ACL's count.
        if unsafe { GetAce(dacl, index, &mut ace) } == 0 || ace.is_null() {
            return Err(last_error());
        }
        // SAFETY: every ACE starts with its header.
        let header = unsafe { &*(ace as *const ACE_HEADER) };
        if !ALLOW_TYPES.contains(&header.AceType) || u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0 {
            continue;
        }
        // An allow ACE (plain or callback) is the header, the mask, then the SID.
        // SAFETY: the ACE is at least header + mask + a SID long.
        let mask =
            unsafe { std::ptr::read_unaligned(ace.cast::<u8>().add(size_of::<ACE_HEADER>()).cast::<u32>()) };
        if mask & READ_RIGHTS == 0 {
            continue;
        }
        // SAFETY: the SID starts right after the mask, inside the ACE.
        let sid = unsafe { ace.cast::<u8>().add(size_of::<ACE_HEADER>() + size_of::<u32>()) };
        let sid = sid_text(sid.cast())?;
        if !trusted_account(&sid)? {
            let reader = name_of(&sid);
            if !readers.contains(&reader) {
                readers.push(reader);
            }
        }
    }
    Ok(readers)
}

/// A SID as `S-1-...` text.
fn sid_text(sid: PSID) -> std::io::Result<String> {
    let mut text = std::ptr::null_mut::<u16>();
    // SAFETY: `sid` points at a valid SID; the text is freed by `Local`.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(last_error());
    }
    let text = Local(text.cast());
    let start = text.0 as *const u16;
    // SAFETY: the text is NUL-terminated.
    let length = (0..).take_while(|&i| unsafe { *start.add(i) } != 0).count();
    // SAFETY: `length` units were just read.
    Ok(String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(start, length) }))
}

/// Why `key` is exposed, with the fix; `None` when only the service's account, SYSTEM and the
/// administrators can read it, or when it is missing (the link reports that).
pub fn key_exposure(key: &Path) -> Option<String> {
    if !key.exists() {
        return None;
    }
    let fix = format!(
        "fix: keep keys in %ProgramData%\\KrakenSentry (`kraken-sentry service install` protects it), \
         or run `icacls \"{}\" /inheritance:r /grant:r SYSTEM:F Administrators:F`",
        key.display()
    );
    match other_readers(key) {
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
        other_readers(probe).unwrap().is_empty()
    }

    #[test]
    fn a_key_readable_by_others_is_exposed_and_a_protected_one_is_not() {
        let dir = std::env::temp_dir().join(format!("kraken-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("sentry.key");
        std::fs::write(&key, "secret").unwrap();

        protect_with(&key, "D:P(A;;FA;;;SY)(A;;FR;;;WD)").unwrap();
        assert_eq!(other_readers(&key).unwrap(), ["Everyone"]);
        let problem = key_exposure(&key).expect("exposed");
        assert!(problem.contains("Everyone") && problem.contains("icacls"), "{problem}");
        assert_eq!(key_exposure(&dir.join("missing.key")), None);
        assert!(protect_with(&key, "O:BA").is_err(), "an SDDL without a DACL is refused");

        if dacls_are_stored(&key) {
            protect_with(&key, "D:P(A;;FA;;;SY)(A;;FA;;;BU)(A;;FR;;;AU)(A;;FR;;;IU)").unwrap();
            assert_eq!(other_readers(&key).unwrap(), ["Users", "Authenticated Users", "INTERACTIVE"]);
            // Write access for Users is no read access.
            protect_with(&key, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FW;;;BU)").unwrap();
            assert_eq!(key_exposure(&key), None);
            // A key readable by Users, then its folder protected: the key gets the folder's DACL
            // (as when an upgrade protects a folder that already holds keys).
            protect_with(&key, "D:(A;;FA;;;SY)(A;;FR;;;BU)").unwrap();
            protect_directory(&dir).unwrap();
            assert_eq!(key_exposure(&key), None);
            let inside = dir.join("new.key");
            std::fs::write(&inside, "secret").unwrap();
            assert_eq!(key_exposure(&inside), None);
        } else {
            eprintln!(
                "this system does not store file DACLs (Wine): the protected cases run on Windows only"
            );
            protect_directory(&dir).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
