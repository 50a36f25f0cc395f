//! Protocol messages against independent implementations: xmlsec1 checks our signatures,
//! pysaml2 plays Entra ID's service provider.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use tessera_core::policy::{AuthnContext, Factor};
use tessera_core::{User, UserId, UserState};
use tessera_protocols::saml2::idp_metadata::{IdpMetadata, build_idp_metadata};
use tessera_protocols::saml2::response::{
    MULTIPLE_AUTHN, PASSWORD_PROTECTED_TRANSPORT, Signing, build_response, m365_params,
};
use tessera_xml::RsaSigner;

const ISSUER: &str = "https://idp.contoso.com/m365/contoso.com";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-xml/tests/data").join(name)
}

fn signer() -> RsaSigner {
    RsaSigner::from_pkcs8(&std::fs::read(data("idp-key.pk8")).unwrap(), std::fs::read(data("idp-cert.der")).unwrap())
        .unwrap()
}

fn alice() -> User {
    User {
        id: UserId::new(),
        email: "alice@contoso.com".into(),
        upn: "alice@contoso.com".into(),
        first_name: "Alice".into(),
        last_name: "Doe".into(),
        immutable_id: "Ah2J42BsPUOBoUcsCYn7vA==".into(),
        state: UserState::Active,
        password_hash: None,
        notice_acknowledged_at: Some(0),
        created_at: 0,
        updated_at: 0,
    }
}

fn required(what: &str) -> bool {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is required under CI=true (scripts/test installs it)"
    );
    eprintln!("skipping: {what} is not installed");
    false
}

fn python() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("TESSERA_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join(".venv/bin/python"));
    let ok = Command::new(&python).args(["-c", "import saml2"]).output().is_ok_and(|o| o.status.success());
    (ok || required("pysaml2 (the oracle venv)")).then_some(python)
}

fn xmlsec1_available() -> bool {
    Command::new("xmlsec1").arg("--version").output().is_ok_and(|o| o.status.success()) || required("xmlsec1")
}

/// A fixed instant, so the signed bytes are fixed: 2026-11-22T10:00:00Z.
const FIXED_NOW: i64 = 1_795_428_000_000;

fn m365_response(now: i64, mfa: bool, in_response_to: &str) -> String {
    let user = alice();
    let mut authn = AuthnContext::default().with(Factor::Password, now - 2_000);
    if mfa {
        authn = authn.with(Factor::Totp, now - 1_000);
    }
    let params = m365_params(&user, ISSUER, Some(in_response_to), &authn, ("_resp-7e1b4d3c", "_assert-a75adf55"), now);
    build_response(&params, Signing { assertion: true, response: false }, &signer()).unwrap()
}

#[test]
fn golden_m365_response() {
    let produced = m365_response(FIXED_NOW, true, "_049917a6-1183-42fd-a190-1d2cbaf9be0d");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/m365-response.xml");
    if std::env::var("TESSERA_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &produced).unwrap();
    }
    assert_eq!(produced, std::fs::read_to_string(&path).unwrap_or_default(), "see tests/golden/README.md");
    for field in [
        r#"Destination="https://login.microsoftonline.com/login.srf""#,
        r#"InResponseTo="_049917a6-1183-42fd-a190-1d2cbaf9be0d""#,
        r#"Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">Ah2J42BsPUOBoUcsCYn7vA==<"#,
        r#"Method="urn:oasis:names:tc:SAML:2.0:cm:bearer""#,
        r#"Recipient="https://login.microsoftonline.com/login.srf""#,
        "<saml:Audience>urn:federation:MicrosoftOnline</saml:Audience>",
        r#"<saml:Attribute Name="IDPEmail"><saml:AttributeValue>alice@contoso.com</saml:AttributeValue>"#,
        MULTIPLE_AUTHN,
        r#"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"#,
    ] {
        assert!(produced.contains(field), "{field}");
    }
    assert_eq!(
        produced.matches(&format!(">{ISSUER}</saml:Issuer>")).count(),
        2,
        "the app's issuer on Response and Assertion"
    );
    assert!(!produced.contains("EncryptedAssertion"));
    assert!(m365_response(FIXED_NOW, false, "_x").contains(PASSWORD_PROTECTED_TRANSPORT));
}

