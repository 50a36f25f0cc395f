//! A user changing their own directory password through Tessera (the account page), as their
//! directory allows: Active Directory by a change of `unicodePwd` (the old value deleted and the
//! new one added in one modify, which AD takes as the user's own change: it checks the old
//! password and applies its policy: complexity, history, minimum age); OpenLDAP by the Password
//! Modify operation (RFC 3062) bound as the user, as its ACLs allow. Always over TLS.

use std::collections::HashSet;

use ldap3::exop::PasswordModify;
use ldap3::{LdapResult, Mod};
use tessera_core::sources::{DirectoryKind, SourceConfig};

use crate::DirectoryError;
use crate::connect::{Timeouts, bind_to};
use crate::pass_through::find_user;

/// What the directory made of the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    Changed,
    /// The current password is not right.
    WrongPassword,
    /// The directory's policy (or its access rules) refused the new password: its words, or
    /// `None` where it said only that its password rules were not met (Windows AD's 0000052D).
    Refused(Option<String>),
    /// The directory no longer has this user (see `check_user_password`).
    NotInDirectory,
}

/// Changes the password of the user whose UPN attribute is `upn` and anchor `anchor` from
/// `current` to `new`.
pub async fn change_user_password(
    config: &SourceConfig,
    service_password: &str,
    upn: &str,
    anchor: &str,
    current: &str,
    new: &str,
    timeouts: Timeouts,
) -> Result<PasswordChange, DirectoryError> {
    if current.is_empty() || new.is_empty() {
        return Ok(PasswordChange::WrongPassword);
    }
    let Some(found) = find_user(config, service_password, upn, anchor, &[], "the user lookup", timeouts).await? else {
        return Ok(PasswordChange::NotInDirectory);
    };
    let refused =
        |e: ldap3::LdapError| DirectoryError::Refused { operation: "the password change", message: e.to_string() };
    match config.kind {
        DirectoryKind::Ad => {
            // The service account asks; AD checks the old value itself (a change, not a reset),
            // so a user whose password must be changed at next logon (who cannot bind) can too.
            let mut bound = bind_to(&found.server, &found.tls, &config.bind_dn, service_password, timeouts).await?;
            let quoted = |password: &str| -> Vec<u8> {
                format!("\"{password}\"").encode_utf16().flat_map(u16::to_le_bytes).collect()
            };
            let attribute = b"unicodePwd".to_vec();
            let mods = vec![
                Mod::Delete(attribute.clone(), HashSet::from([quoted(current)])),
                Mod::Add(attribute, HashSet::from([quoted(new)])),
            ];
            let answer = bound.ldap.with_timeout(timeouts.operation).modify(&found.dn, mods).await.map_err(refused)?;
            let _ = bound.ldap.unbind().await;
            Ok(ad_outcome(&answer))
        }
        DirectoryKind::OpenLdap => {
            let mut as_user = match bind_to(&found.server, &found.tls, &found.dn, current, timeouts).await {
                Ok(bound) => bound,
                Err(DirectoryError::InvalidCredentials { .. }) => return Ok(PasswordChange::WrongPassword),
                Err(other) => return Err(other),
            };
            let modify = PasswordModify { user_id: None, old_pass: Some(current), new_pass: Some(new) };
            let answer = as_user.ldap.with_timeout(timeouts.operation).extended(modify).await.map_err(refused)?;
            let _ = as_user.ldap.unbind().await;
            Ok(ldap_outcome(&answer.1))
        }
    }
}

/// AD's answer: a constraint violation whose code is 0x56 (ERROR_INVALID_PASSWORD) is a wrong
/// old password; any other refusal is its policy's, said in its words.
fn ad_outcome(answer: &LdapResult) -> PasswordChange {
    match answer.rc {
        0 => PasswordChange::Changed,
        19 if answer.text.starts_with("00000056") || answer.text.contains("data 56,") => PasswordChange::WrongPassword,
        _ => PasswordChange::Refused(in_words(answer)),
    }
}

fn ldap_outcome(answer: &LdapResult) -> PasswordChange {
    match answer.rc {
        0 => PasswordChange::Changed,
        49 => PasswordChange::WrongPassword,
        50 => PasswordChange::Refused(Some("the directory does not let users change their own password".into())),
        _ => PasswordChange::Refused(in_words(answer)),
    }
}

/// A refusal's words, without the server's hex code, operation name and control characters;
/// `None` when they say no more than that the password rules were not met (Windows AD's
/// `0000052D: AtrErr: DSID-…, problem 1005 (CONSTRAINT_ATT_TYPE)…`, which names no rule).
fn in_words(answer: &LdapResult) -> Option<String> {
    let mut text = answer.text.trim();
    if let Some((_, detail)) = text.split_once("check_password_restrictions: ") {
        text = detail;
    } else if text.starts_with("0000052D") {
        return None;
    }
    if let Some((code, rest)) = text.split_once(": ")
        && code.len() == 8
        && code.bytes().all(|b| b.is_ascii_hexdigit())
    {
        text = rest;
    }
    let text = text.strip_prefix("Constraint violation - ").unwrap_or(text);
    let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    let text = text.trim().trim_end_matches('!').trim_end_matches('.').trim();
    Some(if text.is_empty() { format!("result {}", answer.rc) } else { text.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(rc: u32, text: &str) -> LdapResult {
        LdapResult { rc, matched: String::new(), text: text.into(), refs: Vec::new(), ctrls: Vec::new() }
    }

    #[test]
    fn directory_answers_are_read_as_the_user_needs_them() {
        assert_eq!(ad_outcome(&answer(0, "")), PasswordChange::Changed);
        assert_eq!(
            ad_outcome(&answer(19, "00000056: Constraint violation - The old password specified doesn't match!")),
            PasswordChange::WrongPassword
        );
        assert_eq!(
            ad_outcome(&answer(
                19,
                "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!"
            )),
            PasswordChange::Refused(Some("the password does not meet the complexity criteria".into()))
        );
        assert_eq!(ldap_outcome(&answer(49, "")), PasswordChange::WrongPassword);
        assert!(matches!(ldap_outcome(&answer(50, "no write access")), PasswordChange::Refused(_)));
        assert_eq!(ldap_outcome(&answer(19, "")), PasswordChange::Refused(Some("result 19".into())));
        // Windows AD names no rule: the page says the rules were not met.
        let windows = "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n\0";
        assert_eq!(ad_outcome(&answer(19, windows)), PasswordChange::Refused(None));
        let noisy = ad_outcome(&answer(53, "0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM)\n\0"));
        assert!(matches!(noisy, PasswordChange::Refused(Some(ref t)) if !t.chars().any(char::is_control)), "{noisy:?}");
    }
}
