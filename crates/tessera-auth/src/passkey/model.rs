//! The authenticator's model as an enrolment answer states it: its AAGUID, read from the
//! attestation object's authenticator data. With attestation `none` nothing vouches for it: it
//! is what the authenticator (through the browser) says. An allow-list of models keeps honest
//! users to the keys an organization hands out; it does not stop a forged authenticator, which
//! only verified attestation (a vendor's certificate chain) would.

/// The deepest nesting of CBOR items read: an attestation statement is a few levels deep.
const MAX_DEPTH: u8 = 8;

/// A CBOR item's head (RFC 8949 §3): its major type and argument, and where its content begins.
/// Indefinite lengths (argument 31) are refused: an attestation object has none.
fn head(data: &[u8], at: usize) -> Option<(u8, u64, usize)> {
    let first = *data.get(at)?;
    let (major, info) = (first >> 5, first & 0x1f);
    let (value, next) = match info {
        0..=23 => (u64::from(info), at + 1),
        24..=27 => {
            let size = 1usize << (info - 24);
            let bytes = data.get(at + 1..at + 1 + size)?;
            (bytes.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)), at + 1 + size)
        }
        _ => return None,
    };
    Some((major, value, next))
}

/// Where the item at `at` ends.
fn skip(data: &[u8], at: usize, depth: u8) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (major, value, next) = head(data, at)?;
    match major {
        0 | 1 | 7 => Some(next),
        2 | 3 => {
            let end = next.checked_add(usize::try_from(value).ok()?)?;
            (end <= data.len()).then_some(end)
        }
        4 | 5 => {
            let items = if major == 5 { value.checked_mul(2)? } else { value };
            let mut at = next;
            for _ in 0..items {
                at = skip(data, at, depth + 1)?;
            }
            Some(at)
        }
        6 => skip(data, next, depth + 1),
        _ => None,
    }
}

/// The `authData` byte string of an attestation object (a CBOR map of `fmt`, `attStmt`,
/// `authData`).
fn authenticator_data(attestation_object: &[u8]) -> Option<&[u8]> {
    let (major, pairs, mut at) = head(attestation_object, 0)?;
    if major != 5 {
        return None;
    }
    for _ in 0..pairs {
        let (key_major, key_len, key_at) = head(attestation_object, at)?;
        let key_end = skip(attestation_object, at, 0)?;
        let value_at = key_end;
        if key_major == 3 && attestation_object.get(key_at..key_end)? == b"authData" && key_len == 8 {
            let (major, len, content) = head(attestation_object, value_at)?;
            let end = content.checked_add(usize::try_from(len).ok()?)?;
            return if major == 2 { attestation_object.get(content..end) } else { None };
        }
        at = skip(attestation_object, value_at, 0)?;
    }
    None
}

/// The AAGUID an enrolment's attestation object states: after the RP ID hash (32 bytes), the
/// flags (1) and the counter (4), when the flags say attested credential data follows.
pub(crate) fn aaguid_of(attestation_object: &[u8]) -> Option<[u8; 16]> {
    const ATTESTED_CREDENTIAL_DATA: u8 = 0x40;
    let data = authenticator_data(attestation_object)?;
    if data.get(32)? & ATTESTED_CREDENTIAL_DATA == 0 {
        return None;
    }
    data.get(37..53)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attestation object as an authenticator makes one: `fmt`, an `attStmt` with nested
    /// items, then `authData` with the AAGUID at its place.
    fn attestation_object(aaguid: [u8; 16], flags: u8) -> Vec<u8> {
        let mut auth_data = vec![7u8; 32];
        auth_data.push(flags);
        auth_data.extend([0, 0, 0, 1]);
        auth_data.extend(aaguid);
        auth_data.extend([0, 2, 9, 9]);
        let mut out = vec![0xa3, 0x63];
        out.extend(b"fmt");
        out.extend([0x66]);
        out.extend(b"packed");
        out.extend([0x67]);
        out.extend(b"attStmt");
        // {"alg": -7, "sig": h'0102', "x5c": [h'03']}, with a tag for good measure.
        out.extend([0xa3, 0x63]);
        out.extend(b"alg");
        out.extend([0x26, 0x63]);
        out.extend(b"sig");
        out.extend([0x42, 1, 2, 0x63]);
        out.extend(b"x5c");
        out.extend([0x81, 0xc2, 0x41, 3]);
        out.extend([0x68]);
        out.extend(b"authData");
        out.extend([0x58, auth_data.len() as u8]);
        out.extend(auth_data);
        out
    }

    #[test]
    fn the_model_is_read_from_the_authenticator_data() {
        let model = [0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1, 0x54, 0xa8];
        assert_eq!(aaguid_of(&attestation_object(model, 0x45)), Some(model));
        assert_eq!(aaguid_of(&attestation_object(model, 0x05)), None, "no attested credential data");
    }

    #[test]
    fn what_is_not_an_attestation_object_states_no_model() {
        let good = attestation_object([1; 16], 0x45);
        for cut in [0, 1, 5, 20, good.len() - 30, good.len() - 1] {
            assert_eq!(aaguid_of(&good[..cut]), None, "cut at {cut}");
        }
        for bad in [
            vec![],
            vec![0xa1],
            vec![0x9f],
            vec![0xbf, 0xff],
            vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(aaguid_of(&bad), None, "{bad:?}");
        }
        // Nesting past the limit is refused, not followed.
        let mut deep = vec![0xa2, 0x61, b'x'];
        deep.extend(std::iter::repeat_n(0x81, 100));
        deep.push(0);
        assert_eq!(aaguid_of(&deep), None);
    }
}
