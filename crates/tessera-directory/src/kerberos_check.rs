//! `tessera directory kerberos check`: the keytab Windows integrated sign-in uses, set against
//! Active Directory, as an administrator would check it by hand (`klist -k`, `setspn -Q`, the
//! account's key version). The usual causes of a Kerberos sign-in that never works: no key
//! of a type AD issues tickets with, a service principal on no account or on two, a keytab
//! exported before the account's password last changed.

use ldap3::ldap_escape;
use tessera_core::sources::SourceConfig;

use crate::DirectoryError;
use crate::connect::{Timeouts, search_as_service};
use crate::pass_through::domain_components;
use crate::read::text;

/// One key of a keytab (MIT's file format, version 0x0502 or 0x0501).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeytabEntry {
    /// `component/component@REALM`.
    pub principal: String,
    pub kvno: u32,
    pub enctype: i32,
}

/// The encryption types AD issues tickets with by default (AES256 and AES128, RFC 3962).
const AES: [i32; 2] = [18, 17];

pub fn enctype_name(enctype: i32) -> String {
    match enctype {
        18 => "aes256-cts-hmac-sha1-96".into(),
        17 => "aes128-cts-hmac-sha1-96".into(),
        20 => "aes256-cts-hmac-sha384-192".into(),
        19 => "aes128-cts-hmac-sha256-128".into(),
        23 => "arcfour-hmac (RC4)".into(),
        1 | 3 => "des (broken)".into(),
        other => format!("enctype {other}"),
    }
}

/// Reads a keytab; `Err` says what is wrong with it.
pub fn read_keytab(bytes: &[u8]) -> Result<Vec<KeytabEntry>, String> {
    let mut reader = Reader { bytes, at: 0 };
    let version = reader.u16()?;
    if version == 0x0501 {
        return Err("a keytab of MIT's first version (0x0501): export it again".into());
    }
    if version != 0x0502 {
        return Err(format!("not a keytab (it starts {version:#06x}, a keytab 0x0502)"));
    }
    let mut entries = Vec::new();
    // As MIT reads one: fewer than four bytes left, or a size of 0, ends it.
    while bytes.len() - reader.at >= 4 {
        let size = reader.u32()? as i32;
        if size == 0 {
            break;
        }
        if size < 0 {
            // A hole left by a removed entry.
            reader.skip(size.unsigned_abs() as usize)?;
            continue;
        }
        let body = reader.take(size as usize)?;
        entries.push(read_entry(body)?);
    }
    Ok(entries)
}

fn read_entry(body: &[u8]) -> Result<KeytabEntry, String> {
    let mut entry = Reader { bytes: body, at: 0 };
    let components = usize::from(entry.u16()?);
    let realm = entry.text()?;
    let mut names = Vec::with_capacity(components);
    for _ in 0..components {
        names.push(entry.text()?);
    }
    entry.u32()?; // the name type
    entry.u32()?; // when the key was written
    let kvno8 = u32::from(entry.u8()?);
    let enctype = i32::from(entry.u16()? as i16);
    let key_length = usize::from(entry.u16()?);
    entry.skip(key_length)?;
    // A 32-bit key version follows where there is room for it, and wins when it is not 0.
    let kvno = match entry.u32() {
        Ok(kvno) if kvno != 0 => kvno,
        _ => kvno8,
    };
    Ok(KeytabEntry { principal: format!("{}@{realm}", names.join("/")), kvno, enctype })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len());
        let Some(end) = end else { return Err("the keytab ends in the middle of an entry".into()) };
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn skip(&mut self, n: usize) -> Result<(), String> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn text(&mut self) -> Result<String, String> {
        let n = usize::from(self.u16()?);
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a principal name in the keytab is not UTF-8".to_string())
    }
}

/// One line of the check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KerberosCheck {
    pub check: &'static str,
    pub ok: bool,
    /// What was found, and on failure what to do.
    pub detail: String,
}

/// The account that holds a service principal, as AD has it.
struct SpnHolder {
    dn: String,
    logon_name: String,
    kvno: Option<u32>,
}

