//! Peering trust levels and the password hash of plain-TCP peering (`PasswordUtil`).

use sha1::{Digest, Sha1};

/// The trust a side grants its peer (`RpcTrustLevel`), sent as a ZINT32 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrustLevel {
    /// Code 1; also what any unknown code means.
    Untrusted,
    /// Code 2: what an unknown peer with a valid certificate gets.
    Low,
    /// Code 3.
    Medium,
    /// Code 4.
    High,
}

impl TrustLevel {
    /// The wire code.
    pub fn code(self) -> i32 {
        match self {
            TrustLevel::Untrusted => 1,
            TrustLevel::Low => 2,
            TrustLevel::Medium => 3,
            TrustLevel::High => 4,
        }
    }

    /// Parses a wire code; unknown codes are Untrusted, as in Java.
    pub fn from_code(code: i32) -> Self {
        match code {
            2 => TrustLevel::Low,
            3 => TrustLevel::Medium,
            4 => TrustLevel::High,
            _ => TrustLevel::Untrusted,
        }
    }
}

/// The `authenticate` hash: lowercase hex of SHA-1 over the ISO-8859-1 bytes of
/// `password + nonce`. A missing password hashes the text `"null"` (Java string concatenation);
/// characters outside Latin-1 become `?`; a supplementary character (outside the BMP) makes
/// Java fail, which yields `None` (sent as NULL).
pub fn password_hash(password: Option<&str>, nonce: &str) -> Option<String> {
    let text = format!("{}{nonce}", password.unwrap_or("null"));
    let mut latin1 = Vec::with_capacity(text.len());
    for c in text.chars() {
        if u32::from(c) > 0xFFFF {
            return None;
        }
        latin1.push(u8::try_from(u32::from(c)).unwrap_or(b'?'));
    }
    Some(hex::encode(Sha1::digest(&latin1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_codes() {
        assert_eq!(TrustLevel::from_code(2), TrustLevel::Low);
        assert_eq!(TrustLevel::from_code(99), TrustLevel::Untrusted);
        assert_eq!(TrustLevel::High.code(), 4);
    }
}
