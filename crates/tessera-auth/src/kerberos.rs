//! Windows integrated sign-in: the Kerberos ticket a domain-joined Windows (or any Kerberos
//! client) sends in HTTP `Authorization: Negotiate` (SPNEGO), accepted with the service's
//! keytab through MIT krb5's GSSAPI (`libgssapi`), then mapped to the user an Active Directory
//! source brought. NTLM is never taken: a token that carries it is refused before GSSAPI sees
//! it, and a context GSSAPI completes with any mechanism but Kerberos is refused after.
//!
//! Replays: MIT's replay cache refuses an authenticator seen by this process's host; the
//! authenticator's digest (`framing`: whatever wraps it) is also recorded among the protocol
//! message IDs, which every node shares, so a ticket replayed to another node is refused too.
//!
//! Which keytab: MIT reads `KRB5_KTNAME` (the binary sets it from `serve --kerberos-keytab`).

use libgssapi::context::{SecurityContext, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::oid::GSS_MECH_KRB5;
use serde_json::json;
use tessera_core::computers::{DomainComputer, is_computer_account};
use tessera_core::{Actor, AuditAction, NewAuditEvent, User, UserState};

pub mod framing;

use crate::AuthError;
use crate::authenticate::{Authenticator, CheckStore};
use crate::client::ClientAddresses;
use crate::secret::sha256_hex_of;

/// The largest `Negotiate` token taken, decoded. A Windows ticket with a large PAC (a user in
/// many groups) runs to tens of kilobytes; AD's own limit (MaxTokenSize) is 48 KB.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// How long a token's digest is kept against replays: beyond the clock skew Kerberos allows
/// (five minutes) on either side.
const REPLAY_WINDOW_MS: i64 = 11 * 60 * 1000;
/// The "issuer" under which token digests are kept among protocol message IDs.
const REPLAY_ISSUER: &str = "kerberos";

/// A client principal, `account@REALM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: String,
    pub realm: String,
}

impl Principal {
    /// `account@REALM` as GSSAPI displays it; `None` for anything else (no realm, an instance
    /// part such as `host/pc`, an enterprise name with a second `@`, control characters).
    pub fn parse(name: &str) -> Option<Principal> {
        let (account, realm) = name.rsplit_once('@')?;
        let plain = |part: &str| {
            !part.is_empty()
                && part.len() <= 256
                && !part.chars().any(|c| c.is_control() || matches!(c, '@' | '/' | '\\'))
        };
        (plain(account) && plain(realm)).then(|| Principal { account: account.to_string(), realm: realm.to_string() })
    }
}

/// Why a ticket was not taken (the audit trail's words; the browser is shown the form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketRefusal {
    /// An NTLM token, bare or inside SPNEGO.
    Ntlm,
    /// Empty, not base64, or larger than [`MAX_TOKEN_BYTES`].
    Malformed,
    /// GSSAPI refused it: a ticket for another service, an expired ticket, a replayed
    /// authenticator, a bad checksum, no key for it in the keytab. Its words.
    Rejected(String),
    /// Completed with a mechanism other than Kerberos, or wanting more round trips than one.
    NotKerberos,
    /// A client name that is not `account@REALM`.
    BadPrincipal(String),
}

impl TicketRefusal {
    pub fn reason(&self) -> &'static str {
        match self {
            TicketRefusal::Ntlm => "ntlm_refused",
            TicketRefusal::Malformed => "kerberos_malformed",
            TicketRefusal::Rejected(_) => "kerberos_rejected",
            TicketRefusal::NotKerberos => "kerberos_other_mechanism",
            TicketRefusal::BadPrincipal(_) => "kerberos_bad_principal",
        }
    }

    fn detail(&self) -> Option<&str> {
        match self {
            TicketRefusal::Rejected(words) | TicketRefusal::BadPrincipal(words) => Some(words),
            _ => None,
        }
    }
}

/// Whether a token carries NTLM: its messages begin `NTLMSSP\0`, bare or as SPNEGO's mechToken.
pub fn carries_ntlm(token: &[u8]) -> bool {
    token.windows(8).any(|w| w == b"NTLMSSP\0")
}

/// A ticket GSSAPI took: whose, and the answer token for mutual authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedTicket {
    pub principal: Principal,
    pub reply: Option<Vec<u8>>,
}

