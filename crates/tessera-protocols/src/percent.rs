//! Percent-encoding as the SAML Redirect binding and WS-Federation queries use it.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PercentError {
    #[error("a %-escape is truncated or not hexadecimal")]
    BadEscape,
    #[error("the decoded text is not UTF-8")]
    NotUtf8,
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-decoding as `application/x-www-form-urlencoded` (`+` is a space).
pub fn decode(raw: &str) -> Result<String, PercentError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(PercentError::BadEscape)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(PercentError::BadEscape);
                }
                out.push(u8::from_str_radix(hex, 16).map_err(|_| PercentError::BadEscape)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| PercentError::NotUtf8)
}

/// The decoded `(name, value)` pairs of a query string, in order.
pub fn decode_query(raw: &str) -> Result<Vec<(String, String)>, PercentError> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

/// Whether a raw query carries a parameter `name` (as sent, not decoded).
pub fn has_param(raw_query: &str, name: &str) -> bool {
    raw_query.split('&').any(|pair| pair.split('=').next() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_strict_and_decoding_refuses_bad_escapes() {
        assert_eq!(encode("a+b/c= ~"), "a%2Bb%2Fc%3D%20~");
        assert_eq!(decode("a%2Bb+c").unwrap(), "a+b c");
        assert_eq!(decode("%+A"), Err(PercentError::BadEscape));
        assert_eq!(decode("%4"), Err(PercentError::BadEscape));
        assert_eq!(decode("%FF"), Err(PercentError::NotUtf8));
        assert_eq!(
            decode_query("wa=wsignin1.0&&x&wctx=a%26b").unwrap(),
            vec![("wa".into(), "wsignin1.0".into()), ("x".into(), String::new()), ("wctx".into(), "a&b".into())]
        );
        assert!(has_param("a=1&SAMLRequest=x", "SAMLRequest") && !has_param("SAMLRequestX=1", "SAMLRequest"));
    }
}
