//! Host name (`GetComputerNameExW(ComputerNameDnsHostname)`) and OS identity.
//!
//! The version comes from `RtlGetVersion` (ntdll), which, unlike `GetVersionExW`, is not
//! lied to by the application manifest. The product name is `ProductName` under
//! `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion` (`Windows 10 Pro`); Windows 11 still
//! writes "Windows 10" there, so builds from 22000 on are renamed. The architecture is the OS's
//! (`GetNativeSystemInfo`), not this process's.

use std::mem::{MaybeUninit, size_of};

use windows_sys::Wdk::System::SystemServices::RtlGetVersion;
use windows_sys::Win32::Foundation::{ERROR_MORE_DATA, ERROR_SUCCESS};
use windows_sys::Win32::System::Registry::{
    HKEY, HKEY_LOCAL_MACHINE, KEY_READ, RRF_RT_REG_SZ, RegCloseKey, RegGetValueW, RegOpenKeyExW,
};
use windows_sys::Win32::System::SystemInformation::{
    ComputerNameDnsHostname, GetComputerNameExW, GetNativeSystemInfo, OSVERSIONINFOW,
    PROCESSOR_ARCHITECTURE_AMD64, PROCESSOR_ARCHITECTURE_ARM64, PROCESSOR_ARCHITECTURE_INTEL, SYSTEM_INFO,
};

use super::win32::{from_wide, last_error, to_wide, win32_error};
use crate::{HostResult, OsInfo};

/// The first build of Windows 11.
const FIRST_WINDOWS_11_BUILD: u32 = 22_000;

/// True when this process runs under Wine (which keeps its settings under `HKLM\Software\Wine`).
pub(crate) fn under_wine() -> bool {
    let name = to_wide("Software\\Wine");
    let mut key: HKEY = std::ptr::null_mut();
    // SAFETY: a NUL-terminated name and a writable key slot; the key is closed below.
    let opened = unsafe { RegOpenKeyExW(HKEY_LOCAL_MACHINE, name.as_ptr(), 0, KEY_READ, &mut key) };
    if opened == ERROR_SUCCESS {
        // SAFETY: the key was opened above.
        unsafe { RegCloseKey(key) };
    }
    opened == ERROR_SUCCESS
}

/// The DNS host name (without the domain).
pub(crate) fn host_name() -> HostResult<String> {
    let mut size = 0u32;
    for _ in 0..4 {
        let mut buf = vec![0u16; size as usize];
        let ptr = if buf.is_empty() { std::ptr::null_mut() } else { buf.as_mut_ptr() };
        // SAFETY: `ptr` is null with size 0 (a size probe) or `buf` with `size` writable units.
        if unsafe { GetComputerNameExW(ComputerNameDnsHostname, ptr, &mut size) } != 0 {
            return Ok(from_wide(&buf[..(size as usize).min(buf.len())]));
        }
        match last_error() {
            ERROR_MORE_DATA => {} // `size` now holds the length needed, NUL included.
            code => return Err(win32_error("host_name", "GetComputerNameExW", code)),
        }
    }
    Err(win32_error("host_name", "GetComputerNameExW", ERROR_MORE_DATA))
}

/// Product name, `major.minor.build` and architecture.
pub(crate) fn os_info() -> HostResult<OsInfo> {
    // SAFETY: OSVERSIONINFOW is plain data; zero is a valid value.
    let mut version: OSVERSIONINFOW = unsafe { std::mem::zeroed() };
    version.dwOSVersionInfoSize = size_of::<OSVERSIONINFOW>() as u32;
    // SAFETY: a writable struct with its size set, as RtlGetVersion requires.
    let status = unsafe { RtlGetVersion(&mut version) };
    if status != 0 {
        // An NTSTATUS, reported as its bits.
        return Err(win32_error("os_info", "RtlGetVersion", status as u32));
    }
    let product = registry_string(r"SOFTWARE\Microsoft\Windows NT\CurrentVersion", "ProductName");
    Ok(OsInfo {
        name: product_name(product.as_deref(), version.dwBuildNumber),
        version: format!("{}.{}.{}", version.dwMajorVersion, version.dwMinorVersion, version.dwBuildNumber),
        arch: arch_name(native_arch()).to_string(),
    })
}