/// The service's side of Kerberos: tickets for `HTTP/host`, with the keytab's keys.
#[derive(Debug, Clone)]
pub struct KerberosAcceptor {
    /// `HTTP@host`, GSSAPI's host-based service name.
    service: String,
}

impl KerberosAcceptor {
    /// The acceptor of tickets for `HTTP/<host>` (the public URL's host).
    pub fn for_host(host: &str) -> KerberosAcceptor {
        KerberosAcceptor { service: format!("HTTP@{}", host.to_ascii_lowercase()) }
    }

    /// `HTTP/host`, as the service principal is registered in the directory.
    pub fn service_principal(&self) -> String {
        self.service.replacen('@', "/", 1)
    }

    /// Any key of the keytab: a keytab exported by account (`samba-tool domain exportkeytab
    /// --principal=ACCOUNT`, `adcli`) names the account, not the service principal, and MIT
    /// then tries its keys in turn. Which service the ticket is for is checked after.
    fn credential(&self) -> Result<Cred, String> {
        Cred::acquire(None, None, CredUsage::Accept, None).map_err(|e| format!("no usable keytab: {e}"))
    }

    /// Whether the keytab entry that opened a ticket (GSSAPI's target name) is this service's:
    /// `HTTP/host@REALM`, or a service account's own name (`account@REALM`, a keytab exported
    /// by account), whose keys open tickets for that account's service principals only, all of
    /// them this service's (the README says to give the account no other).
    fn is_ours(&self, target: &str) -> bool {
        let Some((service, realm)) = target.rsplit_once('@') else { return false };
        let plain = |part: &str| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'$'))
        };
        if !plain(realm) {
            return false;
        }
        match service.split_once('/') {
            Some(_) => service.eq_ignore_ascii_case(&self.service_principal()),
            None => plain(service),
        }
    }

    /// Checks that the keytab holds a key for the service (at start, so that a missing or
    /// wrong keytab stops the server rather than every sign-in).
    pub fn check(&self) -> Result<(), String> {
        self.credential().map(|_| ())
    }

    /// Accepts one `Negotiate` token. Blocking: GSSAPI reads the keytab and writes the replay
    /// cache; call it off the async workers.
    pub fn accept(&self, token: &[u8]) -> Result<AcceptedTicket, TicketRefusal> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(TicketRefusal::Malformed);
        }
        if carries_ntlm(token) {
            return Err(TicketRefusal::Ntlm);
        }
        let cred = self.credential().map_err(TicketRefusal::Rejected)?;
        let mut context = ServerCtx::new(Some(cred));
        let reply = context.step(token, None).map_err(|e| TicketRefusal::Rejected(e.to_string()))?;
        if !context.is_complete() {
            return Err(TicketRefusal::NotKerberos);
        }
        match context.mechanism() {
            Ok(mechanism) if mechanism == GSS_MECH_KRB5 => {}
            _ => return Err(TicketRefusal::NotKerberos),
        }
        let target = context.target_name().map_err(|e| TicketRefusal::Rejected(e.to_string()))?.to_string();
        if !self.is_ours(&target) {
            return Err(TicketRefusal::Rejected(format!(
                "a ticket for {target}, not for {}",
                self.service_principal()
            )));
        }
        let name = context.source_name().map_err(|e| TicketRefusal::Rejected(e.to_string()))?.to_string();
        let principal = Principal::parse(&name).ok_or(TicketRefusal::BadPrincipal(name))?;
        Ok(AcceptedTicket { principal, reply: reply.map(|buf| buf.to_vec()) })
    }
}

/// The user a principal is, as the directory sources know them.
#[async_trait::async_trait]
pub trait PrincipalDirectory: Send + Sync {
    /// The user an Active Directory source of `principal`'s realm brought, found there by its
    /// logon name; `Ok(None)` when no source or user matches. `Err` says why a source that might
    /// have known them could not be asked (when none that could did).
    async fn user_of(&self, principal: &Principal) -> Result<Option<User>, String>;

    /// The computer account (`WS01$`) an Active Directory source of `principal`'s realm holds,
    /// read there now; `Ok(None)` when none does.
    async fn computer_of(&self, principal: &Principal) -> Result<Option<DomainComputer>, String>;
}

/// Whose tickets a caller takes: the login page signs in people only; WS-Trust's
/// windowstransport also gives domain-joined computers their hybrid join token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Welcome {
    Users,
    UsersAndComputers,
}

