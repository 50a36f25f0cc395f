//! Domain-joined computers, as Active Directory holds their accounts: what a hybrid join's token
//! says of one (M365-PROTOCOLS.md §8 item 24), and the security identifier's text form.

/// The relative ID of AD's "Domain Computers" group, the primary group of every workstation and
/// member server joined to the domain (domain controllers have 516). AD FS's hybrid join rules
/// issue `accounttype` = `DJ` to members of it only.
pub const DOMAIN_COMPUTERS_RID: u32 = 515;
/// `userAccountControl`'s ACCOUNTDISABLE bit.
const ACCOUNT_DISABLED: u32 = 0x2;

/// A computer account, read from the directory when its ticket comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainComputer {
    /// `sAMAccountName`, with its trailing `$`.
    pub account: String,
    pub dn: String,
    /// `objectGUID`, base64 of its 16 bytes (as Entra Connect writes a device's anchor).
    pub object_guid: String,
    /// `objectSid` in its text form, `S-1-5-21-…`.
    pub sid: String,
    pub primary_group: u32,
    pub user_account_control: u32,
    pub dns_host_name: Option<String>,
}

impl DomainComputer {
    pub fn disabled(&self) -> bool {
        self.user_account_control & ACCOUNT_DISABLED != 0
    }

    /// A workstation or member server joined to the domain (not a domain controller).
    pub fn domain_joined(&self) -> bool {
        self.primary_group == DOMAIN_COMPUTERS_RID
    }
}

/// Whether a Kerberos principal's account part names a computer: AD gives computer accounts a
/// logon name ending in `$`.
pub fn is_computer_account(account: &str) -> bool {
    account.len() > 1 && account.ends_with('$')
}

/// A binary security identifier (`objectSid`) as text: `S-{revision}-{authority}-{sub}…`
/// ([MS-DTYP] 2.4.2.2: the authority big-endian, the sub-authorities little-endian). `None`
/// for bytes that are not one.
pub fn sid_text(bytes: &[u8]) -> Option<String> {
    let (&revision, rest) = bytes.split_first()?;
    let (&count, rest) = rest.split_first()?;
    if revision != 1 || count > 15 || rest.len() != 6 + 4 * usize::from(count) {
        return None;
    }
    let (authority, subs) = rest.split_at(6);
    let authority = authority.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let mut text = format!("S-{revision}-{authority}");
    for sub in subs.chunks_exact(4) {
        let value = u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]]);
        text.push_str(&format!("-{value}"));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_sid_reads_as_windows_writes_it() {
        // S-1-5-21-1004336348-1177238915-682003330-512 (Domain Admins of a well-known example).
        let mut bytes = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 1004336348, 1177238915, 682003330, 512] {
            bytes.extend_from_slice(&sub.to_le_bytes());
        }
        assert_eq!(sid_text(&bytes).as_deref(), Some("S-1-5-21-1004336348-1177238915-682003330-512"));
        assert_eq!(sid_text(&[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]).as_deref(), Some("S-1-5-18"));
    }

    #[test]
    fn bytes_that_are_no_sid_are_refused() {
        assert_eq!(sid_text(&[]), None);
        assert_eq!(sid_text(&[1]), None);
        // A count that promises more than is there, or less.
        assert_eq!(sid_text(&[1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]), None);
        assert_eq!(sid_text(&[1, 0, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]), None);
        // Another revision; more sub-authorities than a SID may have.
        assert_eq!(sid_text(&[2, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]), None);
        let mut long = vec![1u8, 16, 0, 0, 0, 0, 0, 5];
        long.extend(std::iter::repeat_n(0u8, 64));
        assert_eq!(sid_text(&long), None);
    }

    #[test]
    fn computers_are_told_by_their_dollar_and_their_primary_group() {
        assert!(is_computer_account("WS01$"));
        assert!(!is_computer_account("alice"));
        assert!(!is_computer_account("$"));
        let mut computer = DomainComputer {
            account: "WS01$".into(),
            dn: "CN=WS01,CN=Computers,DC=corp,DC=test".into(),
            object_guid: "AAAAAAAAAAAAAAAAAAAAAA==".into(),
            sid: "S-1-5-21-1-2-3-1105".into(),
            primary_group: 515,
            user_account_control: 0x1000,
            dns_host_name: None,
        };
        assert!(computer.domain_joined() && !computer.disabled());
        computer.user_account_control |= 0x2;
        computer.primary_group = 516;
        assert!(computer.disabled() && !computer.domain_joined());
    }
}