/// The product name to report: the registry's, fixed for Windows 11, else plain "Windows".
fn product_name(registry: Option<&str>, build: u32) -> String {
    let name = registry.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("Windows");
    // Some builds (and Wine) write "Microsoft Windows ...".
    let name = name.strip_prefix("Microsoft ").unwrap_or(name);
    if build >= FIRST_WINDOWS_11_BUILD && name.starts_with("Windows 10") {
        return name.replacen("Windows 10", "Windows 11", 1);
    }
    name.to_string()
}

/// The architecture name for a `wProcessorArchitecture` value.
fn arch_name(arch: u16) -> &'static str {
    match arch {
        PROCESSOR_ARCHITECTURE_AMD64 => "x86_64",
        PROCESSOR_ARCHITECTURE_ARM64 => "aarch64",
        PROCESSOR_ARCHITECTURE_INTEL => "x86",
        _ => "unknown",
    }
}

fn native_arch() -> u16 {
    let mut info = MaybeUninit::<SYSTEM_INFO>::zeroed();
    // SAFETY: GetNativeSystemInfo fills the whole struct and cannot fail; the architecture is
    // the member of the leading union that every Windows version fills in.
    unsafe {
        GetNativeSystemInfo(info.as_mut_ptr());
        info.assume_init().Anonymous.Anonymous.wProcessorArchitecture
    }
}

/// A REG_SZ value under HKLM, or `None` if it cannot be read.
fn registry_string(subkey: &str, value: &str) -> Option<String> {
    let (subkey, value) = (to_wide(subkey), to_wide(value));
    // The first call, with no buffer, asks for the size in bytes; the value may grow meanwhile.
    let mut buf: Vec<u16> = Vec::new();
    for _ in 0..5 {
        let mut bytes = (buf.len() * 2) as u32;
        let data = if buf.is_empty() { std::ptr::null_mut() } else { buf.as_mut_ptr().cast() };
        // SAFETY: both names are NUL-terminated; `data` is null (a size probe) or `buf`, which
        // holds `bytes` writable bytes. RegGetValueW NUL-terminates REG_SZ data.
        let code = unsafe {
            RegGetValueW(
                HKEY_LOCAL_MACHINE,
                subkey.as_ptr(),
                value.as_ptr(),
                RRF_RT_REG_SZ,
                std::ptr::null_mut(),
                data,
                &mut bytes,
            )
        };
        match code {
            ERROR_SUCCESS if !buf.is_empty() => return Some(from_wide(&buf)),
            ERROR_SUCCESS | ERROR_MORE_DATA => {
                buf = vec![0u16; (bytes as usize).div_ceil(2).max(buf.len() * 2).max(1)]
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_names() {
        assert_eq!(product_name(Some("Windows 10 Pro"), 19045), "Windows 10 Pro");
        assert_eq!(product_name(Some("Windows 10 Pro"), 22631), "Windows 11 Pro");
        assert_eq!(product_name(Some("Microsoft Windows 10"), 19043), "Windows 10");
        assert_eq!(product_name(Some("Windows Server 2022 Standard"), 20348), "Windows Server 2022 Standard");
        assert_eq!(product_name(None, 19045), "Windows");
        assert_eq!(product_name(Some("  "), 19045), "Windows");
    }

    #[test]
    fn architectures() {
        assert_eq!(arch_name(9), "x86_64");
        assert_eq!(arch_name(12), "aarch64");
        assert_eq!(arch_name(0), "x86");
        assert_eq!(arch_name(6), "unknown");
    }
}
