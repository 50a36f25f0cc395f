//! A passkey authenticator in software, for the ceremonies' tests: an ES256 (P-256) key made
//! at enrolment, answers built byte by byte as WebAuthn Level 2 lays them out (authenticator
//! data, a `none` attestation in CBOR, client data JSON), with what a test may bend: the site
//! it answers for, the origin the browser reports, the signature counter, the user-verified
//! flag. Written from the specification, not from `webauthn-rs`, so that the ceremonies are
//! checked against another reading of it.

// A test tool: what it cannot do (an unreadable options JSON) is the calling test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const ATTESTED_CREDENTIAL_DATA: u8 = 0x40;

pub struct SoftAuthenticator {
    rp_id: String,
    origin: String,
    key: Option<EcdsaKeyPair>,
    credential_id: Vec<u8>,
    next_counter: u32,
    user_verified: bool,
    /// The user handle the enrolment gave (base64url), which a discoverable credential returns
    /// with every assertion.
    user_handle: Option<String>,
    /// The model this authenticator states at enrolment (zeros: none, as many do).
    aaguid: [u8; 16],
}

/// CBOR (RFC 8949) heads and the few items an attestation object and a COSE key need.
fn head(major: u8, value: u64, out: &mut Vec<u8>) {
    let major = major << 5;
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend([major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((value as u16).to_be_bytes());
        }
        _ => {
            out.push(major | 26);
            out.extend((value as u32).to_be_bytes());
        }
    }
}

fn int(value: i64, out: &mut Vec<u8>) {
    if value >= 0 { head(0, value as u64, out) } else { head(1, (-1 - value) as u64, out) }
}

fn bytes(value: &[u8], out: &mut Vec<u8>) {
    head(2, value.len() as u64, out);
    out.extend_from_slice(value);
}

fn text(value: &str, out: &mut Vec<u8>) {
    head(3, value.len() as u64, out);
    out.extend_from_slice(value.as_bytes());
}

fn challenge_of(options_json: &str) -> String {
    let options: serde_json::Value = serde_json::from_str(options_json).unwrap();
    options["publicKey"]["challenge"].as_str().unwrap().to_string()
}

impl SoftAuthenticator {
    pub fn new(rp_id: &str, origin: &str) -> SoftAuthenticator {
        SoftAuthenticator {
            rp_id: rp_id.into(),
            origin: origin.into(),
            key: None,
            credential_id: Vec::new(),
            next_counter: 1,
            user_verified: true,
            user_handle: None,
            aaguid: [0; 16],
        }
    }

    pub fn credential_id(&self) -> Vec<u8> {
        self.credential_id.clone()
    }

    pub fn set_rp_id(&mut self, rp_id: &str) {
        self.rp_id = rp_id.into();
    }

    pub fn set_origin(&mut self, origin: &str) {
        self.origin = origin.into();
    }

    /// The counter the next assertion carries.
    pub fn set_counter(&mut self, counter: u32) {
        self.next_counter = counter;
    }

    pub fn set_user_verified(&mut self, verified: bool) {
        self.user_verified = verified;
    }

    /// The model (AAGUID) the next enrolment states.
    pub fn set_aaguid(&mut self, aaguid: [u8; 16]) {
        self.aaguid = aaguid;
    }

    /// The user handle the next assertions return (base64url; `None`: none, as a credential
    /// that is not discoverable).
    pub fn set_user_handle(&mut self, handle: Option<&str>) {
        self.user_handle = handle.map(str::to_string);
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    fn authenticator_data(&self, flags: u8, counter: u32) -> Vec<u8> {
        let mut data = digest(&SHA256, self.rp_id.as_bytes()).as_ref().to_vec();
        let verified = if self.user_verified { USER_VERIFIED } else { 0 };
        data.push(flags | USER_PRESENT | verified);
        data.extend(counter.to_be_bytes());
        data
    }

    /// `navigator.credentials.create()`'s answer to `options_json`, as JSON: a new key and
    /// credential ID, its counter at 0 (the first assertion carries 1).
    pub fn register(&mut self, options_json: &str) -> String {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let point = key.public_key().as_ref().to_vec();
        assert_eq!((point.len(), point[0]), (65, 4), "an uncompressed P-256 point");
        self.credential_id = digest(&SHA256, &point).as_ref()[..16].to_vec();
        self.next_counter = 1;
        let options: serde_json::Value = serde_json::from_str(options_json).unwrap();
        self.user_handle = options["publicKey"]["user"]["id"].as_str().map(str::to_string);

        let mut cose = Vec::new();
        head(5, 5, &mut cose);
        for (label, value) in [(1, 2), (3, -7), (-1, 1)] {
            int(label, &mut cose);
            int(value, &mut cose);
        }
        int(-2, &mut cose);
        bytes(&point[1..33], &mut cose);
        int(-3, &mut cose);
        bytes(&point[33..], &mut cose);

        let mut auth_data = self.authenticator_data(ATTESTED_CREDENTIAL_DATA, 0);
        auth_data.extend(self.aaguid);
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(cose);

        let mut attestation = Vec::new();
        head(5, 3, &mut attestation);
        text("fmt", &mut attestation);
        text("none", &mut attestation);
        text("attStmt", &mut attestation);
        head(5, 0, &mut attestation);
        text("authData", &mut attestation);
        bytes(&auth_data, &mut attestation);

        self.key = Some(key);
        self.credential(serde_json::json!({
            "attestationObject": URL_SAFE_NO_PAD.encode(attestation),
            "clientDataJSON": URL_SAFE_NO_PAD.encode(self.client_data("webauthn.create", &challenge_of(options_json))),
        }))
    }

    /// A `PublicKeyCredential` as a browser serializes it, around the authenticator's response.
    fn credential(&self, response: serde_json::Value) -> String {
        let id = URL_SAFE_NO_PAD.encode(&self.credential_id);
        serde_json::json!({"id": id, "rawId": id, "type": "public-key", "response": response, "extensions": {}})
            .to_string()
    }

    /// `navigator.credentials.get()`'s answer to `options_json`, as JSON, signed with the key
    /// made at enrolment; the counter then moves on by one.
    pub fn assert(&mut self, options_json: &str) -> String {
        let auth_data = self.authenticator_data(0, self.next_counter);
        let client_data = self.client_data("webauthn.get", &challenge_of(options_json));
        let mut signed = auth_data.clone();
        signed.extend(digest(&SHA256, &client_data).as_ref());
        let key = self.key.as_ref().expect("registered first");
        let signature = key.sign(&SystemRandom::new(), &signed).unwrap();
        self.next_counter += 1;
        self.credential(serde_json::json!({
            "authenticatorData": URL_SAFE_NO_PAD.encode(auth_data),
            "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
            "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
            "userHandle": self.user_handle,
        }))
    }
}
