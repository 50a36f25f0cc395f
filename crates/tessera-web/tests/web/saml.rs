//! SAML single sign-on and logout, in-process: the Microsoft 365 connector against
//! M365-PROTOCOLS.md §8 items 1–12 (named `checklist_NN_…`), generic SPs, IdP-initiated
//! sign-on, single logout and the refusals of SECURITY.md §5 items 9–20. Every issued Microsoft
//! 365 response is also checked by xmlsec1 and accepted by pysaml2 acting as Entra ID.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine;
use tessera_core::{Actor, AppKind, ManualClock, NewApplication, NewUser, SettingsChange};
use tessera_xml::roxmltree;

use super::signin::{Browser, PASSWORD, Response, World, base32_decode, between, config, now_seconds};

const M365_SSO: &str = "/m365/contoso.com/saml/sso";
const M365_SSO_URL: &str = "http://127.0.0.1:8080/m365/contoso.com/saml/sso";
const ISSUER: &str = "http://127.0.0.1:8080/m365/contoso.com";
const ENTRA_ACS: &str = "https://login.microsoftonline.com/login.srf";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const MULTIPLE_AUTHN: &str = "http://schemas.microsoft.com/claims/multipleauthn";
const PPT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

pub(crate) fn instant(offset_seconds: i64) -> String {
    tessera_core::format_millis((now_seconds() + offset_seconds) * 1000)
}

pub(crate) fn new_id() -> String {
    format!("_{}", uuid::Uuid::new_v4())
}

/// The unsigned AuthnRequest Entra sends (M365-PROTOCOLS.md §1.3), with optional extra
/// attributes on the root and extra children.
pub(crate) fn entra_request(id: &str, attributes: &str, children: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{SAMLP}" ID="{id}" IssueInstant="{}" Version="2.0"{attributes}><Issuer xmlns="{SAML}">urn:federation:MicrosoftOnline</Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/>{children}</samlp:AuthnRequest>"#,
        instant(0)
    )
}

fn url_encode(text: &str) -> String {
    super::signin::form_encode(text)
}

/// `SAMLRequest=…` for the HTTP-Redirect binding.
pub(crate) fn redirect_query(xml: &str) -> String {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(xml.as_bytes()).unwrap();
    format!("SAMLRequest={}", url_encode(&b64().encode(encoder.finish().unwrap())))
}

/// HTML character references, as a browser decodes them.
pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else { break };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => {
                u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32)
            }
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of a hidden form field on an auto-POST page.
pub(crate) fn field(page: &Response, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.body.find(&marker)? + marker.len();
    let end = page.body[start..].find('"')? + start;
    Some(unescape(&page.body[start..end]))
}

pub(crate) fn form_action(page: &Response) -> String {
    unescape(between(&page.body, r#"action=""#, "\""))
}

/// The SAMLResponse XML a page posts.
pub(crate) fn posted_response(page: &Response) -> String {
    assert_eq!(page.status, StatusCode::OK, "an auto-POST page: {}", page.body);
    let encoded = field(page, "SAMLResponse").unwrap_or_else(|| panic!("no SAMLResponse in {}", page.body));
    String::from_utf8(b64().decode(encoded).unwrap()).unwrap()
}

pub(crate) fn doc(xml: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(xml).unwrap()
}

pub(crate) fn find<'a, 'i>(node: roxmltree::Node<'a, 'i>, ns: &str, local: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.descendants().find(|n| n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == local)
}

pub(crate) fn text<'a>(node: roxmltree::Node<'a, '_>, ns: &str, local: &str) -> &'a str {
    find(node, ns, local).and_then(|n| n.text()).unwrap_or_default()
}

pub(crate) fn required(what: &str) -> bool {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is required under CI=true (scripts/test installs it)"
    );
    eprintln!("skipping: {what} is not installed");
    false
}

pub(crate) fn python() -> Option<PathBuf> {
    let python = std::env::var_os("TESSERA_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    let ok = Command::new(&python).args(["-c", "import saml2"]).output().is_ok_and(|o| o.status.success());
    (ok || required("pysaml2 (the oracle venv)")).then_some(python)
}

pub(crate) fn xmlsec1() -> bool {
    Command::new("xmlsec1").arg("--version").output().is_ok_and(|o| o.status.success()) || required("xmlsec1")
}

pub(crate) fn pem(der: &[u8]) -> String {
    let body = b64().encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

/// xmlsec1's verdict on the Assertion's signature with `certificate`.
pub(crate) fn xmlsec1_verifies_assertion(xml: &str, certificate: &[u8]) -> bool {
    xmlsec1_verifies(xml, certificate, "//*[local-name()='Assertion']/*[local-name()='Signature']")
}

/// xmlsec1's verdict on the signature at `signature_xpath`.
fn xmlsec1_verifies(xml: &str, certificate: &[u8], signature_xpath: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.xml"), xml).unwrap();
    std::fs::write(dir.path().join("c.pem"), pem(certificate)).unwrap();
    Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(dir.path().join("c.pem"))
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"])
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response"])
        .args(["--node-xpath", signature_xpath])
        .arg(dir.path().join("r.xml"))
        .output()
        .unwrap()
        .status
        .success()
}

/// pysaml2 configured as Entra ID (`interop/pysaml2_sp_accept.py`): its JSON report, or the
/// refusal text.
pub(crate) fn pysaml2_accepts(
    python: &Path,
    metadata: &str,
    xml: &str,
    in_response_to: &str,
) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("idp.xml"), metadata).unwrap();
    std::fs::write(dir.path().join("response.xml"), xml).unwrap();
    let output = Command::new(python)
        .arg(workspace().join("interop/pysaml2_sp_accept.py"))
        .arg(dir.path().join("idp.xml"))
        .arg(dir.path().join("response.xml"))
        .arg(in_response_to)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    if output.status.success() {
        Ok(serde_json::from_str(&stdout).unwrap())
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)))
    }
}

async fn m365_app(world: &World) -> tessera_core::Application {
    world.store.find_app("M365").await.unwrap()
}

/// A signed-in browser sends Entra's request; the auto-POST page comes back.
pub(crate) async fn m365_sign_in(browser: &mut Browser<'_>, id: &str) -> Response {
    browser.get(&format!("{M365_SSO}?{}&RelayState=rs-123", redirect_query(&entra_request(id, "", "")))).await
}