/// The domain part of a base DN (`OU=Staff,DC=corp,DC=test` → `DC=corp,DC=test`): service
/// accounts live anywhere in the domain.
fn domain_dn(base_dn: &str) -> String {
    domain_components(base_dn).map(|(rdn, _)| rdn).collect::<Vec<_>>().join(",")
}

/// Checks the keytab `keytab` for `HTTP/host` against the source's domain.
pub async fn check_kerberos(
    config: &SourceConfig,
    service_password: &str,
    host: &str,
    keytab: &[u8],
    timeouts: Timeouts,
) -> Result<Vec<KerberosCheck>, DirectoryError> {
    let spn = format!("HTTP/{}", host.to_ascii_lowercase());
    let mut checks = Vec::new();
    let line = |check, ok, detail: String| KerberosCheck { check, ok, detail };
    let entries = match read_keytab(keytab) {
        Ok(entries) if !entries.is_empty() => entries,
        Ok(_) => return Ok(vec![line("keytab", false, "the keytab holds no key".into())]),
        Err(why) => return Ok(vec![line("keytab", false, why)]),
    };
    let mut principals: Vec<&str> = entries.iter().map(|e| e.principal.as_str()).collect();
    principals.dedup();
    checks.push(line("keytab", true, format!("{} keys, for {}", entries.len(), principals.join(", "))));

    let filter = format!("(servicePrincipalName={})", ldap_escape(&spn));
    let attributes = vec!["sAMAccountName", "msDS-KeyVersionNumber"];
    let domain = domain_dn(&config.base_dn);
    let operation = "the service principal lookup";
    let found = search_as_service(config, service_password, &domain, &filter, attributes, operation, timeouts).await?;
    let holders: Vec<SpnHolder> = found
        .entries
        .into_iter()
        .map(|entry| SpnHolder {
            logon_name: text(&entry, "sAMAccountName").unwrap_or_default(),
            kvno: text(&entry, "msDS-KeyVersionNumber").and_then(|v| v.parse().ok()),
            dn: entry.dn,
        })
        .collect();
    let holder = match holders.as_slice() {
        [holder] => {
            checks.push(line("service principal", true, format!("{spn} is held by {}", holder.dn)));
            holder
        }
        [] => {
            checks.push(line(
                "service principal",
                false,
                format!("no account holds {spn}: register it on the service account (setspn -S {spn} ACCOUNT)"),
            ));
            return Ok(checks);
        }
        several => {
            let dns: Vec<&str> = several.iter().map(|h| h.dn.as_str()).collect();
            checks.push(line(
                "service principal",
                false,
                format!(
                    "{spn} is held by {} accounts ({}): the KDC then refuses it; keep it on one",
                    dns.len(),
                    dns.join("; ")
                ),
            ));
            return Ok(checks);
        }
    };
    // The keys of the holder: named by the service principal, or by the account (exported by
    // account).
    let ours = |entry: &&KeytabEntry| {
        let name = entry.principal.rsplit_once('@').map_or(entry.principal.as_str(), |(name, _)| name);
        name.eq_ignore_ascii_case(&spn) || name.eq_ignore_ascii_case(&holder.logon_name)
    };
    let keys: Vec<&KeytabEntry> = entries.iter().filter(ours).collect();
    if keys.is_empty() {
        checks.push(line(
            "account's keys",
            false,
            format!("the keytab holds no key of {spn} or of {}: export that account's keys", holder.logon_name),
        ));
        return Ok(checks);
    }
    checks.push(line("account's keys", true, format!("{} keys of {spn} or {}", keys.len(), holder.logon_name)));
    let aes = keys.iter().any(|e| AES.contains(&e.enctype));
    let mut kinds: Vec<String> = keys.iter().map(|e| enctype_name(e.enctype)).collect();
    kinds.dedup();
    checks.push(line(
        "aes keys",
        aes,
        if aes {
            "AES keys, which AD issues tickets with".into()
        } else {
            format!("only {}: AD issues AES tickets; export the keytab with AES256 keys", kinds.join(", "))
        },
    ));
    let newest = keys.iter().map(|k| k.kvno).max().unwrap_or(0);
    match holder.kvno {
        Some(current) if current == newest => {
            checks.push(line("key version", true, format!("version {current}, as AD has it")))
        }
        Some(current) => checks.push(line(
            "key version",
            false,
            format!(
                "the keytab's keys are version {newest}, AD's are version {current}: the account's password changed since; export the keytab again"
            ),
        )),
        None => checks.push(line("key version", true, format!("version {newest} (AD does not say its own to this account)"))),
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keytab entry as MIT writes it.
    fn entry(realm: &str, names: &[&str], kvno: u8, enctype: u16, key: &[u8], kvno32: Option<u32>) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend((names.len() as u16).to_be_bytes());
        body.extend((realm.len() as u16).to_be_bytes());
        body.extend(realm.as_bytes());
        for name in names {
            body.extend((name.len() as u16).to_be_bytes());
            body.extend(name.as_bytes());
        }
        body.extend(1u32.to_be_bytes());
        body.extend(1_700_000_000u32.to_be_bytes());
        body.push(kvno);
        body.extend(enctype.to_be_bytes());
        body.extend((key.len() as u16).to_be_bytes());
        body.extend(key);
        if let Some(kvno32) = kvno32 {
            body.extend(kvno32.to_be_bytes());
        }
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend(body);
        out
    }

    #[test]
    fn a_keytab_is_read_entry_by_entry_holes_skipped() {
        let mut keytab = vec![0x05, 0x02];
        keytab.extend(entry("CORP.TEST", &["HTTP", "sts.corp.test"], 3, 18, &[7; 32], Some(3)));
        keytab.extend((-6i32).to_be_bytes());
        keytab.extend([0; 6]);
        keytab.extend(entry("CORP.TEST", &["svc-tessera"], 44, 23, &[9; 16], Some(300)));
        let entries = read_keytab(&keytab).unwrap();
        assert_eq!(
            entries,
            [
                KeytabEntry { principal: "HTTP/sts.corp.test@CORP.TEST".into(), kvno: 3, enctype: 18 },
                KeytabEntry { principal: "svc-tessera@CORP.TEST".into(), kvno: 300, enctype: 23 },
            ]
        );
    }

    #[test]
    fn a_file_that_is_not_a_keytab_is_refused_in_words() {
        assert!(read_keytab(b"").is_err());
        assert!(read_keytab(b"-----BEGIN CERTIFICATE-----").unwrap_err().contains("not a keytab"));
        let mut cut = vec![0x05, 0x02];
        cut.extend(&entry("CORP.TEST", &["HTTP", "sts"], 3, 18, &[7; 32], None)[..20]);
        assert!(read_keytab(&cut).unwrap_err().contains("middle of an entry"));
        let mut lying = vec![0x05, 0x02];
        lying.extend(u32::MAX.to_be_bytes());
        assert!(read_keytab(&lying).is_err(), "a hole larger than the file");
        assert_eq!(read_keytab(&[0x05, 0x02]).unwrap(), []);
        assert!(read_keytab(&[0x05, 0x01]).unwrap_err().contains("export it again"));
        // A size of 0, or fewer than four bytes after the last entry, ends it (as MIT reads it).
        let mut ended = vec![0x05, 0x02];
        ended.extend(entry("CORP.TEST", &["svc"], 3, 18, &[7; 32], None));
        ended.extend([0, 0, 0, 0, 9, 9]);
        assert_eq!(read_keytab(&ended).unwrap().len(), 1);
    }

    #[test]
    fn the_domain_is_the_base_dns_domain_components() {
        assert_eq!(domain_dn("OU=Staff, DC=corp,DC=test"), "DC=corp,DC=test");
        assert_eq!(domain_dn("ou=Staff,dc = corp, dc=test"), "dc = corp,dc=test");
    }
}
