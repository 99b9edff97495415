//! Small helpers shared by the Win32 fact readers: UTF-16 strings, FILETIME arithmetic,
//! socket-address conversion, and the two ways table APIs hand out memory.
//!
//! Tables come either in a caller-sized buffer ([`sized_table`]: ask, then grow while the API
//! answers "buffer too small", a bounded number of times) or in memory the API allocates
//! ([`MibTable`], freed with `FreeMibTable` on drop). Both hand out the rows as a slice; for a
//! caller-sized buffer the row count is first checked against the buffer's size.

use std::ffi::c_void;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_BUFFER_OVERFLOW, ERROR_INSUFFICIENT_BUFFER, ERROR_MORE_DATA, ERROR_NO_DATA, FILETIME, GetLastError,
    NO_ERROR,
};
use windows_sys::Win32::NetworkManagement::IpHelper::FreeMibTable;
use windows_sys::Win32::Networking::WinSock::{
    AF_INET, AF_INET6, SOCKADDR, SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_INET, SOCKET_ADDRESS,
};

use crate::{HostError, HostResult};

/// How many times a table read is retried when the table grew between the size probe and the
/// read. Tables grow by a few rows at a time; three retries are plenty, and the bound keeps a
/// misbehaving API from looping forever.
const MAX_ATTEMPTS: usize = 4;

/// The first buffer size tried for caller-sized tables (the size Microsoft suggests for
/// `GetAdaptersAddresses`); most tables fit at once.
const INITIAL_SIZE: u32 = 16 * 1024;

/// The thread's last Win32 error code.
pub(super) fn last_error() -> u32 {
    // SAFETY: GetLastError has no preconditions.
    unsafe { GetLastError() }
}

/// A `HostError::Win32` for `call` failing with `code` while reading `fact`.
pub(super) fn win32_error(fact: &'static str, call: &'static str, code: u32) -> HostError {
    HostError::Win32 { fact, call, code }
}

/// The string in `buf` up to its first NUL (or all of it), with invalid UTF-16 replaced.
pub(super) fn from_wide(buf: &[u16]) -> String {
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    String::from_utf16_lossy(&buf[..end])
}

/// The NUL-terminated UTF-16 string at `ptr`; empty for a null pointer.
///
/// # Safety
/// `ptr` is null or points to a readable NUL-terminated UTF-16 string.
pub(super) unsafe fn from_wide_ptr(ptr: *const u16) -> String {
    if ptr.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller guarantees a NUL terminator, so every unit up to it is readable.
    unsafe {
        while *ptr.add(len) != 0 {
            len += 1;
        }
        from_wide(std::slice::from_raw_parts(ptr, len))
    }
}

/// `s` as a NUL-terminated UTF-16 string for a `PCWSTR` argument.
pub(super) fn to_wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// A FILETIME as one 64-bit count of 100 ns units.
pub(super) fn filetime_u64(ft: &FILETIME) -> u64 {
    (u64::from(ft.dwHighDateTime) << 32) | u64::from(ft.dwLowDateTime)
}

/// A count of 100 ns units as a duration.
pub(super) fn duration_from_100ns(units: u64) -> Duration {
    Duration::from_secs(units / 10_000_000) + Duration::from_nanos((units % 10_000_000) * 100)
}

/// A port kept in network byte order in the low 16 bits of a DWORD (the MIB socket rows).
pub(super) fn port_from_dword(raw: u32) -> u16 {
    u16::from_be(raw as u16)
}

/// An IPv4 address kept as a DWORD in network byte order (its bytes in memory are the octets).
pub(super) fn ipv4_from_dword(raw: u32) -> Ipv4Addr {
    Ipv4Addr::from(raw.to_ne_bytes())
}

/// The address in a `SOCKADDR_INET`, or `None` for a family other than IPv4 and IPv6.
pub(super) fn ip_from_sockaddr_inet(addr: &SOCKADDR_INET) -> Option<IpAddr> {
    // SAFETY: every member of the union starts with the family, and the family says which
    // member the API filled in; all members are plain data.
    unsafe {
        match addr.si_family {
            AF_INET => Some(IpAddr::V4(ipv4_from_dword(addr.Ipv4.sin_addr.S_un.S_addr))),
            AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(addr.Ipv6.sin6_addr.u.Byte))),
            _ => None,
        }
    }
}