/// What became of a Windows integrated sign-in.
#[derive(Debug)]
pub enum KerberosOutcome {
    Accepted {
        user: Box<User>,
        /// The user has a second factor, which a complete sign-in needs.
        has_second_factor: bool,
        /// GSSAPI's answer for the client (mutual authentication), for `WWW-Authenticate`.
        reply: Option<Vec<u8>>,
    },
    /// A domain-joined computer's ticket (only where computers are welcome), and its realm.
    Computer { computer: Box<DomainComputer>, realm: String, reply: Option<Vec<u8>> },
    /// Not taken (the reason is in the audit trail): the form, as without a ticket.
    Refused,
}

impl<S: CheckStore + ?Sized> Authenticator<'_, S> {
    /// Takes the `Negotiate` token `token` (decoded) from `from`: GSSAPI's acceptance, the
    /// token recorded against replays on every node, the principal mapped to an active user.
    /// Every outcome is audited.
    pub async fn check_kerberos(
        &self,
        acceptor: &KerberosAcceptor,
        directory: &dyn PrincipalDirectory,
        welcome: Welcome,
        from: &ClientAddresses,
        token: Vec<u8>,
    ) -> Result<KerberosOutcome, AuthError> {
        let ip = from.client.to_string();
        let now = self.clock.now_millis();
        // Keyed by the authenticator, which no rewrapping changes (the whole token where none
        // is found: GSSAPI refuses those anyway, or they carry no Kerberos).
        let digest = sha256_hex_of(framing::authenticator(&token).unwrap_or(&token));
        let accepted = {
            let acceptor = acceptor.clone();
            tokio::task::spawn_blocking(move || acceptor.accept(&token))
                .await
                .map_err(|e| AuthError::Kerberos(e.to_string()))?
        };
        let refuse = |reason: &str, target: String, detail: Option<&str>| {
            let mut summary = json!({"ip": ip, "reason": reason, "via": "kerberos"});
            if let Some(detail) = detail {
                summary["detail"] = detail.into();
            }
            NewAuditEvent::new(AuditAction::SigninFailure, "user", target, self.traced(summary))
        };
        let ticket = match accepted {
            Ok(ticket) => ticket,
            Err(refusal) => {
                let event = refuse(refusal.reason(), "kerberos".into(), refusal.detail());
                self.store.append_audit(&Actor::client(from.client), event).await?;
                return Ok(KerberosOutcome::Refused);
            }
        };
        let principal = format!("{}@{}", ticket.principal.account, ticket.principal.realm);
        let fresh = self.store.remember_message_id(REPLAY_ISSUER, &digest, now + REPLAY_WINDOW_MS, now).await?;
        if !fresh {
            let event = refuse("kerberos_replayed", format!("principal:{principal}"), None);
            self.store.append_audit(&Actor::client(from.client), event).await?;
            return Ok(KerberosOutcome::Refused);
        }
        // A computer's logon name ends in `$` (a user's may too, rarely: one that is no computer
        // is looked up as a user).
        if welcome == Welcome::UsersAndComputers && is_computer_account(&ticket.principal.account) {
            let refusal = match directory.computer_of(&ticket.principal).await {
                Ok(Some(computer)) if computer.disabled() => Some(("suspended", None)),
                Ok(Some(computer)) if !computer.domain_joined() => Some(("not_domain_joined", None)),
                Ok(Some(computer)) => {
                    let summary = json!({"ip": ip, "principal": principal, "device": computer.account,
                                         "object_guid": computer.object_guid, "via": "kerberos"});
                    let event = NewAuditEvent::new(
                        AuditAction::SigninKerberos,
                        "device",
                        format!("device:{principal}"),
                        self.traced(summary),
                    );
                    self.store.append_audit(&Actor::client(from.client), event).await?;
                    return Ok(KerberosOutcome::Computer {
                        computer: Box::new(computer),
                        realm: ticket.principal.realm,
                        reply: ticket.reply,
                    });
                }
                Ok(None) => None,
                Err(why) => Some(("directory_unavailable", Some(why))),
            };
            if let Some((reason, detail)) = refusal {
                let event = refuse(reason, format!("principal:{principal}"), detail.as_deref());
                self.store.append_audit(&Actor::client(from.client), event).await?;
                return Ok(KerberosOutcome::Refused);
            }
        }
        let user = match directory.user_of(&ticket.principal).await {
            Ok(Some(user)) if user.state == UserState::Active => user,
            Ok(Some(user)) => {
                let event = refuse("suspended", user.id.to_string(), Some(&principal));
                self.store.append_audit(&Actor::client(from.client), event).await?;
                return Ok(KerberosOutcome::Refused);
            }
            Ok(None) => {
                let event = refuse("unknown_principal", format!("principal:{principal}"), None);
                self.store.append_audit(&Actor::client(from.client), event).await?;
                return Ok(KerberosOutcome::Refused);
            }
            Err(why) => {
                let event = refuse("directory_unavailable", format!("principal:{principal}"), Some(&why));
                self.store.append_audit(&Actor::client(from.client), event).await?;
                return Ok(KerberosOutcome::Refused);
            }
        };
        let has_second_factor = self.has_second_factor(user.id).await?;
        let summary = json!({"ip": ip, "principal": principal, "mfa_next": has_second_factor, "via": "kerberos"});
        let event = NewAuditEvent::new(AuditAction::SigninKerberos, "user", user.id, self.traced(summary));
        self.store.append_audit(&Actor::user(user.id), event).await?;
        // As after a password: an address becomes familiar once a sign-in is complete.
        if !has_second_factor {
            self.learn_addresses(user.id, from, now).await?;
        }
        Ok(KerberosOutcome::Accepted { user: Box::new(user), has_second_factor, reply: ticket.reply })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_is_an_account_at_a_realm() {
        let p = Principal::parse("user1@CORP.TEST").unwrap();
        assert_eq!((p.account.as_str(), p.realm.as_str()), ("user1", "CORP.TEST"));
        for bad in ["user1", "@CORP.TEST", "user1@", "host/pc1@CORP.TEST", "a@b@CORP.TEST", "us\ner@CORP.TEST"] {
            assert_eq!(Principal::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ntlm_is_seen_bare_and_inside_spnego() {
        assert!(carries_ntlm(b"NTLMSSP\0\x01\x00\x00\x00"));
        let mut spnego = vec![0x60, 0x28, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa0, 0x1e];
        spnego.extend_from_slice(b"NTLMSSP\0\x01\x00\x00\x00");
        assert!(carries_ntlm(&spnego));
        assert!(!carries_ntlm(b"\x60\x82\x02\x00 a kerberos ticket"));
    }

    #[test]
    fn garbage_empty_and_oversized_tokens_are_refused_before_gssapi() {
        let acceptor = KerberosAcceptor::for_host("sts.example.test");
        assert_eq!(acceptor.accept(b""), Err(TicketRefusal::Malformed));
        assert_eq!(acceptor.accept(&vec![0x60; MAX_TOKEN_BYTES + 1]), Err(TicketRefusal::Malformed));
        assert_eq!(acceptor.accept(b"NTLMSSP\0\x01\x00\x00\x00"), Err(TicketRefusal::Ntlm));
        // No keytab here (or not this service's key): GSSAPI's refusal, in its words.
        assert!(matches!(acceptor.accept(b"\x60\x03\x06\x01\x00"), Err(TicketRefusal::Rejected(_))));
        assert_eq!(acceptor.service_principal(), "HTTP/sts.example.test");
    }

    #[test]
    fn only_tickets_for_this_service_are_ours() {
        let acceptor = KerberosAcceptor::for_host("STS.example.test");
        assert!(acceptor.is_ours("HTTP/sts.example.test@EXAMPLE.TEST"));
        assert!(acceptor.is_ours("http/STS.EXAMPLE.TEST@EXAMPLE.TEST"));
        assert!(!acceptor.is_ours("HTTP/other.example.test@EXAMPLE.TEST"));
        assert!(!acceptor.is_ours("host/sts.example.test@EXAMPLE.TEST"));
        assert!(!acceptor.is_ours("HTTP/sts.example.test.evil@EXAMPLE.TEST"));
        assert!(acceptor.is_ours("svc-tessera@EXAMPLE.TEST"), "a keytab exported by account");
        for not_a_name in
            ["<name can't be decoded>", "svc tessera@EXAMPLE.TEST", "svc-tessera", "svc@", "@EXAMPLE.TEST"]
        {
            assert!(!acceptor.is_ours(not_a_name), "{not_a_name:?}");
        }
    }
}
