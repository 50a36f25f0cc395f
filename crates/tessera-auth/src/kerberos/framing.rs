//! Where a `Negotiate` token's Kerberos authenticator is: the part of an AP-REQ that is new
//! for every use of a ticket (it is encrypted under the session key with the client's time),
//! whatever wraps it. The same AP-REQ can travel in SPNEGO (RFC 4178) or bare in the Kerberos
//! mechanism's own framing (RFC 4121 §4.1), with its DER lengths written in more than one way;
//! a replay record keyed by the authenticator sees through all of them. A reader of the few
//! DER elements on that path, nothing more: anything unexpected is `None`.

/// The SPNEGO mechanism, 1.3.6.1.5.5.2.
const SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// Kerberos 5, 1.2.840.113554.1.2.2.
const KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// Kerberos 5 as Windows names it, 1.2.840.48018.1.2.2.
const MS_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// The Kerberos mechanism's token id of an AP-REQ.
const AP_REQ_TOKEN: [u8; 2] = [0x01, 0x00];

/// One DER element at the start of `bytes`: its tag (one byte: every tag on this path is),
/// its value, and what follows it.
fn element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (digits, rest) = rest.split_at(count);
        (digits.iter().fold(0usize, |n, d| (n << 8) | usize::from(*d)), rest)
    };
    if rest.len() < length {
        return None;
    }
    let (value, rest) = rest.split_at(length);
    Some((tag, value, rest))
}

/// The value of the element tagged `tag` among a SEQUENCE's `fields`.
fn field(mut fields: &[u8], tag: u8) -> Option<&[u8]> {
    while !fields.is_empty() {
        let (found, value, rest) = element(fields)?;
        if found == tag {
            return Some(value);
        }
        fields = rest;
    }
    None
}

/// The content of the element tagged `tag` that is all of `bytes`' first element.
fn inside(bytes: &[u8], tag: u8) -> Option<&[u8]> {
    let (found, value, _) = element(bytes)?;
    (found == tag).then_some(value)
}

/// The Kerberos mechanism's token inside `token`: `token` itself when it is one, SPNEGO's
/// mechToken when SPNEGO wraps it.
pub fn kerberos_token(token: &[u8]) -> Option<&[u8]> {
    let body = inside(token, 0x60)?;
    let (tag, mechanism, rest) = element(body)?;
    if tag != 0x06 {
        return None;
    }
    if mechanism == KRB5 || mechanism == MS_KRB5 {
        return Some(token);
    }
    if mechanism != SPNEGO {
        return None;
    }
    // NegotiationToken: negTokenInit [0] NegTokenInit ::= SEQUENCE { mechTypes [0],
    // reqFlags [1], mechToken [2] OCTET STRING, mechListMIC [3] }.
    let init = inside(inside(rest, 0xa0)?, 0x30)?;
    let mech_token = inside(field(init, 0xa2)?, 0x04)?;
    let inner = inside(mech_token, 0x60)?;
    let (tag, mechanism, _) = element(inner)?;
    (tag == 0x06 && (mechanism == KRB5 || mechanism == MS_KRB5)).then_some(mech_token)
}