/// The socket address a `SOCKET_ADDRESS` points to (from `GetAdaptersAddresses`), if it is
/// IPv4 or IPv6 and long enough.
///
/// # Safety
/// `addr.lpSockaddr` is null or points to `addr.iSockaddrLength` readable bytes.
pub(super) unsafe fn socket_address(addr: &SOCKET_ADDRESS) -> Option<SocketAddr> {
    let len = usize::try_from(addr.iSockaddrLength).ok()?;
    if addr.lpSockaddr.is_null() || len < size_of::<SOCKADDR>() {
        return None;
    }
    // SAFETY: the pointer is non-null with at least `len` readable bytes (caller), and every
    // read below is of a plain-data struct no longer than `len`; unaligned reads avoid assuming
    // the API's alignment.
    unsafe {
        let family = (*addr.lpSockaddr).sa_family;
        if family == AF_INET && len >= size_of::<SOCKADDR_IN>() {
            let sin = addr.lpSockaddr.cast::<SOCKADDR_IN>().read_unaligned();
            let ip = ipv4_from_dword(sin.sin_addr.S_un.S_addr);
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        } else if family == AF_INET6 && len >= size_of::<SOCKADDR_IN6>() {
            let sin6 = addr.lpSockaddr.cast::<SOCKADDR_IN6>().read_unaligned();
            let ip = Ipv6Addr::from(sin6.sin6_addr.u.Byte);
            let scope = sin6.Anonymous.sin6_scope_id;
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                scope,
            )))
        } else {
            None
        }
    }
}

/// The first `len` bytes of a fixed hardware-address array (never more than the array).
pub(super) fn mac_bytes(bytes: &[u8], len: u32) -> Vec<u8> {
    let len = usize::try_from(len).unwrap_or(usize::MAX).min(bytes.len());
    bytes[..len].to_vec()
}

/// An 8-byte-aligned, zero-initialised buffer for a table API to fill in.
pub(super) struct TableBuf {
    words: Vec<u64>,
}

impl TableBuf {
    fn with_size(bytes: u32) -> Self {
        TableBuf { words: vec![0; (bytes as usize).div_ceil(8).max(1)] }
    }

    /// Size in bytes.
    fn len(&self) -> usize {
        self.words.len() * 8
    }

    /// The buffer start, for the API call.
    pub(super) fn as_mut_ptr(&mut self) -> *mut c_void {
        self.words.as_mut_ptr().cast()
    }

    /// The buffer start.
    pub(super) fn as_ptr(&self) -> *const c_void {
        self.words.as_ptr().cast()
    }

    /// The rows of a `{ DWORD count; ROW table[ANY_SIZE]; }` table, checked against the buffer's
    /// length. `rows_offset` is `offset_of!(TABLE, table)`.
    ///
    /// # Safety
    /// The API wrote a table with its row count as the first DWORD and rows of type `Row` (plain
    /// data) at `rows_offset` into the buffer.
    pub(super) unsafe fn rows<Row>(&self, fact: &'static str, rows_offset: usize) -> HostResult<&[Row]> {
        // SAFETY: the buffer is at least 8 bytes and 8-aligned, so a u32 count can be read.
        let count = unsafe { self.as_ptr().cast::<u32>().read() } as usize;
        let fits = count.checked_mul(size_of::<Row>()).and_then(|n| n.checked_add(rows_offset));
        if count == 0 {
            return Ok(&[]);
        }
        match fits {
            Some(end) if end <= self.len() => {
                // SAFETY: the rows lie inside the buffer (checked above); the buffer is 8-aligned
                // and `rows_offset` is the offset of the row array in a C struct, so the rows are
                // aligned; the API initialised them (caller).
                Ok(unsafe {
                    std::slice::from_raw_parts(self.as_ptr().cast::<u8>().add(rows_offset).cast(), count)
                })
            }
            _ => Err(HostError::malformed(fact, format!("{count} rows do not fit in {} bytes", self.len()))),
        }
    }
}

/// Reads a table with a caller-sized buffer: `call(buffer, &mut size)` returns a Win32 code and,
/// when the buffer is too small, the size it needs in `size`. Starts at 16 KiB and grows as told
/// (at least doubling), at most [`MAX_ATTEMPTS`] times. `Ok(None)` when the API answers
/// `ERROR_NO_DATA` (an empty table for some APIs).
pub(super) fn sized_table(
    fact: &'static str,
    name: &'static str,
    mut call: impl FnMut(*mut c_void, &mut u32) -> u32,
) -> HostResult<Option<TableBuf>> {
    let mut size = INITIAL_SIZE;
    for _ in 0..MAX_ATTEMPTS {
        let mut buf = TableBuf::with_size(size);
        let mut got = size;
        match call(buf.as_mut_ptr(), &mut got) {
            // Not every API writes the size back on success: the whole buffer stays the bound.
            NO_ERROR => return Ok(Some(buf)),
            ERROR_NO_DATA => return Ok(None),
            ERROR_INSUFFICIENT_BUFFER | ERROR_BUFFER_OVERFLOW | ERROR_MORE_DATA => {
                size = got.max(size.saturating_mul(2));
            }
            code => return Err(win32_error(fact, name, code)),
        }
    }
    Err(win32_error(fact, name, ERROR_INSUFFICIENT_BUFFER))
}

/// A table that an IP Helper `Get...2` call allocated; freed with `FreeMibTable` on drop.
pub(super) struct MibTable(*mut c_void);

