//! WebAuthn passkeys and security keys (issue 24): the two ceremonies, enrolment and sign-in,
//! as `webauthn-rs` runs them, between JSON a browser's `navigator.credentials` takes and gives
//! and JSON a store keeps. The user is always verified (a PIN or a biometric on the
//! authenticator): that is what makes a passkey a second factor by itself, and what lets a
//! token say `multipleauthn`. Attestation is `none` (the authenticator's maker is not asked).
//!
//! A ceremony's state (its challenge, the credentials it allows) is JSON the caller keeps on
//! the server side only (never in the browser: it would let the browser choose its own
//! challenge), with an expiry (`webauthn-rs` sets none), and takes atomically when the browser
//! answers (take-and-delete, as parked requests are taken): a challenge is answered once,
//! whatever the answer. That is what stops an answer sent twice for an authenticator that
//! keeps no signature counter (synced passkeys send 0 every time), where the counter cannot.
//! What a ceremony refuses is one [`AuthError::Passkey`] whose text says what was wrong
//! without echoing the input.

use webauthn_rs::prelude::{
    AuthenticationResult, CredentialID, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

use crate::AuthError;

mod model;

/// A software authenticator, for tests here and in the crates above (`test-support`).
#[cfg(any(test, feature = "test-support"))]
pub mod soft_authenticator;

/// Tessera as a WebAuthn relying party: its ID is the public URL's host name, and a ceremony
/// is accepted only from the public URL's origin.
pub struct RelyingParty {
    webauthn: Webauthn,
    /// The authenticator models (AAGUIDs) an enrolment may be made with; empty: any.
    allowed_models: Vec<Uuid>,
}

/// An authenticator model's AAGUID as administrators write it (`cb69481e-8ff7-4039-93ec-0a2729a154a8`).
pub fn parse_model(text: &str) -> Result<[u8; 16], AuthError> {
    Uuid::parse_str(text.trim())
        .map(|uuid| *uuid.as_bytes())
        .map_err(|_| refused(&format!("{text:?} is not an AAGUID like cb69481e-8ff7-4039-93ec-0a2729a154a8")))
}

/// A passkey as a store keeps it: its credential ID (unique across every user: an
/// authenticator makes a new one each time) and the rest as `webauthn-rs` serializes it (the
/// public key, the signature counter, the flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPasskey {
    pub credential_id: Vec<u8>,
    pub passkey_json: String,
}

/// What the browser is sent to run a ceremony (`options_json`, for `navigator.credentials`)
/// and what the server keeps until it answers (`state_json`).
#[derive(Clone, Debug)]
pub struct Challenge {
    pub options_json: String,
    pub state_json: String,
}

/// How long a ceremony waits for the browser's answer: time for a user to find their key.
pub const CEREMONY_MS: i64 = 5 * 60_000;

/// Who a passkey answer without a username says it is: the credential and the user handle
/// the authenticator keeps with it (both to be found in the store before anything is verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
}

/// A sign-in the authenticator signed, the user verified.
#[derive(Clone, Debug)]
pub struct Verified {
    pub credential_id: Vec<u8>,
    /// The authenticator's signature counter now (0: it keeps none). The store takes the
    /// sign-in only when it moved forward, so that for an authenticator that keeps one, two
    /// sign-ins racing on one counter (a copied authenticator) cannot both pass; with none
    /// (0), only the single-use ceremony state stands between an answer and its replay.
    pub sign_count: u32,
    /// The passkey as it now is (its counter and flags), to store with the sign-in.
    pub passkey: StoredPasskey,
}

fn refused(what: &str) -> AuthError {
    AuthError::Passkey(what.to_string())
}