#[test]
fn xmlsec1_verifies_the_golden_assertion() {
    if !xmlsec1_available() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/m365-response.xml");
    let out = Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(data("idp-cert.pem"))
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn pysaml2_accepts(response: &str, in_response_to: &str, certificate_file: &str) -> Result<serde_json::Value, String> {
    let python = python().ok_or("no oracle")?;
    let dir = tempfile::tempdir().unwrap();
    let certificate = base64::engine::general_purpose::STANDARD.encode(std::fs::read(data(certificate_file)).unwrap());
    let metadata = build_idp_metadata(&IdpMetadata {
        entity_id: ISSUER,
        sso_url: "https://idp.contoso.com/m365/contoso.com/saml/sso",
        slo_url: "https://idp.contoso.com/m365/contoso.com/saml/slo",
        ecp_url: None,
        signing_certificate: &certificate,
        next_signing_certificate: None,
        name_id_formats: &[tessera_core::app::NAMEID_PERSISTENT],
    })
    .unwrap();
    std::fs::write(dir.path().join("idp.xml"), metadata).unwrap();
    std::fs::write(dir.path().join("response.xml"), response).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/pysaml2_sp_accept.py");
    let out = Command::new(python)
        .arg(script)
        .arg(dir.path().join("idp.xml"))
        .arg(dir.path().join("response.xml"))
        .arg(in_response_to)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(serde_json::from_str(&stdout).unwrap())
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn pysaml2_as_entra_accepts_the_m365_response() {
    if python().is_none() {
        return;
    }
    let now = tessera_core::Clock::now_millis(&tessera_core::SystemClock);
    let response = m365_response(now, true, "_req-entra-1");
    let read = pysaml2_accepts(&response, "_req-entra-1", "idp-cert.der").unwrap();
    assert_eq!(read["issuer"], ISSUER);
    assert_eq!(read["name_id"], "Ah2J42BsPUOBoUcsCYn7vA==");
    assert_eq!(read["name_id_format"], "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
    assert_eq!(read["attributes"]["IDPEmail"][0], "alice@contoso.com", "{read}");
    assert_eq!(read["authn_class"], MULTIPLE_AUTHN);

    // And it refuses what it must: another key, a tampered body, an unexpected InResponseTo.
    assert!(
        pysaml2_accepts(&response, "_req-entra-1", "attacker-cert.der").is_err(),
        "signed by a key the SP does not trust"
    );
    let tampered = response.replacen("alice@contoso.com", "mallory@contoso.com", 1);
    assert!(pysaml2_accepts(&tampered, "_req-entra-1", "idp-cert.der").is_err(), "tampered");
    assert!(pysaml2_accepts(&response, "_other-request", "idp-cert.der").is_err(), "unsolicited");
}

// --- WS-Federation and WS-Trust --------------------------------------------------------------

const PUBLIC: &str = "https://idp.contoso.com/m365/contoso.com";

fn golden(name: &str, produced: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var("TESSERA_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, produced).unwrap();
    }
    assert_eq!(produced, std::fs::read_to_string(&path).unwrap_or_default(), "{name}: see tests/golden/README.md");
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

/// The token alice gets after a password and TOTP sign-in, at the fixed instant.
fn saml11_params(user: &User, authn: &AuthnContext) -> tessera_protocols::saml11::AssertionParams<'static> {
    let user: &'static User = Box::leak(Box::new(user.clone()));
    tessera_protocols::saml11::m365_params(user, ISSUER, Vec::new(), authn, "_assert-5d0c9e1f", FIXED_NOW)
}

fn mfa_authn() -> AuthnContext {
    AuthnContext::default().with(Factor::Password, FIXED_NOW - 2_000).with(Factor::Totp, FIXED_NOW - 1_000)
}

fn xmlsec1_verifies_saml11(path: &Path) -> Result<(), String> {
    let out = Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(data("idp-cert.pem"))
        .args(["--id-attr:AssertionID", "urn:oasis:names:tc:SAML:1.0:assertion:Assertion"])
        .args(["--node-xpath", "//*[local-name()='Assertion']/*[local-name()='Signature']"])
        .arg(path)
        .output()
        .unwrap();
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

fn msal_python() -> Option<PathBuf> {
    let python = python()?;
    let ok = Command::new(&python).args(["-c", "import msal"]).output().is_ok_and(|o| o.status.success());
    (ok || required("msal (the oracle venv)")).then_some(python)
}

fn msal(python: &Path, args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/msal_wstrust.py");
    let out = Command::new(python).arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn golden_wsfed_wresult() {
    use tessera_protocols::saml11::{TrustVersion, build_assertion, build_rstr};
    let params = saml11_params(&alice(), &mfa_authn());
    let assertion = build_assertion(&params, &signer()).unwrap();
    let wresult = build_rstr(TrustVersion::Feb2005, &params, "urn:federation:MicrosoftOnline", &assertion).unwrap();
    golden("wsfed-wresult.xml", &wresult);
    for field in [
        r#"MajorVersion="1" MinorVersion="1""#,
        &format!(r#"Issuer="{ISSUER}""#),
        "<saml:Audience>urn:federation:MicrosoftOnline</saml:Audience>",
        r#"AttributeName="ImmutableID" AttributeNamespace="http://schemas.microsoft.com/LiveID/Federation/2008/05"><saml:AttributeValue>Ah2J42BsPUOBoUcsCYn7vA==<"#,
        r#"AuthenticationMethod="http://schemas.microsoft.com/claims/multipleauthn""#,
        "<t:RequestedSecurityToken><saml:Assertion ",
        "<t:TokenType>urn:oasis:names:tc:SAML:1.0:assertion</t:TokenType>",
    ] {
        assert!(wresult.contains(field), "{field}");
    }
}

#[test]
fn xmlsec1_verifies_the_golden_wresult_and_the_wstrust_token() {
    if !xmlsec1_available() {
        return;
    }
    xmlsec1_verifies_saml11(&golden_path("wsfed-wresult.xml")).unwrap();
    xmlsec1_verifies_saml11(&golden_path("wstrust13-response.xml")).unwrap();
    xmlsec1_verifies_saml11(&golden_path("wstrust2005-device-response.xml")).unwrap();
}

#[test]
fn golden_wstrust13_response_read_by_msal() {
    use tessera_protocols::saml11::{TrustVersion, build_assertion};
    use tessera_protocols::wstrust::SoapVersion;
    use tessera_protocols::wstrust::response::build_response_envelope;
    let authn = AuthnContext::default().with(Factor::Password, FIXED_NOW);
    let params = saml11_params(&alice(), &authn);
    let assertion = build_assertion(&params, &signer()).unwrap();
    let envelope = build_response_envelope(
        SoapVersion::Soap12,
        TrustVersion::V13,
        Some("urn:uuid:7b5f3a9e-0c4d-4e61-9d2a-3f1e8b6c5a40"),
        &params,
        "urn:federation:MicrosoftOnline",
        &assertion,
    )
    .unwrap();
    golden("wstrust13-response.xml", &envelope);
    assert!(envelope.is_ascii());
    let Some(python) = msal_python() else { return };
    let token = msal(&python, &["parse", golden_path("wstrust13-response.xml").to_str().unwrap()]);
    assert_eq!(token["type"], "urn:oasis:names:tc:SAML:1.0:assertion");
    assert_eq!(token["token"], assertion, "MSAL extracts the assertion byte for byte");
}

/// A domain-joined computer's hybrid join token (windowstransport, WS-Trust 2005 over SOAP
/// 1.2), with `issuerid` as with several federated domains: MSAL extracts it byte for byte, and
/// xmlsec1 verifies it (`xmlsec1_verifies_the_golden_wresult_and_the_wstrust_token`).
#[test]
fn golden_device_token_read_by_msal() {
    use tessera_core::computers::DomainComputer;
    use tessera_protocols::saml11::{TrustVersion, build_assertion, m365_device_params};
    use tessera_protocols::wstrust::SoapVersion;
    use tessera_protocols::wstrust::response::build_response_envelope;
    let computer = DomainComputer {
        account: "WS01$".into(),
        dn: "CN=WS01,CN=Computers,DC=contoso,DC=com".into(),
        object_guid: "yV6rVZ3jTkKa9oQpY4cCdQ==".into(),
        sid: "S-1-5-21-3623811015-3361044348-30300820-1105".into(),
        primary_group: 515,
        user_account_control: 4096,
        dns_host_name: Some("ws01.contoso.com".into()),
    };
    let authn = AuthnContext::default().with(Factor::Kerberos, FIXED_NOW);
    let params = m365_device_params(&computer, ISSUER, Some(ISSUER), Vec::new(), &authn, "_assert-0d3e6b7a", FIXED_NOW);
    let assertion = build_assertion(&params, &signer()).unwrap();
    let envelope = build_response_envelope(
        SoapVersion::Soap12,
        TrustVersion::Feb2005,
        Some("urn:uuid:b052e0d8-349c-4d73-9ddb-0782043a440e"),
        &params,
        "urn:federation:MicrosoftOnline",
        &assertion,
    )
    .unwrap();
    golden("wstrust2005-device-response.xml", &envelope);
    for claim in [
        "AttributeName=\"accounttype\" AttributeNamespace=\"http://schemas.microsoft.com/ws/2012/01\"><saml:AttributeValue>DJ<",
        "AttributeName=\"onpremobjectguid\" AttributeNamespace=\"http://schemas.microsoft.com/identity/claims\"><saml:AttributeValue>yV6rVZ3jTkKa9oQpY4cCdQ==<",
        "AttributeName=\"primarysid\" AttributeNamespace=\"http://schemas.microsoft.com/ws/2008/06/identity/claims\"><saml:AttributeValue>S-1-5-21-3623811015-3361044348-30300820-1105<",
        "AttributeName=\"issuerid\" AttributeNamespace=\"http://schemas.microsoft.com/ws/2008/06/identity/claims\">",
        "AttributeName=\"ImmutableID\" AttributeNamespace=\"http://schemas.microsoft.com/LiveID/Federation/2008/05\"><saml:AttributeValue>yV6rVZ3jTkKa9oQpY4cCdQ==<",
        "AuthenticationMethod=\"urn:federation:authentication:windows\"",
    ] {
        assert!(assertion.contains(claim), "{claim}");
    }
    assert!(!assertion.contains("AttributeName=\"UPN\""), "a computer has no UPN");
    let Some(python) = msal_python() else { return };
    let token = msal(&python, &["parse", golden_path("wstrust2005-device-response.xml").to_str().unwrap()]);
    assert_eq!(token["token"], assertion, "MSAL extracts the assertion byte for byte");
}

#[test]
fn golden_mex_read_by_msal() {
    use tessera_protocols::wstrust::mex::{MexEndpoints, build_mex};
    let mex = build_mex(&MexEndpoints {
        trust_13: &format!("{PUBLIC}/adfs/services/trust/13/usernamemixed"),
        trust_2005: &format!("{PUBLIC}/adfs/services/trust/2005/usernamemixed"),
        windows: None,
    });
    golden("mex.xml", &mex);
    let Some(python) = msal_python() else { return };
    let endpoint = msal(&python, &["mex", golden_path("mex.xml").to_str().unwrap()]);
    assert_eq!(endpoint["address"], format!("{PUBLIC}/adfs/services/trust/13/usernamemixed"));
    assert_eq!(endpoint["action"], "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue");
}

/// MEX as an intranet client sees it: MSAL finds the two windowstransport endpoints under its
/// Windows integrated (NegotiateAuthentication) policies, and still the 1.3 usernamemixed one
/// for a password.
#[test]
fn golden_intranet_mex_read_by_msal() {
    use tessera_protocols::wstrust::mex::{MexEndpoints, WindowsEndpoints, build_mex};
    let windows_13 = format!("{PUBLIC}/adfs/services/trust/13/windowstransport");
    let windows_2005 = format!("{PUBLIC}/adfs/services/trust/2005/windowstransport");
    let mex = build_mex(&MexEndpoints {
        trust_13: &format!("{PUBLIC}/adfs/services/trust/13/usernamemixed"),
        trust_2005: &format!("{PUBLIC}/adfs/services/trust/2005/usernamemixed"),
        windows: Some(WindowsEndpoints { trust_13: &windows_13, trust_2005: &windows_2005 }),
    });
    golden("mex-intranet.xml", &mex);
    let Some(python) = msal_python() else { return };
    let endpoint = msal(&python, &["mex", golden_path("mex-intranet.xml").to_str().unwrap()]);
    assert_eq!(endpoint["address"], format!("{PUBLIC}/adfs/services/trust/13/usernamemixed"));
    let windows = msal(&python, &["mex-iwa", golden_path("mex-intranet.xml").to_str().unwrap()]);
    assert_eq!(
        windows,
        serde_json::json!([
            {"address": windows_13, "action": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"},
            {"address": windows_2005, "action": "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue"},
        ])
    );
    // The username MEX has none.
    let plain = msal(&python, &["mex-iwa", golden_path("mex.xml").to_str().unwrap()]);
    assert_eq!(plain, serde_json::json!([]));
}

#[test]
fn golden_federation_metadata() {
    use tessera_protocols::wsfed::{FederationMetadata, OFFERED_CLAIMS, build_federation_metadata};
    let b64 = |name: &str| base64::engine::general_purpose::STANDARD.encode(std::fs::read(data(name)).unwrap());
    let (current, next) = (b64("idp-cert.der"), b64("attacker-cert.der"));
    let metadata = build_federation_metadata(&FederationMetadata {
        entity_id: ISSUER,
        passive_url: &format!("{PUBLIC}/wsfed"),
        sts_url: Some(&format!("{PUBLIC}/adfs/services/trust/13/usernamemixed")),
        saml: Some((&format!("{PUBLIC}/saml/sso"), &format!("{PUBLIC}/saml/slo"))),
        signing_certificates: vec![&current, &next],
        claims: OFFERED_CLAIMS.to_vec(),
    })
    .unwrap();
    golden("federation-metadata.xml", &metadata);
    // pysaml2's metadata store reads the SAML 2.0 role next to the WS-Federation one.
    let Some(python) = python() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/saml_metadata_pysaml2.py");
    let out = Command::new(python).arg(script).arg(golden_path("federation-metadata.xml")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["entity_id"], ISSUER, "{report}");
}

/// The HTTP-Redirect binding's query signature (moved here from tessera-xml with the code).
mod redirect {
    use base64::Engine;
    use tessera_protocols::percent;
    use tessera_protocols::saml2::redirect::verify_redirect_query;
    use tessera_xml::dsig::{AlgorithmPolicy, RSA_SHA1, RSA_SHA256};
    use tessera_xml::{RsaSigner, Signer, VerifyingKey, XmlError};

    /// The signing test keys of tessera-xml's test data.
    mod support {
        use super::*;

        pub fn signer(who: &str) -> RsaSigner {
            let data = |name: String| std::fs::read(super::super::data(&name)).unwrap();
            RsaSigner::from_pkcs8(&data(format!("{who}-key.pk8")), data(format!("{who}-cert.der"))).unwrap()
        }

        pub fn key(who: &str) -> VerifyingKey {
            VerifyingKey::from_certificate_der(&std::fs::read(super::super::data(&format!("{who}-cert.der"))).unwrap())
                .unwrap()
        }
    }

    fn encode(text: &str, lowercase: bool) -> String {
        let mut out = String::new();
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(char::from(b));
            } else if lowercase {
                out.push_str(&format!("%{b:02x}"));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    fn signed_query(relay: &str, sig_alg: &str, lowercase: bool) -> String {
        let signed = format!(
            "SAMLRequest={}&RelayState={}&SigAlg={}",
            encode(
                "fZFNT8MwDIb/SuV7m6Yf2xqtk4Z2mTQOgODAhVIRaajUJHUczn98UoWkQZX/Pc/j2tmGmbe9u8cUxbbg4/wYc0bQF7Fw5kTvPG0OlY6VrEZHWGdGlNc7aY5sc2Nq0PN8FH9LhqKyTxgjXLtkpH0RzsJ+1tmKPSm5U+Sk0dD4N2qDUw9dZ4ZKWLDgKx/d8VGoj7bBkJbJ/rLTUV1x/A5GNMnsH9/YfrcsUcsL8OT7m5vdwr//jBW7E49cPvR7WvqIzcS2fX+cT4A==",
                lowercase
            ),
            encode(relay, lowercase),
            encode(sig_alg, lowercase)
        );
        let signature = support::signer("idp").sign(signed.as_bytes()).unwrap();
        format!(
            "{signed}&Signature={}",
            encode(&base64::engine::general_purpose::STANDARD.encode(signature), lowercase)
        )
    }

    #[test]
    fn verifies_over_the_raw_query_in_either_escape_case() {
        let key = support::key("idp");
        for lowercase in [false, true] {
            let query = signed_query("https://sp.example.com/home?a=b", RSA_SHA256, lowercase);
            let read = verify_redirect_query(&query, Some(&key), AlgorithmPolicy::default()).unwrap();
            assert_eq!(read.relay_state.as_deref(), Some("https://sp.example.com/home?a=b"));
            assert_eq!(read.message_name, "SAMLRequest");
        }
    }

    #[test]
    fn tampered_relay_state_is_refused() {
        let query = signed_query("state-1", RSA_SHA256, false).replace("RelayState=state-1", "RelayState=state-2");
        assert_eq!(
            verify_redirect_query(&query, Some(&support::key("idp")), AlgorithmPolicy::default()).unwrap_err(),
            XmlError::BadSignature
        );
    }

    #[test]
    fn stripped_signature_is_refused_when_the_sender_signs() {
        let query = signed_query("s", RSA_SHA256, false);
        let stripped = query.split("&SigAlg=").next().unwrap();
        assert!(matches!(
            verify_redirect_query(stripped, Some(&support::key("idp")), AlgorithmPolicy::default()),
            Err(XmlError::SignatureShape(_))
        ));
    }

    #[test]
    fn sha1_sigalg_needs_the_opt_in() {
        let query = signed_query("s", RSA_SHA1, false);
        assert!(matches!(
            verify_redirect_query(&query, Some(&support::key("idp")), AlgorithmPolicy::default()),
            Err(XmlError::Algorithm(_))
        ));
    }

    #[test]
    fn duplicate_parameters_are_refused() {
        let query = format!("{}&RelayState=again", signed_query("s", RSA_SHA256, false));
        assert!(verify_redirect_query(&query, Some(&support::key("idp")), AlgorithmPolicy::default()).is_err());
    }

    #[test]
    fn percent_encoded_names_and_bad_escapes_are_refused() {
        let key = support::key("idp");
        let query = signed_query("s", RSA_SHA256, false).replacen("RelayState=", "Relay%53tate=", 1);
        assert!(verify_redirect_query(&query, Some(&key), AlgorithmPolicy::default()).is_err());
        assert!(percent::decode("%+A").is_err());
        assert!(percent::decode("%4").is_err());
        assert_eq!(percent::decode("a%2Bb+c").unwrap(), "a+b c");
    }

    #[test]
    fn wrong_key_is_refused() {
        let query = signed_query("s", RSA_SHA256, false);
        assert_eq!(
            verify_redirect_query(&query, Some(&support::key("attacker")), AlgorithmPolicy::default()).unwrap_err(),
            XmlError::BadSignature
        );
    }
}