impl MibTable {
    /// Calls `call(&mut table)` and owns what it returns.
    pub(super) fn read<T>(
        fact: &'static str,
        name: &'static str,
        call: impl FnOnce(*mut *mut T) -> u32,
    ) -> HostResult<Self> {
        let mut table: *mut T = std::ptr::null_mut();
        let code = call(&mut table);
        let owned = MibTable(table.cast());
        if code != NO_ERROR {
            return Err(win32_error(fact, name, code));
        }
        if owned.0.is_null() {
            return Err(HostError::malformed(fact, format!("{name} returned no table")));
        }
        Ok(owned)
    }

    /// The rows of a `{ ULONG NumEntries; ROW Table[ANY_SIZE]; }` table.
    ///
    /// # Safety
    /// The table was returned by the API whose rows have type `Row` and start at `rows_offset`
    /// (`offset_of!(TABLE, Table)`).
    pub(super) unsafe fn rows<Row>(&self, rows_offset: usize) -> &[Row] {
        // SAFETY: the API allocated a table starting with its NumEntries count followed by that
        // many initialised rows at `rows_offset` (caller), aligned as the C type requires.
        unsafe {
            let count = self.0.cast::<u32>().read() as usize;
            std::slice::from_raw_parts(self.0.cast::<u8>().add(rows_offset).cast::<Row>(), count)
        }
    }
}

impl Drop for MibTable {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an IP Helper call that documents FreeMibTable as its
            // release function, and it is freed once.
            unsafe { FreeMibTable(self.0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    #[test]
    fn ports_are_read_from_network_order_low_word() {
        // Port 80 is the bytes 00 50 in network order, stored first in the DWORD.
        assert_eq!(port_from_dword(u32::from_ne_bytes([0x00, 0x50, 0, 0])), 80);
        assert_eq!(port_from_dword(u32::from_ne_bytes([0x1f, 0x90, 0xab, 0xcd])), 8080);
    }

    #[test]
    fn ipv4_dwords_keep_octet_order() {
        assert_eq!(ipv4_from_dword(u32::from_ne_bytes([127, 0, 0, 1])), Ipv4Addr::LOCALHOST);
    }

    #[test]
    fn filetimes_combine_and_convert() {
        let ft = FILETIME { dwLowDateTime: 1, dwHighDateTime: 2 };
        assert_eq!(filetime_u64(&ft), (2 << 32) | 1);
        assert_eq!(duration_from_100ns(15_000_000), Duration::from_millis(1500));
        assert_eq!(duration_from_100ns(7), Duration::from_nanos(700));
    }

    #[test]
    fn wide_strings_stop_at_nul() {
        assert_eq!(from_wide(&[b'a' as u16, b'b' as u16, 0, b'c' as u16]), "ab");
        assert_eq!(from_wide(&[b'x' as u16]), "x");
        assert_eq!(to_wide("C:"), vec![b'C' as u16, b':' as u16, 0]);
        let w = to_wide("héllo");
        // SAFETY: `w` is NUL-terminated.
        assert_eq!(unsafe { from_wide_ptr(w.as_ptr()) }, "héllo");
    }

    #[test]
    fn mac_length_is_clamped() {
        assert_eq!(mac_bytes(&[1, 2, 3, 4], 2), vec![1, 2]);
        assert_eq!(mac_bytes(&[1, 2], 40), vec![1, 2]);
        assert!(mac_bytes(&[1, 2], 0).is_empty());
    }

    #[test]
    fn sized_table_grows_then_succeeds() {
        let mut calls = 0;
        let buf = sized_table("test", "Fake", |_, size| {
            calls += 1;
            if *size < 40_000 {
                *size = 40_000;
                ERROR_INSUFFICIENT_BUFFER
            } else {
                NO_ERROR
            }
        })
        .unwrap()
        .unwrap();
        assert_eq!(calls, 2);
        assert!(buf.len() >= 40_000);
    }

    #[test]
    fn sized_table_gives_up_after_bounded_attempts() {
        let mut calls = 0;
        let err = sized_table("test", "Fake", |_, _| {
            calls += 1;
            ERROR_INSUFFICIENT_BUFFER
        });
        assert!(matches!(err, Err(HostError::Win32 { code: ERROR_INSUFFICIENT_BUFFER, .. })));
        assert_eq!(calls, MAX_ATTEMPTS);
    }

    #[test]
    fn table_rows_are_bounds_checked() {
        #[repr(C)]
        struct Header {
            count: u32,
            table: [u32; 1],
        }
        let mut buf = TableBuf::with_size(16);
        // SAFETY: the buffer holds at least 16 bytes.
        unsafe { buf.as_mut_ptr().cast::<u32>().write(3) };
        // SAFETY: the layout matches `Header`.
        let rows = unsafe { buf.rows::<u32>("test", offset_of!(Header, table)) }.unwrap();
        assert_eq!(rows.len(), 3);
        // SAFETY: as above.
        unsafe { buf.as_mut_ptr().cast::<u32>().write(4) };
        // SAFETY: as above.
        assert!(unsafe { buf.rows::<u32>("test", offset_of!(Header, table)) }.is_err());
    }
}