/// The reason a browser's answer was refused, in words an administrator reads in a log; the
/// library's own text can quote the input, so it is not passed on.
fn reason(error: &WebauthnError) -> AuthError {
    refused(match error {
        WebauthnError::MismatchedChallenge => "the answer is to another challenge",
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => {
            "the passkey answered for another site than this one"
        }
        WebauthnError::UserNotVerified => "the authenticator did not verify the user (PIN or biometric)",
        WebauthnError::UserNotPresent => "the authenticator did not see the user present",
        WebauthnError::CredentialPossibleCompromise => {
            "the passkey's signature counter went back: it may have been copied"
        }
        WebauthnError::CredentialNotFound => "the passkey is not one this sign-in allows",
        WebauthnError::AuthenticationFailure => "the passkey's signature does not verify",
        WebauthnError::CredentialAlteredAlgFromRequest => "the passkey uses an algorithm this server did not offer",
        WebauthnError::InvalidClientDataType => "the answer is of the other ceremony",
        _ => "the passkey's answer is not valid",
    })
}

fn parse<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, AuthError> {
    serde_json::from_str(json).map_err(|_| refused(&format!("{what} is not readable")))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, AuthError> {
    serde_json::to_string(value).map_err(|e| AuthError::Passkey(format!("cannot serialize: {e}")))
}

impl RelyingParty {
    /// From the public URL the server answers on: `https://idp.contoso.com` makes the relying
    /// party `idp.contoso.com`. A browser refuses WebAuthn on an IP address, and outside a
    /// secure context (https, or http on `localhost` only).
    pub fn for_public_url(public_url: &str, name: &str) -> Result<RelyingParty, AuthError> {
        let url = Url::parse(public_url).map_err(|_| refused("the public URL is not a URL"))?;
        let host = url.host_str().ok_or_else(|| refused("the public URL has no host"))?.to_string();
        if host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok() {
            return Err(refused(
                "passkeys need a public URL with a host name: a browser refuses them on an IP address",
            ));
        }
        if url.scheme() != "https" && host != "localhost" {
            return Err(refused("passkeys need an https public URL (browsers allow http on localhost only)"));
        }
        let origin =
            Url::parse(&url.origin().ascii_serialization()).map_err(|_| refused("the public URL has no origin"))?;
        let webauthn = WebauthnBuilder::new(&host, &origin)
            .and_then(|builder| builder.rp_name(name).build())
            .map_err(|e| AuthError::Passkey(format!("cannot act as the relying party {host}: {e}")))?;
        Ok(RelyingParty { webauthn, allowed_models: Vec::new() })
    }

    /// Enrolments only with authenticators of these models (the AAGUID their answer states;
    /// with attestation `none` nothing vouches for it); empty: any.
    pub fn allowing_models(mut self, models: &[[u8; 16]]) -> RelyingParty {
        self.allowed_models = models.iter().map(|m| Uuid::from_bytes(*m)).collect();
        self
    }

    /// Starts enrolling a passkey for a user. `user_handle` is the user's WebAuthn handle: random
    /// and kept with the user (never their email or database ID, which the authenticator would
    /// keep and show). The passkeys the user has are excluded, so an authenticator is enrolled
    /// once.
    pub fn begin_enrolment(
        &self,
        user_handle: [u8; 16],
        user_name: &str,
        display_name: &str,
        existing: &[StoredPasskey],
    ) -> Result<Challenge, AuthError> {
        let exclude: Vec<CredentialID> = existing.iter().map(|p| CredentialID::from(p.credential_id.clone())).collect();
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let (options, state) = self
            .webauthn
            .start_passkey_registration(Uuid::from_bytes(user_handle), user_name, display_name, exclude)
            .map_err(|e| reason(&e))?;
        // A passkey the authenticator can find by itself (a discoverable credential) is one that
        // signs in without a username; `webauthn-rs` asks for none. Preferred, not required: a
        // security key without room for one still enrols, as a second factor only.
        let mut options =
            serde_json::to_value(&options).map_err(|e| AuthError::Passkey(format!("cannot serialize: {e}")))?;
        if let Some(selection) =
            options.pointer_mut("/publicKey/authenticatorSelection").and_then(|s| s.as_object_mut())
        {
            selection.insert("residentKey".into(), "preferred".into());
        }
        // Under attestation `none` a browser may blank a security key's model (Chrome does);
        // where models are on a list, the browser is asked to pass the key's own statement.
        if !self.allowed_models.is_empty()
            && let Some(public_key) = options.get_mut("publicKey").and_then(|k| k.as_object_mut())
        {
            public_key.insert("attestation".into(), "direct".into());
        }
        Ok(Challenge { options_json: json(&options)?, state_json: json(&state)? })
    }

    /// Finishes an enrolment with the browser's answer: the new passkey, to store unless its
    /// credential ID is already stored (for this user or any other: the caller checks).
    pub fn finish_enrolment(&self, answer_json: &str, state_json: &str) -> Result<StoredPasskey, AuthError> {
        let answer: RegisterPublicKeyCredential = parse(answer_json, "the browser's answer")?;
        let state: PasskeyRegistration = parse(state_json, "the enrolment's state")?;
        let passkey = self.webauthn.finish_passkey_registration(&answer, &state).map_err(|e| reason(&e))?;
        if !self.allowed_models.is_empty() {
            let model = model::aaguid_of(answer.response.attestation_object.as_ref()).map(Uuid::from_bytes);
            if !model.is_some_and(|m| self.allowed_models.contains(&m)) {
                let stated = model.map_or_else(|| "(none stated)".to_string(), |m| m.hyphenated().to_string());
                return Err(AuthError::PasskeyModel(stated));
            }
        }
        Ok(StoredPasskey { credential_id: passkey.cred_id().to_vec(), passkey_json: json(&passkey)? })
    }

    /// Starts a sign-in with one of the user's passkeys (at least one).
    pub fn begin_sign_in(&self, passkeys: &[StoredPasskey]) -> Result<Challenge, AuthError> {
        let passkeys = passkeys
            .iter()
            .map(|p| parse::<Passkey>(&p.passkey_json, "a stored passkey"))
            .collect::<Result<Vec<_>, _>>()?;
        if passkeys.is_empty() {
            return Err(refused("the user has no passkey"));
        }
        let (options, state) = self.webauthn.start_passkey_authentication(&passkeys).map_err(|e| reason(&e))?;
        Ok(Challenge { options_json: json(&options)?, state_json: json(&state)? })
    }

    /// Starts a sign-in without a username: the authenticator offers the passkeys it keeps for
    /// this site (discoverable credentials), and its answer names the user.
    pub fn begin_passwordless(&self) -> Result<Challenge, AuthError> {
        let (options, state) = self.webauthn.start_discoverable_authentication().map_err(|e| reason(&e))?;
        Ok(Challenge { options_json: json(&options)?, state_json: json(&state)? })
    }

    /// Whom an answer to [`RelyingParty::begin_passwordless`] claims to be. Nothing is verified
    /// yet: the claim only says which stored passkey to verify it against.
    pub fn claimed(&self, answer_json: &str) -> Result<Claimed, AuthError> {
        let answer: PublicKeyCredential = parse(answer_json, "the browser's answer")?;
        let (handle, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(&answer)
            .map_err(|_| refused("the passkey did not say whose it is (it is not a discoverable passkey)"))?;
        Ok(Claimed { credential_id: credential_id.to_vec(), user_handle: handle.as_bytes().to_vec() })
    }

    /// Finishes a sign-in without a username against the stored passkey the answer claimed,
    /// whose user handle (kept at enrolment) must be the one the authenticator returned.
    pub fn finish_passwordless(
        &self,
        answer_json: &str,
        state_json: &str,
        stored: &StoredPasskey,
        stored_user_handle: &[u8],
    ) -> Result<Verified, AuthError> {
        let claimed = self.claimed(answer_json)?;
        if claimed.credential_id != stored.credential_id || claimed.user_handle != stored_user_handle {
            return Err(refused("the passkey is not the one its user enrolled"));
        }
        let answer: PublicKeyCredential = parse(answer_json, "the browser's answer")?;
        let state: DiscoverableAuthentication = parse(state_json, "the sign-in's state")?;
        let passkey: Passkey = parse(&stored.passkey_json, "a stored passkey")?;
        let result =
            self.webauthn.finish_discoverable_authentication_v2(&answer, state, &passkey).map_err(|e| reason(&e))?;
        self.verified(result, stored)
    }

    /// Finishes a sign-in with the browser's answer, against the user's passkeys as they are
    /// now: one removed since the sign-in began is refused.
    pub fn finish_sign_in(
        &self,
        answer_json: &str,
        state_json: &str,
        passkeys: &[StoredPasskey],
    ) -> Result<Verified, AuthError> {
        let answer: PublicKeyCredential = parse(answer_json, "the browser's answer")?;
        let state: PasskeyAuthentication = parse(state_json, "the sign-in's state")?;
        let stored = passkeys
            .iter()
            .find(|p| p.credential_id == answer.raw_id)
            .ok_or_else(|| refused("the passkey is not one this sign-in allows"))?;
        let result = self.webauthn.finish_passkey_authentication(&answer, &state).map_err(|e| reason(&e))?;
        self.verified(result, stored)
    }

    /// A signed answer's result checked against the passkey it was for: the user verified; the
    /// passkey as it now is (its counter moved on).
    fn verified(&self, result: AuthenticationResult, stored: &StoredPasskey) -> Result<Verified, AuthError> {
        if result.cred_id() != &stored.credential_id {
            return Err(refused("the passkey is not one this sign-in allows"));
        }
        if !result.user_verified() {
            return Err(reason(&WebauthnError::UserNotVerified));
        }
        let mut passkey: Passkey = parse(&stored.passkey_json, "a stored passkey")?;
        let passkey_json = match passkey.update_credential(&result) {
            Some(true) => json(&passkey)?,
            _ => stored.passkey_json.clone(),
        };
        Ok(Verified {
            credential_id: stored.credential_id.clone(),
            sign_count: result.counter(),
            passkey: StoredPasskey { credential_id: stored.credential_id.clone(), passkey_json },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::soft_authenticator::SoftAuthenticator;
    use super::*;

    const ORIGIN: &str = "https://idp.contoso.com";

    fn rp() -> RelyingParty {
        RelyingParty::for_public_url(&format!("{ORIGIN}/"), "Contoso").unwrap()
    }

    /// A passkey enrolled for a user on `rp`, and the authenticator that holds it.
    fn enrolled(rp: &RelyingParty, handle: u8) -> (SoftAuthenticator, StoredPasskey) {
        let challenge = rp.begin_enrolment([handle; 16], "alice@contoso.com", "Alice", &[]).unwrap();
        let mut authenticator = SoftAuthenticator::new("idp.contoso.com", ORIGIN);
        let answer = authenticator.register(&challenge.options_json);
        let passkey = rp.finish_enrolment(&answer, &challenge.state_json).unwrap();
        assert_eq!(passkey.credential_id, authenticator.credential_id());
        (authenticator, passkey)
    }

    fn sign_in(
        rp: &RelyingParty,
        authenticator: &mut SoftAuthenticator,
        passkeys: &[StoredPasskey],
    ) -> Result<Verified, AuthError> {
        let challenge = rp.begin_sign_in(passkeys).unwrap();
        let answer = authenticator.assert(&challenge.options_json);
        rp.finish_sign_in(&answer, &challenge.state_json, passkeys)
    }

    fn refusal(result: Result<Verified, AuthError>) -> String {
        match result {
            Ok(verified) => panic!("accepted: {verified:?}"),
            Err(AuthError::Passkey(why)) => why,
            Err(other) => panic!("another error: {other}"),
        }
    }

    #[test]
    fn an_allow_list_of_models_takes_only_the_models_it_names() {
        const YUBIKEY: [u8; 16] =
            [0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1, 0x54, 0xa8];
        let listed = parse_model("CB69481E-8FF7-4039-93EC-0A2729A154A8").unwrap();
        assert_eq!(listed, YUBIKEY);
        assert!(parse_model("yubikey").is_err() && parse_model("").is_err());
        let rp = rp().allowing_models(&[listed]);
        let asked: serde_json::Value =
            serde_json::from_str(&rp.begin_enrolment([1; 16], "a", "A", &[]).unwrap().options_json).unwrap();
        assert_eq!(asked["publicKey"]["attestation"], "direct", "the browser passes the model as the key states it");
        let enrol = |aaguid: [u8; 16]| {
            let challenge = rp.begin_enrolment([1; 16], "alice@contoso.com", "Alice", &[]).unwrap();
            let mut authenticator = SoftAuthenticator::new("idp.contoso.com", ORIGIN);
            authenticator.set_aaguid(aaguid);
            rp.finish_enrolment(&authenticator.register(&challenge.options_json), &challenge.state_json)
        };
        assert!(enrol(YUBIKEY).is_ok());
        match enrol([7; 16]) {
            Err(AuthError::PasskeyModel(model)) => assert_eq!(model, "07070707-0707-0707-0707-070707070707"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(enrol([0; 16]), Err(AuthError::PasskeyModel(_))), "a model not stated is not on the list");
        // Without a list, any model.
        let open = super::RelyingParty::for_public_url(&format!("{ORIGIN}/"), "Contoso").unwrap();
        let challenge = open.begin_enrolment([1; 16], "a", "A", &[]).unwrap();
        let mut other = SoftAuthenticator::new("idp.contoso.com", ORIGIN);
        other.set_aaguid([7; 16]);
        assert!(open.finish_enrolment(&other.register(&challenge.options_json), &challenge.state_json).is_ok());
    }

    #[test]
    fn a_passkey_is_enrolled_then_signs_in_and_its_counter_moves_on() {
        let rp = rp();
        let (mut authenticator, passkey) = enrolled(&rp, 1);
        let options: serde_json::Value =
            serde_json::from_str(&rp.begin_enrolment([1; 16], "a", "A", &[]).unwrap().options_json).unwrap();
        assert_eq!(options["publicKey"]["rp"]["id"], "idp.contoso.com");
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(
            (&selection["residentKey"], &selection["userVerification"]),
            (&"preferred".into(), &"required".into())
        );
        assert_eq!(options["publicKey"]["authenticatorSelection"]["userVerification"], "required");

        let verified = sign_in(&rp, &mut authenticator, std::slice::from_ref(&passkey)).unwrap();
        assert_eq!(verified.credential_id, passkey.credential_id);
        assert_eq!(verified.sign_count, 1);
        let updated = verified.passkey;
        assert_ne!(
            updated.passkey_json, passkey.passkey_json,
            "the counter moved from 0 to 1: the stored passkey changes"
        );
        let verified = sign_in(&rp, &mut authenticator, std::slice::from_ref(&updated)).unwrap();
        assert_eq!(verified.sign_count, 2);
        assert_ne!(verified.passkey.passkey_json, updated.passkey_json);
    }

    #[test]
    fn an_enrolment_excludes_the_passkeys_the_user_has() {
        let rp = rp();
        let (_, passkey) = enrolled(&rp, 2);
        let challenge =
            rp.begin_enrolment([2; 16], "alice@contoso.com", "Alice", std::slice::from_ref(&passkey)).unwrap();
        let options: serde_json::Value = serde_json::from_str(&challenge.options_json).unwrap();
        let excluded = options["publicKey"]["excludeCredentials"].as_array().cloned().unwrap_or_default();
        assert_eq!(excluded.len(), 1, "{options}");
    }

    #[test]
    fn a_signature_counter_that_goes_back_is_refused() {
        let rp = rp();
        let (mut authenticator, passkey) = enrolled(&rp, 3);
        authenticator.set_counter(5);
        let stored = sign_in(&rp, &mut authenticator, std::slice::from_ref(&passkey)).unwrap().passkey;
        authenticator.set_counter(3);
        let why = refusal(sign_in(&rp, &mut authenticator, std::slice::from_ref(&stored)));
        assert!(why.contains("counter went back"), "{why}");
        authenticator.set_counter(6);
        assert!(
            sign_in(&rp, &mut authenticator, std::slice::from_ref(&stored)).is_ok(),
            "a counter ahead again signs in"
        );
    }

    #[test]
    fn another_users_passkey_is_refused() {
        let rp = rp();
        let (_, bobs) = enrolled(&rp, 4);
        let (mut alices_authenticator, _) = enrolled(&rp, 5);
        let why = refusal(sign_in(&rp, &mut alices_authenticator, std::slice::from_ref(&bobs)));
        assert!(why.contains("not one this sign-in allows"), "{why}");
    }

    #[test]
    fn a_removed_passkey_is_refused_even_mid_sign_in() {
        let rp = rp();
        let (mut first, one) = enrolled(&rp, 6);
        let challenge = rp.begin_enrolment([6; 16], "alice@contoso.com", "Alice", std::slice::from_ref(&one)).unwrap();
        let mut second = SoftAuthenticator::new("idp.contoso.com", ORIGIN);
        let two = rp.finish_enrolment(&second.register(&challenge.options_json), &challenge.state_json).unwrap();
        // The sign-in begins with both; the first is removed before the browser answers.
        let both = [one.clone(), two.clone()];
        let challenge = rp.begin_sign_in(&both).unwrap();
        let answer = first.assert(&challenge.options_json);
        let why = refusal(rp.finish_sign_in(&answer, &challenge.state_json, std::slice::from_ref(&two)));
        assert!(why.contains("not one this sign-in allows"), "{why}");
        // Begun after the removal, the second signs in and the first is not offered.
        let challenge = rp.begin_sign_in(std::slice::from_ref(&two)).unwrap();
        let answer = second.assert(&challenge.options_json);
        assert!(rp.finish_sign_in(&answer, &challenge.state_json, std::slice::from_ref(&two)).is_ok());
        let answer = first.assert(&challenge.options_json);
        assert!(rp.finish_sign_in(&answer, &challenge.state_json, std::slice::from_ref(&two)).is_err());
    }

    #[test]
    fn a_passkey_the_sign_in_did_not_begin_with_is_refused_even_when_it_is_the_users() {
        // The user's passkeys at the answer hold both, but the sign-in began with the second
        // only: the ceremony's own list refuses the first.
        let rp = rp();
        let (mut first, one) = enrolled(&rp, 10);
        let (_, two) = enrolled(&rp, 11);
        let challenge = rp.begin_sign_in(std::slice::from_ref(&two)).unwrap();
        let answer = first.assert(&challenge.options_json);
        let why = refusal(rp.finish_sign_in(&answer, &challenge.state_json, &[one, two]));
        assert!(why.contains("not one this sign-in allows"), "{why}");
    }

    #[test]
    fn a_passkey_of_another_site_is_refused() {
        let rp = rp();
        // Enrolled with the right site, then answering as another relying party (a phishing
        // site's ID, or its origin): the authenticator scopes every credential to its site.
        let (mut authenticator, passkey) = enrolled(&rp, 7);
        authenticator.set_rp_id("contoso.com.evil.example");
        let why = refusal(sign_in(&rp, &mut authenticator, std::slice::from_ref(&passkey)));
        assert!(why.contains("another site"), "{why}");
        authenticator.set_rp_id("idp.contoso.com");
        authenticator.set_origin("https://idp.contoso.com.evil.example");
        let why = refusal(sign_in(&rp, &mut authenticator, std::slice::from_ref(&passkey)));
        assert!(why.contains("another site"), "{why}");

        // Enrolment from another site is refused too.
        let challenge = rp.begin_enrolment([7; 16], "alice@contoso.com", "Alice", &[]).unwrap();
        let mut phished = SoftAuthenticator::new("evil.example", "https://evil.example");
        let refused = rp.finish_enrolment(&phished.register(&challenge.options_json), &challenge.state_json);
        assert!(matches!(refused, Err(AuthError::Passkey(ref why)) if why.contains("another site")), "{refused:?}");
    }

    #[test]
    fn an_authenticator_that_does_not_verify_the_user_is_refused() {
        let rp = rp();
        let (mut authenticator, passkey) = enrolled(&rp, 8);
        authenticator.set_user_verified(false);
        let why = refusal(sign_in(&rp, &mut authenticator, std::slice::from_ref(&passkey)));
        assert!(why.contains("verify the user"), "{why}");

        let challenge = rp.begin_enrolment([8; 16], "alice@contoso.com", "Alice", &[]).unwrap();
        let mut unverified = SoftAuthenticator::new("idp.contoso.com", ORIGIN);
        unverified.set_user_verified(false);
        assert!(rp.finish_enrolment(&unverified.register(&challenge.options_json), &challenge.state_json).is_err());
    }

    #[test]
    fn an_answer_to_another_challenge_or_unreadable_input_is_refused_without_echo() {
        let rp = rp();
        let (mut authenticator, passkey) = enrolled(&rp, 9);
        let passkeys = std::slice::from_ref(&passkey);
        let first = rp.begin_sign_in(passkeys).unwrap();
        let second = rp.begin_sign_in(passkeys).unwrap();
        let answer = authenticator.assert(&first.options_json);
        let why = refusal(rp.finish_sign_in(&answer, &second.state_json, passkeys));
        assert!(why.contains("another challenge"), "{why}");

        let secret = "<script>alert(1)</script>";
        for bad in ["", "null", "{}", "[1,2]", secret, "{\"id\":\"x\",\"rawId\":\"!!!\",\"type\":\"public-key\"}"] {
            let why = refusal(rp.finish_sign_in(bad, &first.state_json, passkeys));
            assert!(!why.contains("script"), "{why}");
            assert!(rp.finish_enrolment(bad, &first.state_json).is_err());
            assert!(rp.finish_sign_in(&answer, bad, passkeys).is_err());
        }
        // An enrolment's answer is not a sign-in's, nor the other way round.
        let enrolment = rp.begin_enrolment([9; 16], "alice@contoso.com", "Alice", &[]).unwrap();
        let registration = SoftAuthenticator::new("idp.contoso.com", ORIGIN).register(&enrolment.options_json);
        assert!(rp.finish_sign_in(&registration, &first.state_json, passkeys).is_err());
        assert!(rp.finish_enrolment(&answer, &enrolment.state_json).is_err());
        // A stored passkey that is not one makes a sign-in fail to begin, cleanly.
        let broken = StoredPasskey { credential_id: vec![1], passkey_json: "{".into() };
        assert!(matches!(rp.begin_sign_in(&[broken]), Err(AuthError::Passkey(_))));
        assert!(matches!(rp.begin_sign_in(&[]), Err(AuthError::Passkey(_))));
    }

    #[test]
    fn the_relying_party_is_the_public_urls_host_and_never_an_address() {
        assert!(RelyingParty::for_public_url("https://idp.contoso.com:8443/", "C").is_ok());
        assert!(RelyingParty::for_public_url("http://localhost:8080/", "C").is_ok());
        for bad in ["https://127.0.0.1/", "https://[::1]/", "http://idp.contoso.com/", "not a url", ""] {
            assert!(matches!(RelyingParty::for_public_url(bad, "C"), Err(AuthError::Passkey(_))), "{bad}");
        }
    }
}
