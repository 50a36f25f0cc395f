//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, as every authenticator app does).

use aws_lc_rs::hmac;

use crate::{AuthError, secret};

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
const SECRET_BYTES: usize = 20;

/// A new random secret (160 bits, the size RFC 4226 recommends).
pub fn new_secret() -> Result<Vec<u8>, AuthError> {
    Ok(secret::random_bytes::<SECRET_BYTES>()?.to_vec())
}

/// RFC 4648 base32 without padding: how authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The otpauth:// URL an authenticator app scans.
pub fn otpauth_url(issuer: &str, account: &str, secret: &[u8]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => char::from(b).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        encode(issuer),
        encode(account),
        base32(secret),
        encode(issuer)
    )
}

/// The code for time step `step`.
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let digest = tag.as_ref();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(DIGITS)
}

pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The time step whose code `code` is, within one step either side of now; `None` when it
/// matches none. The caller must still make sure each step is used only once.
pub fn matching_step(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let now = step_at(unix_seconds);
    // Compare every candidate, so timing does not tell which step matched.
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if crate::secret::constant_time_eq(&code_at(secret, step).to_be_bytes(), &wanted.to_be_bytes()) {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 column (the 8-digit values, read modulo 10^6).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
        ] {
            assert_eq!(code_at(secret, step_at(time)), expected % 1_000_000, "{time}");
        }
    }

    #[test]
    fn window_is_one_step_either_side() {
        let secret = b"12345678901234567890";
        let now = 1_700_000_000;
        let code = |step: i64| format!("{:06}", code_at(secret, step));
        assert_eq!(matching_step(secret, &code(step_at(now)), now), Some(step_at(now)));
        assert_eq!(matching_step(secret, &code(step_at(now) - 1), now), Some(step_at(now) - 1));
        assert_eq!(matching_step(secret, &code(step_at(now) + 1), now), Some(step_at(now) + 1));
        assert_eq!(matching_step(secret, &code(step_at(now) - 2), now), None);
        for bad in ["", "12345", "1234567", "12a456", " 123 456"] {
            assert_eq!(matching_step(secret, bad, now), None, "{bad}");
        }
    }

    #[test]
    fn base32_and_url() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let url = otpauth_url("Tessera", "alice@contoso.com", b"12345678901234567890");
        assert_eq!(
            url,
            "otpauth://totp/Tessera:alice@contoso.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tessera&algorithm=SHA1&digits=6&period=30"
        );
    }
}