#[tokio::test]
async fn checklist_01_entra_request_without_acs_or_destination_and_with_index_0() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    for attributes in ["", r#" AssertionConsumerServiceIndex="0""#] {
        let id = new_id();
        let xml = entra_request(&id, attributes, "");
        // Entra's documented binding is POST, real traffic may use Redirect: both are served.
        let by_redirect = browser.get(&format!("{M365_SSO}?{}", redirect_query(&xml))).await;
        assert_eq!(form_action(&by_redirect), ENTRA_ACS);
        assert!(posted_response(&by_redirect).contains(&format!(r#"InResponseTo="{id}""#)));
        let id = new_id();
        let xml = entra_request(&id, attributes, "");
        let by_post = browser.post(M365_SSO, &[("SAMLRequest", &b64().encode(&xml))]).await;
        assert!(posted_response(&by_post).contains(&format!(r#"InResponseTo="{id}""#)));
    }
}

/// Entra's signed request, made by xmlsec1 from the test key (fixtures/entra).
pub(crate) fn signed_entra_request(id: &str, destination: &str) -> Option<String> {
    if !xmlsec1() {
        return None;
    }
    let output = Command::new("sh")
        .arg(workspace().join("fixtures/entra/sign_entra_request.sh"))
        .args([&instant(0), destination, id])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Some(String::from_utf8(output.stdout).unwrap())
}

pub(crate) async fn require_entra_signatures(world: &World) {
    let metadata = std::fs::read(workspace().join("fixtures/entra/entra-test-sp-metadata.xml")).unwrap();
    let entra = tessera_protocols::saml2::sp_metadata::parse_sp_metadata(&metadata).unwrap();
    let change = SettingsChange {
        require_signed_requests: Some(true),
        entra_certificate: entra.certificate,
        ..Default::default()
    };
    let app = m365_app(world).await;
    let kind = change.apply(&app.kind).unwrap();
    world.store.update_app_kind(&Actor::system(), app.id, &kind).await.unwrap();
}

#[tokio::test]
async fn checklist_02_signed_entra_request_verified_and_tampered_refused() {
    let (world, _) = World::new(config()).await;
    require_entra_signatures(&world).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let id = new_id();
    let Some(signed) = signed_entra_request(&id, M365_SSO_URL) else { return };
    assert!(signed.contains("rsa-sha1") && signed.contains("X509SKI") && !signed.contains("X509Certificate"));
    let accepted = browser.post(M365_SSO, &[("SAMLRequest", &b64().encode(&signed))]).await;
    assert!(posted_response(&accepted).contains(&format!(r#"InResponseTo="{id}""#)));

    // Tampered after signing, unsigned, or signed by anyone else: refused, nothing posted.
    let id = new_id();
    let tampered =
        signed_entra_request(&id, M365_SSO_URL).unwrap().replace("nameid-format:persistent", "nameid-format:transient");
    let unsigned = entra_request(&new_id(), "", "");
    let wrong_destination = signed_entra_request(&new_id(), "https://other.example/sso").unwrap();
    for (xml, why) in [(tampered, "signature"), (unsigned, "not signed"), (wrong_destination, "addressed to")] {
        let refused = browser.post(M365_SSO, &[("SAMLRequest", &b64().encode(&xml))]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{why}: {}", refused.body);
        assert!(refused.body.contains(why), "{why}: {}", refused.body);
        assert!(field(&refused, "SAMLResponse").is_none());
    }
    let unsigned_redirect =
        browser.get(&format!("{M365_SSO}?{}", redirect_query(&entra_request(&new_id(), "", "")))).await;
    assert_eq!(unsigned_redirect.status, StatusCode::BAD_REQUEST);
    let refusals = world.audit_actions().await.iter().filter(|a| *a == "saml.refused").count();
    assert_eq!(refusals, 4, "each refusal is audited");
    // Entra's RSA-SHA1 is accepted for the M365 connector and flagged in the audit row.
    let events =
        world.store.list_audit(&tessera_store::AuditQuery { limit: 1000, ..Default::default() }).await.unwrap();
    let issued = events.iter().find(|e| e.action == "saml.issued").unwrap();
    assert_eq!(issued.summary["sha1"], true, "{:?}", issued.summary);
    // Written member by member (`SummaryWriter`): each member once, as a `Value` would hold it.
    let members = issued.summary.as_object().unwrap();
    let mut names: Vec<&str> = members.keys().map(String::as_str).collect();
    names.sort_unstable();
    let expected = ["acs", "assertion_id", "ip", "mfa", "request", "request_id", "request_signature", "session_since"];
    let expected = [&expected[..], &["sha1", "trace", "user_id"]].concat();
    assert_eq!(names, expected, "{:?}", issued.summary);
    assert!(members["user_id"].as_str().is_some_and(|id| !id.is_empty()) && members["ip"].is_string());
    assert!(members["session_since"].is_i64() && members["mfa"].is_boolean() && members["request"].is_object());
    assert_eq!(members["request_signature"].as_str().map(|a| a.ends_with("rsa-sha1")), Some(true));
}

/// A live response to Entra's request, from a signed-in browser: the world, the auto-POST
/// page, the response XML and the request ID.
async fn live_m365_response() -> (World, Response, String, String) {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let id = new_id();
    let page = m365_sign_in(&mut browser, &id).await;
    let xml = posted_response(&page);
    drop(browser);
    (world, page, xml, id)
}

fn assertion_of<'a, 'i>(parsed: &'a roxmltree::Document<'i>) -> roxmltree::Node<'a, 'i> {
    find(parsed.root_element(), SAML, "Assertion").expect("an assertion")
}

fn millis(text: &str) -> i64 {
    tessera_core::parse_rfc3339_millis(text).unwrap()
}

#[tokio::test]
async fn checklist_03_response_posted_to_login_srf_with_destination_and_in_response_to() {
    let (_world, page, xml, id) = live_m365_response().await;
    assert_eq!(form_action(&page), ENTRA_ACS);
    assert!(field(&page, "SAMLResponse").is_some());
    assert_eq!(field(&page, "RelayState").as_deref(), Some("rs-123"));
    let csp = page.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(
        csp.contains("form-action https://login.microsoftonline.com") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(page.body.contains(r#"<button type="submit">Continue</button>"#), "works without JavaScript");
    let parsed = doc(&xml);
    assert_eq!(parsed.root_element().attribute("Destination"), Some(ENTRA_ACS));
    assert_eq!(parsed.root_element().attribute("InResponseTo"), Some(id.as_str()));
}

#[tokio::test]
async fn checklist_04_status_success() {
    let (_world, _, xml, _) = live_m365_response().await;
    let parsed = doc(&xml);
    let code = find(parsed.root_element(), SAMLP, "StatusCode").unwrap();
    assert_eq!(code.attribute("Value"), Some("urn:oasis:names:tc:SAML:2.0:status:Success"));
}

#[tokio::test]
async fn checklist_05_issuer_equal_on_response_and_assertion_and_a_forged_one_fails() {
    let (_world, _, xml, id) = live_m365_response().await;
    let parsed = doc(&xml);
    let issuers: Vec<&str> = parsed
        .root_element()
        .descendants()
        .filter(|n| n.tag_name().name() == "Issuer" && n.tag_name().namespace() == Some(SAML))
        .map(|n| n.text().unwrap())
        .collect();
    assert_eq!(issuers, [ISSUER, ISSUER], "exactly the domain's IssuerUri");
    if let Some(python) = python() {
        let metadata = metadata_of_m365(&_world).await;
        assert_eq!(pysaml2_accepts(&python, &metadata, &xml, &id).unwrap()["issuer"], ISSUER);
        let forged = xml.replace(ISSUER, "http://127.0.0.1:8080/m365/fabrikam.com");
        assert!(pysaml2_accepts(&python, &metadata, &forged, &id).is_err());
    }
}

async fn metadata_of_m365(world: &World) -> String {
    Browser::new(world).get("/m365/contoso.com/saml/metadata.xml").await.body
}

#[tokio::test]
async fn checklist_06_assertion_signed_rsa_sha256_with_the_configured_certificate() {
    let (world, _, xml, id) = live_m365_response().await;
    let parsed = doc(&xml);
    let assertion = assertion_of(&parsed);
    let signature = assertion.children().find(|n| n.tag_name().name() == "Signature").expect("assertion signed");
    let reference = signature.descendants().find(|n| n.tag_name().name() == "Reference").unwrap();
    assert_eq!(reference.attribute("URI"), Some(format!("#{}", assertion.attribute("ID").unwrap()).as_str()));
    let method = signature.descendants().find(|n| n.tag_name().name() == "SignatureMethod").unwrap();
    assert_eq!(method.attribute("Algorithm"), Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"));
    let transforms: Vec<&str> = reference
        .descendants()
        .filter(|n| n.tag_name().name() == "Transform")
        .filter_map(|n| n.attribute("Algorithm"))
        .collect();
    assert_eq!(
        transforms,
        ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", "http://www.w3.org/2001/10/xml-exc-c14n#"]
    );
    let certificate = m365_app(&world).await.certificates.current.unwrap();
    if xmlsec1() {
        assert!(xmlsec1_verifies_assertion(&xml, &certificate), "xmlsec1 verifies with the app's certificate");
        let stranger =
            tessera_keys::generate_key(tessera_keys::KeySize::Rsa2048, "stranger", 1, 1_800_000_000_000).unwrap();
        assert!(!xmlsec1_verifies_assertion(&xml, &stranger.certificate_der), "any other certificate fails");
    }
    if let Some(python) = python() {
        // Entra refuses an unsigned assertion even inside a signed response; so does pysaml2
        // as Entra.
        let metadata = metadata_of_m365(&world).await;
        let start = xml.find("<ds:Signature").unwrap();
        let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let stripped = format!("{}{}", &xml[..start], &xml[end..]);
        assert!(pysaml2_accepts(&python, &metadata, &stripped, &id).is_err());
    }
}

#[tokio::test]
async fn checklist_07_name_id_persistent_is_the_immutable_id_byte_for_byte() {
    let (world, _, xml, id) = live_m365_response().await;
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    let parsed = doc(&xml);
    let name_id = find(assertion_of(&parsed), SAML, "NameID").unwrap();
    assert_eq!(name_id.attribute("Format"), Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"));
    assert_eq!(name_id.text(), Some(alice.immutable_id.as_str()));
    if let Some(python) = python() {
        let report = pysaml2_accepts(&python, &metadata_of_m365(&world).await, &xml, &id).unwrap();
        assert_eq!(report["name_id"], alice.immutable_id.as_str());
    }
}

#[tokio::test]
async fn checklist_08_bearer_confirmation_recipient_in_response_to_not_on_or_after() {
    let (_world, _, xml, id) = live_m365_response().await;
    let parsed = doc(&xml);
    let confirmation = find(assertion_of(&parsed), SAML, "SubjectConfirmation").unwrap();
    assert_eq!(confirmation.attribute("Method"), Some("urn:oasis:names:tc:SAML:2.0:cm:bearer"));
    let data = find(confirmation, SAML, "SubjectConfirmationData").unwrap();
    assert_eq!(data.attribute("Recipient"), Some(ENTRA_ACS));
    assert_eq!(data.attribute("InResponseTo"), Some(id.as_str()));
    let now = now_seconds() * 1000;
    let not_on_or_after = millis(data.attribute("NotOnOrAfter").unwrap());
    assert!(not_on_or_after > now && not_on_or_after <= now + 5 * 60 * 1000 + 1000, "at most 5 minutes");
}

#[tokio::test]
async fn checklist_09_audience_and_validity_window() {
    let (_world, _, xml, _) = live_m365_response().await;
    let parsed = doc(&xml);
    let assertion = assertion_of(&parsed);
    assert_eq!(text(assertion, SAML, "Audience"), "urn:federation:MicrosoftOnline");
    let conditions = find(assertion, SAML, "Conditions").unwrap();
    let now = now_seconds() * 1000;
    assert!(millis(conditions.attribute("NotBefore").unwrap()) <= now);
    assert!(millis(conditions.attribute("NotOnOrAfter").unwrap()) > now);
}

#[tokio::test]
async fn checklist_10_idp_email_is_the_upn() {
    let (world, _, xml, id) = live_m365_response().await;
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    let parsed = doc(&xml);
    let attribute = find(assertion_of(&parsed), SAML, "Attribute").unwrap();
    assert_eq!(attribute.attribute("Name"), Some("IDPEmail"));
    assert_eq!(text(attribute, SAML, "AttributeValue"), alice.upn);
    if let Some(python) = python() {
        let report = pysaml2_accepts(&python, &metadata_of_m365(&world).await, &xml, &id).unwrap();
        assert_eq!(report["attributes"]["IDPEmail"][0], alice.upn.as_str());
    }
}

#[tokio::test]
async fn checklist_11_nothing_encrypted() {
    let (world, _, xml, _) = live_m365_response().await;
    for encrypted in ["EncryptedAssertion", "EncryptedID", "EncryptedAttribute", "EncryptedData", "EncryptedKey"] {
        assert!(!xml.contains(encrypted), "{encrypted}");
    }
    // Password only: PasswordProtectedTransport (item 12 covers MFA).
    let parsed = doc(&xml);
    assert_eq!(text(assertion_of(&parsed), SAML, "AuthnContextClassRef"), PPT);
    assert!(world.audit_actions().await.iter().any(|a| a == "saml.issued"));
}

/// Enrols TOTP through the pages for a browser sent to `/mfa/totp?continue=…`, then follows
/// the resume link; returns the page it leads to.
pub(crate) async fn enrol_and_resume(browser: &mut Browser<'_>, enrol_location: &str) -> Response {
    let enroll = browser.get(enrol_location).await;
    assert_eq!(enroll.status, StatusCode::OK, "{}", enroll.body);
    let secret = base32_decode(between(&enroll.body, "<code id=\"secret\">", "</code>"));
    let continue_id = enrol_location.split("continue=").nth(1).unwrap().to_string();
    let code = format!("{:06}", tessera_auth::totp::code_at(&secret, tessera_auth::totp::step_at(now_seconds())));
    let csrf = browser.csrf();
    let done = browser.post("/mfa/totp", &[("csrf", &csrf), ("code", &code), ("continue", &continue_id)]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    browser.get(&format!("/resume/{continue_id}")).await
}

#[tokio::test]
async fn checklist_12_mfa_signal_only_in_authn_context_class_ref() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    // Entra asks for MFA (enforceMfaByFederatedIdp): the user, who has none, enrols first.
    let id = new_id();
    let requested = format!(
        r#"<samlp:RequestedAuthnContext Comparison="exact"><AuthnContextClassRef xmlns="{SAML}">{MULTIPLE_AUTHN}</AuthnContextClassRef></samlp:RequestedAuthnContext>"#
    );
    let first = browser.get(&format!("{M365_SSO}?{}", redirect_query(&entra_request(&id, "", &requested)))).await;
    let location = first.location.clone().unwrap_or_default();
    assert!(location.starts_with("/mfa/totp?continue="), "{location} {}", first.body);
    let page = enrol_and_resume(&mut browser, &location).await;
    let xml = posted_response(&page);
    let parsed = doc(&xml);
    let assertion = find(parsed.root_element(), SAML, "Assertion").unwrap();
    assert_eq!(text(assertion, SAML, "AuthnContextClassRef"), MULTIPLE_AUTHN);
    let statement = find(assertion, SAML, "AttributeStatement").unwrap();
    assert!(!statement.descendants().any(|n| n.text() == Some(MULTIPLE_AUTHN)), "not as an attribute");
    // From now on every response says multipleauthn, asked or not.
    let again = m365_sign_in(&mut browser, &new_id()).await;
    assert!(posted_response(&again).contains(&format!(">{MULTIPLE_AUTHN}<")));
    if let Some(python) = python() {
        let metadata = browser.get("/m365/contoso.com/saml/metadata.xml").await.body;
        let report = pysaml2_accepts(&python, &metadata, &xml, &id).unwrap();
        assert_eq!(report["authn_class"], MULTIPLE_AUTHN);
    }
}

#[tokio::test]
async fn sp_initiated_sign_in_parks_the_request_until_the_user_signs_in() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::new(&world);
    let id = new_id();
    let start = m365_sign_in(&mut browser, &id).await;
    let location = start.location.unwrap();
    assert!(location.starts_with("/login?continue="), "{location}");
    let continue_id = location.trim_start_matches("/login?continue=").to_string();
    let after_login = browser.login("alice@contoso.com", PASSWORD, &continue_id).await;
    assert_eq!(after_login.location.unwrap(), format!("/notice?continue={continue_id}"));
    let csrf = browser.csrf();
    let resumed = browser.post("/notice", &[("csrf", &csrf), ("continue", &continue_id)]).await;
    assert_eq!(resumed.location.unwrap(), format!("/resume/{continue_id}"));
    let page = browser.get(&format!("/resume/{continue_id}")).await;
    assert!(posted_response(&page).contains(&format!(r#"InResponseTo="{id}""#)));
    assert_eq!(field(&page, "RelayState").as_deref(), Some("rs-123"));
    // The M365 tile sends the user to Microsoft's sign-in page for the domain, which starts an
    // SP-initiated sign-in that passes straight through on this live session.
    let tile = browser.get(&format!("/launch/{}", m365_app(&world).await.id)).await;
    assert_eq!(
        tile.location.as_deref(),
        Some("https://login.microsoftonline.com/login.srf?wa=wsignin1.0&whr=contoso.com")
    );
    assert_eq!(browser.get(M365_SSO).await.location, tile.location, "a GET without a request is the tile's path");
    let through = m365_sign_in(&mut browser, &new_id()).await;
    assert_eq!(through.status, StatusCode::OK);
}

/// bob@contoso.com, with a password and the notice seen, in no group: every app denies him.
async fn add_bob_in_no_group(world: &World) {
    let mut bob = NewUser::new("bob@contoso.com", None, None, None, None, || "bob-immutable".into()).unwrap();
    bob.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
    let bob = world.store.create_user(&Actor::system(), bob).await.unwrap();
    world.store.acknowledge_notice(&Actor::system(), bob.id, 1).await.unwrap();
}

#[tokio::test]
async fn a_user_outside_every_granted_group_gets_no_assertion() {
    let (world, _) = World::new(config()).await;
    add_bob_in_no_group(&world).await;
    let mut browser = Browser::new(&world);
    assert_eq!(browser.login("bob@contoso.com", PASSWORD, "").await.location.as_deref(), Some("/"));
    let page = m365_sign_in(&mut browser, &new_id()).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("do not have access"));
    assert!(field(&page, "SAMLResponse").is_none() && !page.body.contains("Assertion"));
    assert!(world.audit_actions().await.iter().any(|a| a == "saml.denied"));
    assert!(!world.audit_actions().await.iter().any(|a| a == "saml.issued"));
}

/// SECURITY.md §5 item 20 against the clock: a request ID is remembered for as long as its
/// request could be accepted at all, so no replay slips through when the record expires.
#[tokio::test]
async fn a_request_id_is_remembered_as_long_as_its_request_could_be_accepted() {
    let skew = config().clock_skew_ms;
    let issued = now_seconds() * 1000;
    // First seen as early as it could be: IssueInstant a skew (less a margin) ahead of our clock.
    let clock = Arc::new(ManualClock::at(issued - skew + 2_000));
    let (world, _) = World::on_clock(config(), clock.clone()).await;
    let mut browser = Browser::new(&world);
    let request = format!("{M365_SSO}?{}", redirect_query(&entra_request(&new_id(), "", "")));
    let first = browser.get(&request).await;
    assert!(first.location.is_some_and(|l| l.starts_with("/login?continue=")), "accepted, and parked to sign in");
    clock.set(issued + skew - 2_000);
    let replay = browser.get(&request).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("used already"), "still remembered at the end of its window: {}", replay.body);
    clock.set(issued + skew + 2_000);
    let late = browser.get(&request).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert!(late.body.contains("outside the allowed clock skew"), "past its window it is stale: {}", late.body);
}

/// A request's ID is recorded in the same write as its answer's audit record: one answer and
/// one record however the replays come (at once, after a status answer, after a denial page).
#[tokio::test]
async fn a_replayed_request_gets_one_answer_and_one_audit_record() {
    let (world, _) = World::new(config()).await;
    let mut first = Browser::signed_in(&world, "10.0.0.1").await;
    let mut second = Browser::signed_in(&world, "10.0.0.2").await;
    let issued = |actions: &[String]| actions.iter().filter(|a| *a == "saml.issued").count();
    let before = issued(&world.audit_actions().await);
    let request = format!("{M365_SSO}?{}", redirect_query(&entra_request(&new_id(), "", "")));
    let (a, b) = tokio::join!(first.get(&request), second.get(&request));
    let answered: Vec<_> = [&a, &b].into_iter().filter(|page| field(page, "SAMLResponse").is_some()).collect();
    assert_eq!(answered.len(), 1, "one token for two sends of one request: {} / {}", a.body, b.body);
    assert!([&a, &b].iter().any(|page| page.body.contains("used already")));
    assert_eq!(issued(&world.audit_actions().await), before + 1, "one record");
    // A status answer records its request too.
    let transient = entra_request(&new_id(), "", "").replace("nameid-format:persistent", "nameid-format:transient");
    let status = format!("{M365_SSO}?{}", redirect_query(&transient));
    assert!(posted_response(&first.get(&status).await).contains("status:InvalidNameIDPolicy"));
    let again = first.get(&status).await;
    assert!(again.body.contains("used already") && field(&again, "SAMLResponse").is_none(), "{}", again.body);
    // A user denied on a page: the request is spent all the same.
    add_bob_in_no_group(&world).await;
    let mut outsider = Browser::new(&world);
    assert_eq!(outsider.login("bob@contoso.com", PASSWORD, "").await.location.as_deref(), Some("/"));
    let denied = format!("{M365_SSO}?{}", redirect_query(&entra_request(&new_id(), "", "")));
    assert_eq!(outsider.get(&denied).await.status, StatusCode::FORBIDDEN);
    assert!(first.get(&denied).await.body.contains("used already"), "refused for everyone after it");
    assert_eq!(issued(&world.audit_actions().await), before + 1);
}

#[tokio::test]
async fn refusals_unknown_sp_acs_replay_stale_relay_state_and_doctype() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let refused = |page: &Response, why: &str| {
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{why}: {}", page.body);
        assert!(page.body.contains(why), "{why}: {}", page.body);
        assert!(field(page, "SAMLResponse").is_none(), "nothing posted");
    };
    // SECURITY.md §5 item 17: ACS changed to anything but the registered URL.
    for acs in [
        "https://evil.example/acs",
        "https://login.microsoftonline.com/login.srf/",
        "https://login.microsoftonline.com/%2e%2e/login.srf",
        "https://login.microsoftonline.com@evil.example/login.srf",
        "http://login.microsoftonline.com/login.srf",
    ] {
        let xml = entra_request(&new_id(), &format!(r#" AssertionConsumerServiceURL="{acs}""#), "");
        refused(&browser.get(&format!("{M365_SSO}?{}", redirect_query(&xml))).await, "not registered");
    }
    let registered = entra_request(&new_id(), &format!(r#" AssertionConsumerServiceURL="{ENTRA_ACS}""#), "");
    assert_eq!(browser.get(&format!("{M365_SSO}?{}", redirect_query(&registered))).await.status, StatusCode::OK);
    let index = entra_request(&new_id(), r#" AssertionConsumerServiceIndex="3""#, "");
    refused(&browser.get(&format!("{M365_SSO}?{}", redirect_query(&index))).await, "not registered");
    // An unknown SP.
    let stranger =
        entra_request(&new_id(), "", "").replace("urn:federation:MicrosoftOnline", "https://evil.example/sp");
    refused(&browser.get(&format!("{M365_SSO}?{}", redirect_query(&stranger))).await, "not the service provider");
    // Item 20: a replayed request ID.
    let id = new_id();
    let xml = entra_request(&id, "", "");
    assert_eq!(browser.get(&format!("{M365_SSO}?{}", redirect_query(&xml))).await.status, StatusCode::OK);
    refused(&browser.get(&format!("{M365_SSO}?{}", redirect_query(&xml))).await, "used already");
    // Clock skew: 4 minutes is fine, 6 is not (SECURITY.md §1.4).
    for (offset, ok) in [(-240, true), (240, true), (-360, false), (360, false)] {
        let xml = entra_request(&new_id(), "", "").replace(&instant(0), &instant(offset));
        let page = browser.get(&format!("{M365_SSO}?{}", redirect_query(&xml))).await;
        assert_eq!(page.status == StatusCode::OK, ok, "offset {offset}: {}", page.body);
    }
    // Item 19: RelayState over 80 bytes refused; hostile but short RelayState echoed inert.
    let long = "r".repeat(81);
    let page = browser
        .get(&format!("{M365_SSO}?{}&RelayState={long}", redirect_query(&entra_request(&new_id(), "", ""))))
        .await;
    refused(&page, "RelayState");
    let hostile = "\"><script>alert(1)</script>";
    let page = browser
        .get(&format!(
            "{M365_SSO}?{}&RelayState={}",
            redirect_query(&entra_request(&new_id(), "", "")),
            url_encode(hostile)
        ))
        .await;
    assert!(!page.body.contains("<script>alert"), "RelayState is escaped");
    assert_eq!(field(&page, "RelayState").as_deref(), Some(hostile));
    assert_eq!(form_action(&page), ENTRA_ACS, "a hostile RelayState changes nothing but itself");
    // DOCTYPE, garbage, an inflate bomb: refused before anything else.
    let doctype =
        format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}", entra_request(&new_id(), "", ""));
    refused(&browser.get(&format!("{M365_SSO}?{}", redirect_query(&doctype))).await, "malformed");
    refused(&browser.get(&format!("{M365_SSO}?SAMLRequest=%%%")).await, "malformed");
    let bomb = redirect_query(&"A".repeat(4 * 1024 * 1024));
    refused(&browser.get(&format!("{M365_SSO}?{bomb}")).await, "size limit");
    // A body that is not one form of SAML fields: refused and audited like the rest.
    let json = axum::http::Request::post(M365_SSO).header("content-type", "application/json");
    refused(&browser.send(json, axum::body::Body::from("{}")).await, "refused");
    refused(&browser.post(M365_SSO, &[("SAMLRequest", "a"), ("SAMLRequest", "b")]).await, "refused");
    let unknown = browser.get(&format!("/m365/fabrikam.com/saml/sso?{}", redirect_query(&xml))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let audited = world.audit_actions().await.iter().filter(|a| *a == "saml.refused").count();
    assert!(audited >= 14, "{audited} refusals audited");
}

/// SECURITY.md §5 items 1, 3, 8, 13 and 19 on both bindings: a DOCTYPE in any of its shapes
/// (an external entity, a parameter entity's remote DTD, an ID made by an entity or defaulted by
/// an ATTLIST) is refused before anything is fetched or read; so are a truncated deflate stream
/// and text that is not UTF-8; a RelayState with CR LF reaches no header. Nothing is posted.
#[tokio::test]
async fn entities_broken_encodings_and_crlf_are_refused_on_both_bindings_and_nothing_is_fetched() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    // Anything Tessera fetched for an entity or a DTD would knock here.
    let canary = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    canary.set_nonblocking(true).unwrap();
    let at = format!("http://127.0.0.1:{}", canary.local_addr().unwrap().port());
    let request = |prologue: &str, id: &str| format!("{prologue}{}", entra_request(id, "", ""));
    let shapes = [
        request(&format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"{at}/e\">]>"), &new_id()),
        request("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>", &new_id()),
        request(&format!("<!DOCTYPE x [<!ENTITY % sp SYSTEM \"{at}/sp.dtd\"> %sp;]>"), &new_id()),
        request(&format!("<!DOCTYPE x SYSTEM \"{at}/x.dtd\">"), &new_id()),
        // The ID made by an entity, or defaulted by the DTD (CVE-2025-23369's shape).
        request("<!DOCTYPE samlp:AuthnRequest [<!ENTITY id \"_made\">]>", "&id;"),
        entra_request(&new_id(), "", "").replacen(
            "<samlp:AuthnRequest",
            "<!DOCTYPE samlp:AuthnRequest [<!ATTLIST samlp:AuthnRequest ID ID #FIXED \"_fixed\">]><samlp:AuthnRequest",
            1,
        ),
    ];
    let refused = |page: &Response, what: &str| {
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{what}: {}", page.body);
        assert!(field(page, "SAMLResponse").is_none(), "{what}: nothing posted");
        assert!(!page.body.contains("root:"), "{what}: no file read");
    };
    for (n, xml) in shapes.iter().enumerate() {
        refused(&browser.get(&format!("{M365_SSO}?{}", redirect_query(xml))).await, &format!("redirect {n}"));
        let posted = b64().encode(xml);
        refused(&browser.post(M365_SSO, &[("SAMLRequest", &posted)]).await, &format!("post {n}"));
    }
    assert!(matches!(canary.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "nothing was fetched");

    // A deflate stream cut short, and bytes that are not UTF-8, deflated and not.
    let deflated = |bytes: &[u8]| {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let whole = deflated(entra_request(&new_id(), "", "").as_bytes());
    let cut = &whole[..whole.len() / 2];
    let not_utf8 = deflated(b"<samlp:AuthnRequest \xff\xfe\x00 ID=\"_x\"/>");
    for (what, bytes) in [("cut", cut), ("not UTF-8", not_utf8.as_slice())] {
        let query = format!("SAMLRequest={}", url_encode(&b64().encode(bytes)));
        refused(&browser.get(&format!("{M365_SSO}?{query}")).await, what);
    }
    refused(&browser.post(M365_SSO, &[("SAMLRequest", &b64().encode(b"\xff\xfe<x/>"))]).await, "posted not UTF-8");

    // CR LF in RelayState: refused or carried inert in the form, never a header; the form
    // goes to the registered ACS only.
    let crlf = "a\r\nSet-Cookie: planted=1";
    let page = browser
        .get(&format!(
            "{M365_SSO}?{}&RelayState={}",
            redirect_query(&entra_request(&new_id(), "", "")),
            url_encode(crlf)
        ))
        .await;
    assert!(page.headers.get_all("set-cookie").iter().all(|c| !c.to_str().unwrap_or("").contains("planted")));
    if page.status == StatusCode::OK {
        assert_eq!(form_action(&page), ENTRA_ACS);
        assert_eq!(field(&page, "RelayState").as_deref(), Some(crlf));
    } else {
        refused(&page, "CR LF in RelayState");
    }
}

#[tokio::test]
async fn force_authn_asks_for_the_password_again_and_is_passive_answers_no_passive() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let id = new_id();
    let forced =
        browser.get(&format!("{M365_SSO}?{}", redirect_query(&entra_request(&id, r#" ForceAuthn="true""#, "")))).await;
    let location = forced.location.unwrap();
    assert!(location.starts_with("/login?continue=") && location.ends_with("&fresh=1"), "{location}");
    let login_page = browser.get(&location).await;
    assert!(login_page.body.contains("name=\"password\""), "the form, although a session exists");
    // Skipping the form does not help: the old session is not fresh enough.
    let continue_id = between(&location, "continue=", "&").to_string();
    let skipped = browser.get(&format!("/resume/{continue_id}")).await;
    let again = skipped.location.unwrap();
    assert!(again.starts_with("/login?continue=") && again.ends_with("&fresh=1"), "{again}");
    let fresh_id = between(&again, "continue=", "&").to_string();
    let done = browser.login("alice@contoso.com", PASSWORD, &fresh_id).await;
    let page = browser.get(done.location.as_deref().unwrap()).await;
    assert!(posted_response(&page).contains(&format!(r#"InResponseTo="{id}""#)));

    // IsPassive without a session: NoPassive to the ACS, no assertion.
    let mut anonymous = Browser::new(&world);
    let passive_id = new_id();
    let page = anonymous
        .get(&format!("{M365_SSO}?{}", redirect_query(&entra_request(&passive_id, r#" IsPassive="true""#, ""))))
        .await;
    let xml = posted_response(&page);
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:status:NoPassive") && !xml.contains("Assertion"), "{xml}");
    assert!(xml.contains(&format!(r#"InResponseTo="{passive_id}""#)));
    // IsPassive for a user the app is not granted to: RequestDenied at the ACS, no page.
    add_bob_in_no_group(&world).await;
    let mut bob_browser = Browser::new(&world);
    bob_browser.login("bob@contoso.com", PASSWORD, "").await;
    let page = bob_browser
        .get(&format!("{M365_SSO}?{}", redirect_query(&entra_request(&new_id(), r#" IsPassive="true""#, ""))))
        .await;
    let xml = posted_response(&page);
    assert!(xml.contains("status:RequestDenied") && !xml.contains("Assertion"), "{xml}");
    // IsPassive with a session: answered silently.
    let page = browser
        .get(&format!("{M365_SSO}?{}", redirect_query(&entra_request(&new_id(), r#" IsPassive="true""#, ""))))
        .await;
    assert!(posted_response(&page).contains("status:Success"));
    // A context this IdP cannot show, or a NameID format it does not issue: a status answer.
    let x509 = format!(
        r#"<samlp:RequestedAuthnContext><AuthnContextClassRef xmlns="{SAML}">urn:oasis:names:tc:SAML:2.0:ac:classes:X509</AuthnContextClassRef></samlp:RequestedAuthnContext>"#
    );
    let page = browser.get(&format!("{M365_SSO}?{}", redirect_query(&entra_request(&new_id(), "", &x509)))).await;
    assert!(posted_response(&page).contains("status:NoAuthnContext"));
    let transient = entra_request(&new_id(), "", "").replace("nameid-format:persistent", "nameid-format:transient");
    let page = browser.get(&format!("{M365_SSO}?{}", redirect_query(&transient))).await;
    assert!(posted_response(&page).contains("status:InvalidNameIDPolicy"));
    // "Better than a password" means a second factor: this user has none, so enrolment first.
    let better = format!(
        r#"<samlp:RequestedAuthnContext Comparison="better"><AuthnContextClassRef xmlns="{SAML}">{PPT}</AuthnContextClassRef></samlp:RequestedAuthnContext>"#
    );
    let page = browser.get(&format!("{M365_SSO}?{}", redirect_query(&entra_request(&new_id(), "", &better)))).await;
    assert!(page.location.unwrap_or_default().starts_with("/mfa/totp?continue="));
}

fn sp_metadata() -> Vec<u8> {
    std::fs::read(workspace().join("fixtures/saml/sp-metadata.xml")).unwrap()
}

async fn saml_app(world: &World, change: SettingsChange) -> tessera_core::Application {
    fixture_sp(world, "Generic SP", change, |_| {}).await
}

/// The fixture SP (`fixtures/saml/sp-metadata.xml`, taking unsigned requests), as `edit` and
/// `change` leave it, named `label` and granted to Staff.
pub(crate) async fn fixture_sp(
    world: &World,
    label: &str,
    change: SettingsChange,
    edit: impl FnOnce(&mut tessera_core::SamlSpConfig),
) -> tessera_core::Application {
    let config = tessera_protocols::saml2::sp_metadata::parse_sp_metadata(&sp_metadata()).unwrap();
    // The fixture SP signs its requests; these tests send unsigned ones.
    let mut config = config;
    config.sign_requests = false;
    edit(&mut config);
    let kind = change.apply(&AppKind::Saml(config)).unwrap();
    let new = NewApplication::new("http://127.0.0.1:8080", label, None, None, true, kind).unwrap();
    let key = world.keys.new_key(new.id, label, tessera_keys::KeySize::Rsa2048, 30).await.unwrap();
    let app = world.store.create_app(&Actor::system(), new, Some(key)).await.unwrap();
    let staff = world.store.find_group("Staff").await.unwrap();
    world.store.grant(&Actor::system(), app.id, staff.id).await.unwrap();
    app
}

#[tokio::test]
async fn generic_sp_response_follows_its_registration_and_idp_initiated_tiles_post_unsolicited() {
    let (world, _) = World::new(config()).await;
    let change = SettingsChange {
        attributes: Some(vec![
            tessera_core::AttributeMapping::parse("mail=email").unwrap(),
            tessera_core::AttributeMapping::parse("uid=id").unwrap(),
        ]),
        sign_response: Some(true),
        ..Default::default()
    };
    let app = saml_app(&world, change).await;
    let sso = format!("/apps/{}/saml/sso", app.id);
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let id = new_id();
    let request = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{id}" IssueInstant="{}" Version="2.0" AssertionConsumerServiceURL="https://sp.example.com/saml/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>https://sp.example.com/saml/metadata</saml:Issuer></samlp:AuthnRequest>"#,
        instant(0)
    );
    let page = browser.get(&format!("{sso}?{}", redirect_query(&request))).await;
    assert_eq!(form_action(&page), "https://sp.example.com/saml/acs");
    let xml = posted_response(&page);
    let parsed = doc(&xml);
    let response = parsed.root_element();
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    assert_eq!(text(response, SAML, "Audience"), "https://sp.example.com/saml/metadata");
    let name_id = find(response, SAML, "NameID").unwrap();
    assert_eq!(name_id.attribute("Format"), Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"));
    assert_eq!(name_id.text(), Some("alice@contoso.com"));
    let attributes: Vec<(String, String)> = response
        .descendants()
        .filter(|n| n.tag_name().name() == "Attribute")
        .map(|n| (n.attribute("Name").unwrap().to_string(), text(n, SAML, "AttributeValue").to_string()))
        .collect();
    assert_eq!(attributes, [("mail".to_string(), alice.email.clone()), ("uid".to_string(), alice.id.to_string())]);
    assert_eq!(xml.matches("</ds:Signature>").count(), 2, "assertion and response both signed");
    let issuer = app.issuer.clone().unwrap();
    assert!(xml.contains(&format!(">{issuer}</saml:Issuer>")));
    if xmlsec1() {
        let certificate = app.certificates.current.as_ref().unwrap();
        assert!(xmlsec1_verifies_assertion(&xml, certificate));
        assert!(xmlsec1_verifies(&xml, certificate, "/*/*[local-name()='Signature']"), "the response signature");
    }
    // The artifact ACS (index 1) cannot carry a POSTed response.
    let artifact = request.replace(&format!("ID=\"{id}\""), &format!("ID=\"{}\"", new_id())).replace(
        r#" AssertionConsumerServiceURL="https://sp.example.com/saml/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST""#,
        r#" AssertionConsumerServiceIndex="1""#,
    );
    assert_eq!(browser.get(&format!("{sso}?{}", redirect_query(&artifact))).await.status, StatusCode::BAD_REQUEST);

    // IdP-initiated: the tile leads to the SSO URL, which posts an unsolicited response.
    let tile = browser.get(&format!("/launch/{}", app.id)).await;
    assert_eq!(tile.location.as_deref(), Some(format!("http://127.0.0.1:8080{sso}").as_str()));
    let page = browser.get(&format!("{sso}?RelayState=%2Fhome")).await;
    let xml = posted_response(&page);
    assert!(!xml.contains("InResponseTo"), "unsolicited");
    assert_eq!(field(&page, "RelayState").as_deref(), Some("/home"));
    assert_eq!(form_action(&page), "https://sp.example.com/saml/acs");

    // Settings change through the store: a new NameID source takes effect at once.
    let change = SettingsChange { name_id_source: Some(tessera_core::UserAttribute::Upn), ..Default::default() };
    let kind = change.apply(&world.store.find_app(&app.id.to_string()).await.unwrap().kind).unwrap();
    world.store.update_app_kind(&Actor::system(), app.id, &kind).await.unwrap();
    let page = browser.get(&sso).await;
    assert!(posted_response(&page).contains(&format!(">{}</saml:NameID>", alice.upn)));
    // IdP-initiated can be turned off per app: the tile's path is then refused and audited.
    let change = SettingsChange { idp_initiated: Some(false), ..Default::default() };
    let kind = change.apply(&world.store.find_app(&app.id.to_string()).await.unwrap().kind).unwrap();
    world.store.update_app_kind(&Actor::system(), app.id, &kind).await.unwrap();
    let refused = browser.get(&sso).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("starts itself") && field(&refused, "SAMLResponse").is_none());
    // The SP's endpoint is not an M365 one, and vice versa.
    let wrong = browser.get(&format!("/apps/{}/saml/sso", m365_app(&world).await.id)).await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn certificate_rotation_changes_metadata_and_every_new_response() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let app = m365_app(&world).await;
    let before = app.certificates.current.clone().unwrap();
    world.keys.rotate(&Actor::system(), app.id, "M365", tessera_keys::KeySize::Rsa2048, 30).await.unwrap();
    let after = m365_app(&world).await.certificates.current.unwrap();
    assert_ne!(before, after);
    let metadata = browser.get("/m365/contoso.com/saml/metadata.xml").await.body;
    assert!(metadata.contains(&b64().encode(&after)) && !metadata.contains(&b64().encode(&before)));
    let xml = posted_response(&m365_sign_in(&mut browser, &new_id()).await);
    assert!(xml.contains(&b64().encode(&after)));
    if xmlsec1() {
        assert!(xmlsec1_verifies_assertion(&xml, &after));
        assert!(!xmlsec1_verifies_assertion(&xml, &before));
    }
}

/// A LogoutRequest from Entra (Redirect binding).
pub(crate) fn logout_request(id: &str, name_id: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{id}" Version="2.0" IssueInstant="{}"><saml:Issuer>urn:federation:MicrosoftOnline</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</saml:NameID></samlp:LogoutRequest>"#,
        instant(0)
    )
}

#[tokio::test]
async fn single_logout_ends_the_session_and_answers_at_the_registered_slo_url() {
    let (world, _) = World::new(config()).await;
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    // Another principal's NameID (SECURITY.md §5 item 16 shape) leaves the session alone.
    let other = browser
        .get(&format!("/m365/contoso.com/saml/slo?{}", redirect_query(&logout_request(&new_id(), "someone-else"))))
        .await;
    assert!(other.location.as_deref().unwrap().contains("SAMLResponse="));
    assert_eq!(browser.get("/").await.status, StatusCode::OK, "still signed in");
    let truncated = logout_request(&new_id(), &format!("{}<!---->x", alice.immutable_id));
    let page = browser.get(&format!("/m365/contoso.com/saml/slo?{}", redirect_query(&truncated))).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(browser.get("/").await.status, StatusCode::OK, "still signed in");

    let id = new_id();
    let xml = logout_request(&id, &alice.immutable_id);
    let answer = browser.get(&format!("/m365/contoso.com/saml/slo?{}&RelayState=bye", redirect_query(&xml))).await;
    let location = answer.location.unwrap();
    assert!(location.starts_with("https://login.microsoftonline.com/common/saml2?SAMLResponse="), "{location}");
    assert!(
        location.contains(
            "&RelayState=bye&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature="
        )
    );
    // The answer's query signature verifies with the app's certificate.
    let certificate = m365_app(&world).await.certificates.current.unwrap();
    let key = tessera_xml::VerifyingKey::from_certificate_der(&certificate).unwrap();
    let query = location.split_once('?').unwrap().1;
    let verified = tessera_protocols::saml2::redirect::verify_redirect_query(
        query,
        Some(&key),
        tessera_xml::AlgorithmPolicy::default(),
    )
    .unwrap();
    let response = tessera_protocols::saml2::authn_request::decode_redirect(&verified.message).unwrap();
    assert!(response.contains(&format!(r#"InResponseTo="{id}""#)) && response.contains("status:Success"), "{response}");
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/login"), "signed out");
    // Replayed: refused.
    let replay = browser.get(&format!("/m365/contoso.com/saml/slo?{}", redirect_query(&xml))).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    // A plain GET of the logout URL signs out too, when it is the page being shown; an image
    // on another site pointing at it does not.
    let mut again = Browser::signed_in(&world, "10.0.0.1").await;
    let request = axum::http::Request::get("/m365/contoso.com/saml/slo").header("sec-fetch-dest", "image");
    again.send(request, axum::body::Body::empty()).await;
    assert_eq!(again.get("/").await.status, StatusCode::OK, "still signed in");
    let page = again.get("/m365/contoso.com/saml/slo").await;
    assert!(page.body.contains("You are signed out"));
    assert_eq!(again.get("/").await.location.as_deref(), Some("/login"));
    let logouts = world.audit_actions().await.iter().filter(|a| *a == "signin.logout").count();
    assert_eq!(logouts, 2);
}

#[tokio::test]
async fn signature_wrapping_of_a_signed_request_never_reaches_a_forged_acs() {
    let (world, _) = World::new(config()).await;
    require_entra_signatures(&world).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let id = new_id();
    let Some(signed) = signed_entra_request(&id, M365_SSO_URL) else { return };
    let forged_acs = r#" AssertionConsumerServiceURL="https://evil.example/acs""#;
    let open_end = signed.find('>').unwrap();
    let body_start = signed.find("<Issuer").unwrap();
    let inner =
        &signed[signed.find("<Signature").unwrap()..signed.find("</Signature>").unwrap() + "</Signature>".len()];
    let variants = [
        // The forged ACS added to the signed element: its digest no longer matches.
        format!("{}{forged_acs}{}", &signed[..open_end], &signed[open_end..]),
        // A forged root wrapping the signed request (XSW1/2 shape, same ID).
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="{SAMLP}" ID="{id}" Version="2.0" IssueInstant="{}"{forged_acs}><Issuer xmlns="{SAML}">urn:federation:MicrosoftOnline</Issuer><samlp:Extensions>{signed}</samlp:Extensions></samlp:AuthnRequest>"#,
            instant(0)
        ),
        // A forged root with a new ID carrying the original signature (XSW3 shape).
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="{SAMLP}" ID="_forged" Version="2.0" IssueInstant="{}"{forged_acs}><Issuer xmlns="{SAML}">urn:federation:MicrosoftOnline</Issuer>{inner}</samlp:AuthnRequest>"#,
            instant(0)
        ),
        // The signed request's body after a second, forged Issuer.
        format!(
            "{}<Issuer xmlns=\"{SAML}\">https://evil.example/</Issuer>{}",
            &signed[..body_start],
            &signed[body_start..]
        ),
    ];
    for (n, xml) in variants.iter().enumerate() {
        let page = browser.post(M365_SSO, &[("SAMLRequest", &b64().encode(xml))]).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "variant {n}: {}", page.body);
        assert!(!page.body.contains("evil.example/acs\" ") && field(&page, "SAMLResponse").is_none(), "variant {n}");
    }
    assert!(!world.audit_actions().await.iter().any(|a| a == "saml.issued"));
    let genuine = browser.post(M365_SSO, &[("SAMLRequest", &b64().encode(&signed))]).await;
    assert_eq!(form_action(&genuine), ENTRA_ACS, "the untouched request still works");
}

/// SECURITY.md §5 item 6, for a body that does not announce its length: capped as it is read,
/// refused with 413 and audited, for sign-in and logout alike. (One that announces it is
/// refused before it is read: `bounds.rs` in the CLI tests, over a socket.)
#[tokio::test]
async fn a_saml_post_body_over_the_cap_is_refused_with_413_and_audited() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let huge = "A".repeat(2 * 1024 * 1024);
    for path in [M365_SSO, "/m365/contoso.com/saml/slo"] {
        let page = browser.post(path, &[("SAMLRequest", &huge)]).await;
        assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {}", page.body);
        assert!(field(&page, "SAMLResponse").is_none());
    }
    let actions = world.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "saml.refused") && actions.iter().any(|a| a == "saml.logout_refused"),
        "{actions:?}"
    );
    assert_eq!(browser.get("/").await.status, StatusCode::OK, "still signed in");
}