/// The encrypted authenticator of the AP-REQ `token` carries (bare or in SPNEGO).
pub fn authenticator(token: &[u8]) -> Option<&[u8]> {
    let body = inside(kerberos_token(token)?, 0x60)?;
    let (_, _, rest) = element(body)?;
    let ap_req = rest.strip_prefix(&AP_REQ_TOKEN[..])?;
    // AP-REQ ::= [APPLICATION 14] SEQUENCE { pvno [0], msg-type [1], ap-options [2],
    // ticket [3], authenticator [4] EncryptedData }; EncryptedData ::= SEQUENCE { etype [0],
    // kvno [1] OPTIONAL, cipher [2] OCTET STRING }.
    let fields = inside(inside(ap_req, 0x6e)?, 0x30)?;
    let encrypted = inside(field(fields, 0xa4)?, 0x30)?;
    let cipher = inside(field(encrypted, 0xa2)?, 0x04)?;
    (!cipher.is_empty()).then_some(cipher)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER element, its length in the short form or, with `long`, the long one.
    fn der(tag: u8, value: &[u8], long: bool) -> Vec<u8> {
        let mut out = vec![tag];
        if long || value.len() >= 0x80 {
            let n = value.len() as u32;
            out.extend([0x84]);
            out.extend(n.to_be_bytes());
        } else {
            out.push(value.len() as u8);
        }
        out.extend(value);
        out
    }

    fn ap_req(cipher: &[u8], long: bool) -> Vec<u8> {
        let encrypted = der(
            0x30,
            &[der(0xa0, &der(0x02, &[18], long), long), der(0xa2, &der(0x04, cipher, long), long)].concat(),
            long,
        );
        let fields = [
            der(0xa0, &der(0x02, &[5], long), long),
            der(0xa1, &der(0x02, &[14], long), long),
            der(0xa2, &der(0x03, &[0, 0x20, 0, 0, 0], long), long),
            der(0xa3, &der(0x61, b"a ticket", long), long),
            der(0xa4, &encrypted, long),
        ]
        .concat();
        der(0x6e, &der(0x30, &fields, long), long)
    }

    fn bare(ap_req: &[u8], oid: &[u8], long: bool) -> Vec<u8> {
        der(0x60, &[der(0x06, oid, false), AP_REQ_TOKEN.to_vec(), ap_req.to_vec()].concat(), long)
    }

    fn spnego(inner: &[u8], long: bool) -> Vec<u8> {
        let mech_types = der(0xa0, &der(0x30, &der(0x06, MS_KRB5, false), long), long);
        let init = der(0x30, &[mech_types, der(0xa2, &der(0x04, inner, long), long)].concat(), long);
        der(0x60, &[der(0x06, SPNEGO, false), der(0xa0, &init, long)].concat(), long)
    }

    #[test]
    fn the_same_authenticator_is_found_however_it_is_wrapped() {
        let cipher = b"the authenticator, encrypted".to_vec();
        let short = ap_req(&cipher, false);
        let long = ap_req(&cipher, true);
        for token in [
            bare(&short, KRB5, false),
            bare(&long, MS_KRB5, true),
            spnego(&bare(&short, KRB5, false), false),
            spnego(&bare(&long, KRB5, true), true),
        ] {
            assert_eq!(authenticator(&token), Some(cipher.as_slice()));
        }
        let wrapped = spnego(&bare(&short, KRB5, false), false);
        assert_eq!(kerberos_token(&wrapped), Some(bare(&short, KRB5, false).as_slice()));
    }

    #[test]
    fn anything_else_has_none() {
        let cipher = b"x".to_vec();
        assert_eq!(authenticator(b""), None);
        assert_eq!(authenticator(b"NTLMSSP\0\x01\0\0\0"), None);
        assert_eq!(authenticator(&[0x60, 0x84, 0xff, 0xff, 0xff, 0xff]), None, "a length past the end");
        assert_eq!(authenticator(&[0x60, 0x85, 1, 2, 3, 4, 5]), None, "a length of five bytes");
        let other = der(0x60, &[der(0x06, &[0x2b, 0x06, 0x01], false), AP_REQ_TOKEN.to_vec()].concat(), false);
        assert_eq!(authenticator(&other), None, "another mechanism");
        let ap_rep = der(0x60, &[der(0x06, KRB5, false), vec![0x02, 0x00], ap_req(&cipher, false)].concat(), false);
        assert_eq!(authenticator(&ap_rep), None, "not an AP-REQ");
        assert_eq!(authenticator(&spnego(b"NTLMSSP\0", false)), None);
        let mut cut = bare(&ap_req(&cipher, false), KRB5, false);
        cut.truncate(cut.len() - 3);
        assert_eq!(authenticator(&cut), None);
    }
}
