//! WS-Federation passive sign-in and sign-out for the Microsoft 365 connector, in-process,
//! against M365-PROTOCOLS.md §8 items 13–18 (named `checklist_NN_…`), with the federation
//! metadata and the refusals. Every SAML 1.1 assertion is also verified by xmlsec1.

use std::process::Command;

use axum::http::StatusCode;
use axum::http::header;
use tessera_core::{Actor, NewUser, SettingsChange};
use tessera_xml::roxmltree;

use super::saml::{b64, doc, enrol_and_resume, field, find, form_action, pem, text, xmlsec1};
use super::signin::{Browser, PASSWORD, Response, World, config, form_encode};

const PASSIVE: &str = "/m365/contoso.com/wsfed";
const ISSUER: &str = "http://127.0.0.1:8080/m365/contoso.com";
const ENTRA_ACS: &str = "https://login.microsoftonline.com/login.srf";
const REALM: &str = "urn:federation:MicrosoftOnline";
const TRUST_2005: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
const SAML1: &str = "urn:oasis:names:tc:SAML:1.0:assertion";
const MULTIPLE_AUTHN: &str = "http://schemas.microsoft.com/claims/multipleauthn";
/// An Entra context blob as it arrives: characters that must survive HTML and form encoding.
const WCTX: &str = "LoginOptions=3&estsredirect=2&estsrequest=rQQIARAAjZI9b-0wFEU+2B/=\"<&amp;>\" é";

fn sign_in_url(extra: &[(&str, &str)]) -> String {
    let mut query = vec![("wa", "wsignin1.0"), ("wtrealm", REALM), ("wctx", WCTX)];
    query.extend_from_slice(extra);
    let pairs: Vec<String> = query.iter().map(|(n, v)| format!("{n}={}", form_encode(v))).collect();
    format!("{PASSIVE}?{}", pairs.join("&"))
}

/// The RSTR a passive answer posts, checking the form around it.
fn posted_wresult(page: &Response) -> String {
    assert_eq!(page.status, StatusCode::OK, "an auto-POST page: {}", page.body);
    assert_eq!(form_action(page), ENTRA_ACS);
    assert_eq!(field(page, "wa").as_deref(), Some("wsignin1.0"));
    field(page, "wresult").unwrap_or_else(|| panic!("no wresult in {}", page.body))
}

fn assertion<'a, 'i>(parsed: &'a roxmltree::Document<'i>) -> roxmltree::Node<'a, 'i> {
    find(parsed.root_element(), SAML1, "Assertion").expect("an assertion")
}

fn attribute<'a>(node: roxmltree::Node<'a, '_>, namespace: &str, name: &str) -> Option<&'a str> {
    node.descendants()
        .find(|n| {
            n.tag_name().name() == "Attribute"
                && n.attribute("AttributeNamespace") == Some(namespace)
                && n.attribute("AttributeName") == Some(name)
        })
        .map(|n| text(n, SAML1, "AttributeValue"))
}

/// xmlsec1's verdict on the SAML 1.1 assertion's signature with `certificate`.
pub(crate) fn xmlsec1_verifies_saml11(xml: &str, certificate: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.xml"), xml).unwrap();
    std::fs::write(dir.path().join("c.pem"), pem(certificate)).unwrap();
    Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(dir.path().join("c.pem"))
        .args(["--id-attr:AssertionID", "urn:oasis:names:tc:SAML:1.0:assertion:Assertion"])
        .args(["--node-xpath", "//*[local-name()='Assertion']/*[local-name()='Signature']"])
        .arg(dir.path().join("r.xml"))
        .output()
        .unwrap()
        .status
        .success()
}

async fn certificate(world: &World) -> Vec<u8> {
    world.store.find_app("M365").await.unwrap().certificates.current.unwrap()
}

#[tokio::test]
async fn checklist_13_wsfed_request_answered_at_login_srf_with_wctx_byte_identical() {
    let (world, _) = World::new(config()).await;
    // Signed out: the request is parked, the login form is pre-filled from `username`.
    let mut browser = Browser::new(&world);
    let start = browser.get(&sign_in_url(&[("username", "alice@contoso.com")])).await;
    let location = start.location.clone().unwrap_or_default();
    assert!(
        location.starts_with("/login?continue=") && location.ends_with("&username=alice%40contoso.com"),
        "{location}"
    );
    let form = browser.get(&location).await;
    assert!(form.body.contains(r#"value="alice@contoso.com""#), "{}", form.body);
    let continue_id = location.trim_start_matches("/login?continue=").split('&').next().unwrap().to_string();
    browser.login("alice@contoso.com", PASSWORD, &continue_id).await;
    let csrf = browser.csrf();
    browser.post("/notice", &[("csrf", &csrf), ("continue", &continue_id)]).await;
    let page = browser.get(&format!("/resume/{continue_id}")).await;
    posted_wresult(&page);
    assert_eq!(field(&page, "wctx").as_deref(), Some(WCTX), "wctx comes back byte for byte");
    // Signed in: answered at once; a request without wctx posts none.
    let again = browser.get(&format!("{PASSIVE}?wa=wsignin1.0&wtrealm={}", form_encode(REALM))).await;
    posted_wresult(&again);
    assert!(field(&again, "wctx").is_none());
    let csp = page.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("form-action https://login.microsoftonline.com"), "{csp}");
    assert!(world.audit_actions().await.iter().filter(|a| *a == "wsfed.issued").count() == 2);
}

#[tokio::test]
async fn checklist_14_rstr_wrapper_holds_one_assertion_as_its_first_child() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let wresult = posted_wresult(&browser.get(&sign_in_url(&[])).await);
    let parsed = doc(&wresult);
    let root = parsed.root_element();
    assert_eq!(
        (root.tag_name().namespace(), root.tag_name().name()),
        (Some(TRUST_2005), "RequestSecurityTokenResponse")
    );
    let address = find(root, "http://www.w3.org/2005/08/addressing", "Address").unwrap();
    assert_eq!(address.parent().unwrap().parent().unwrap().tag_name().name(), "AppliesTo");
    assert_eq!(address.text(), Some(REALM));
    assert_eq!(text(root, TRUST_2005, "TokenType"), "urn:oasis:names:tc:SAML:1.0:assertion");
    assert_eq!(text(root, TRUST_2005, "RequestType"), "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue");
    assert_eq!(text(root, TRUST_2005, "KeyType"), "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey");
    let token = find(root, TRUST_2005, "RequestedSecurityToken").unwrap();
    let first = token.first_child().unwrap();
    assert!(first.is_element() && first.tag_name().name() == "Assertion", "no whitespace before the token");
    assert_eq!(root.descendants().filter(|n| n.tag_name().name() == "Assertion").count(), 1);
    let lifetime = find(root, TRUST_2005, "Lifetime").unwrap();
    assert!(!text(lifetime, tessera_protocols::saml11::WSU_NS, "Created").is_empty());
}

#[tokio::test]
async fn checklist_15_saml11_core_and_signature_from_the_configured_certificate() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let wresult = posted_wresult(&browser.get(&sign_in_url(&[])).await);
    let parsed = doc(&wresult);
    let assertion = assertion(&parsed);
    assert_eq!(assertion.attribute("MajorVersion"), Some("1"));
    assert_eq!(assertion.attribute("MinorVersion"), Some("1"));
    assert_eq!(assertion.attribute("Issuer"), Some(ISSUER));
    assert!(assertion.attribute("AssertionID").unwrap().starts_with('_'));
    assert_eq!(text(assertion, SAML1, "Audience"), REALM);
    let conditions = find(assertion, SAML1, "Conditions").unwrap();
    let now = super::signin::now_seconds() * 1000;
    let millis = |name| tessera_core::parse_rfc3339_millis(conditions.attribute(name).unwrap()).unwrap();
    assert!(millis("NotBefore") <= now && now < millis("NotOnOrAfter"));
    for confirmation in assertion.descendants().filter(|n| n.tag_name().name() == "ConfirmationMethod") {
        assert_eq!(confirmation.text(), Some("urn:oasis:names:tc:SAML:1.0:cm:bearer"));
    }
    let signature = find(assertion, "http://www.w3.org/2000/09/xmldsig#", "Signature").unwrap();
    assert_eq!(signature.parent(), Some(assertion));
    let reference = find(signature, "http://www.w3.org/2000/09/xmldsig#", "Reference").unwrap();
    assert_eq!(reference.attribute("URI").unwrap(), format!("#{}", assertion.attribute("AssertionID").unwrap()));
    assert!(wresult.contains("rsa-sha256") && wresult.contains("xml-exc-c14n#"));
    if xmlsec1() {
        assert!(xmlsec1_verifies_saml11(&wresult, &certificate(&world).await), "xmlsec1 verifies the assertion");
        let other =
            std::fs::read(super::saml::workspace().join("crates/tessera-xml/tests/data/attacker-cert.der")).unwrap();
        assert!(!xmlsec1_verifies_saml11(&wresult, &other), "another key does not");
        let tampered = wresult.replace("alice@contoso.com", "mallory@contoso.com");
        assert!(!xmlsec1_verifies_saml11(&tampered, &certificate(&world).await), "a changed claim breaks it");
    }
}

#[tokio::test]
async fn checklist_16_upn_and_immutable_id_claims_and_name_identifier() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let wresult = posted_wresult(&browser.get(&sign_in_url(&[])).await);
    let parsed = doc(&wresult);
    let assertion = assertion(&parsed);
    let user = world.store.find_user("alice@contoso.com").await.unwrap();
    assert_eq!(attribute(assertion, "http://schemas.xmlsoap.org/claims", "UPN"), Some(user.upn.as_str()));
    assert_eq!(
        attribute(assertion, "http://schemas.microsoft.com/LiveID/Federation/2008/05", "ImmutableID"),
        Some(user.immutable_id.as_str())
    );
    for name_identifier in assertion.descendants().filter(|n| n.tag_name().name() == "NameIdentifier") {
        assert_eq!(name_identifier.text(), Some(user.immutable_id.as_str()));
        assert_eq!(name_identifier.attribute("Format"), Some("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"));
    }
}

#[tokio::test]
async fn checklist_17_mfa_stated_in_authentication_method_and_authnmethodsreferences() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    // Password only: the password method, no MFA claim.
    let wresult = posted_wresult(&browser.get(&sign_in_url(&[])).await);
    assert!(wresult.contains(r#"AuthenticationMethod="urn:oasis:names:tc:SAML:1.0:am:password""#));
    assert!(!wresult.contains(MULTIPLE_AUTHN));
    // Entra asks for MFA (enforceMfaByFederatedIdp): the user enrols, then the token says so.
    let first = browser.get(&sign_in_url(&[("wauth", MULTIPLE_AUTHN)])).await;
    let location = first.location.clone().unwrap_or_default();
    assert!(location.starts_with("/mfa/totp?continue="), "{location} {}", first.body);
    let page = enrol_and_resume(&mut browser, &location).await;
    assert_eq!(field(&page, "wctx").as_deref(), Some(WCTX));
    let wresult = posted_wresult(&page);
    let parsed = doc(&wresult);
    let assertion = assertion(&parsed);
    let statement = find(assertion, SAML1, "AuthenticationStatement").unwrap();
    assert_eq!(statement.attribute("AuthenticationMethod"), Some(MULTIPLE_AUTHN));
    assert_eq!(
        attribute(assertion, "http://schemas.microsoft.com/claims", "authnmethodsreferences"),
        Some(MULTIPLE_AUTHN)
    );
    if xmlsec1() {
        assert!(xmlsec1_verifies_saml11(&wresult, &certificate(&world).await));
    }
}

#[tokio::test]
async fn checklist_18_prompt_login_in_every_form_forces_a_fresh_sign_in() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let password = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password";
    for extra in [vec![("wauth", password), ("wfresh", "0")], vec![("prompt", "login")], vec![("wfresh", "0")]] {
        let start = browser.get(&sign_in_url(&extra)).await;
        let location = start.location.clone().unwrap_or_default();
        assert!(location.starts_with("/login?continue=") && location.contains("&fresh=1"), "{extra:?}: {location}");
        let continue_id = location.trim_start_matches("/login?continue=").split('&').next().unwrap().to_string();
        // Skipping the form does not help: the resume asks again.
        let skipped = browser.get(&format!("/resume/{continue_id}")).await;
        let again = skipped.location.clone().unwrap_or_default();
        assert!(again.contains("fresh=1"), "{extra:?}: {again}");
        let continue_id = again.trim_start_matches("/login?continue=").split('&').next().unwrap().to_string();
        let csrf = browser.csrf();
        let signed = browser
            .post(
                "/login",
                &[
                    ("username", "alice@contoso.com"),
                    ("password", PASSWORD),
                    ("csrf", &csrf),
                    ("continue", &continue_id),
                ],
            )
            .await;
        let page = browser.get(signed.location.as_deref().unwrap()).await;
        posted_wresult(&page);
    }
    // wfresh=N: a sign-in within N minutes serves.
    posted_wresult(&browser.get(&sign_in_url(&[("wfresh", "5")])).await);
}

#[tokio::test]
async fn refused_requests_get_a_page_and_no_token() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let realm = form_encode(REALM);
    for (query, why) in [
        (format!("wa=wsignin1.0&wtrealm={realm}&wreply=https%3A%2F%2Fevil.example%2Fcollect"), "not registered"),
        (format!("wa=wsignin1.0&wtrealm={realm}&wreply=javascript%3Aalert(1)"), "not registered"),
        ("wa=wsignin1.0&wtrealm=urn%3Aevil".to_string(), "not a relying party"),
        (format!("wa=wsignin1.0&wtrealm={realm}&wtrealm={realm}"), "more than once"),
        (format!("wa=wsignin1.0&wtrealm={realm}&wauth=urn%3Afederation%3Aauthentication%3Awindows"), "method"),
        (format!("wa=wsignin1.0&wtrealm={realm}&wfresh=later"), "wfresh"),
        (format!("wa=wattr1.0&wtrealm={realm}"), "unsupported WS-Federation action"),
        ("wa=wsignin1.0".to_string(), "wtrealm"),
        (format!("wa=wsignin1.0&wtrealm={realm}&wctx=%ZZ"), "malformed"),
        (format!("wa=wsignin1.0&wtrealm={realm}&wctx={}", "x".repeat(17 * 1024)), "wctx is longer"),
        (String::new(), "wa parameter"),
    ] {
        let refused = browser.get(&format!("{PASSIVE}?{query}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{why}: {}", refused.body);
        assert!(refused.body.contains(why), "{why}: {}", refused.body);
        assert!(field(&refused, "wresult").is_none());
    }
    assert_eq!(world.audit_actions().await.iter().filter(|a| *a == "wsfed.refused").count(), 11);
    // A registered reply is honoured (scheme and host compare without case).
    let page = browser.get(&sign_in_url(&[("wreply", "https://LOGIN.microsoftonline.com/login.srf")])).await;
    posted_wresult(&page);
    // A hostile wctx is echoed escaped, to the registered address only.
    let hostile = "\"><script>alert(1)</script>\r\nSet-Cookie: x=1";
    let page = browser.get(&sign_in_url(&[]).replace(&form_encode(WCTX), &form_encode(hostile))).await;
    posted_wresult(&page);
    assert_eq!(field(&page, "wctx").as_deref(), Some(hostile));
    assert!(!page.body.contains("<script>alert"), "escaped");
    assert!(page.headers.get("set-cookie").is_none());
    // An unknown connector is a 404.
    let missing = browser.get(&format!("/m365/fabrikam.com/wsfed?wa=wsignin1.0&wtrealm={realm}")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_ungranted_user_gets_a_refusal_page_and_no_token() {
    let (world, _) = World::new(config()).await;
    let mut bob = NewUser::new("bob@contoso.com", None, None, None, None, || "id-bob".into()).unwrap();
    bob.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
    world.store.create_user(&Actor::system(), bob).await.unwrap();
    let mut browser = Browser::new(&world);
    let start = browser.get(&sign_in_url(&[])).await;
    let continue_id = start.location.unwrap().trim_start_matches("/login?continue=").to_string();
    browser.login("bob@contoso.com", PASSWORD, &continue_id).await;
    let csrf = browser.csrf();
    browser.post("/notice", &[("csrf", &csrf), ("continue", &continue_id)]).await;
    let page = browser.get(&format!("/resume/{continue_id}")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(field(&page, "wresult").is_none());
    assert!(world.audit_actions().await.iter().any(|a| a == "wsfed.denied"));
}

#[tokio::test]
async fn non_ascii_claims_travel_as_character_references_and_still_verify() {
    let (world, _) = World::new(config()).await;
    let app = world.store.find_app("M365").await.unwrap();
    let change = SettingsChange {
        attributes: Some(vec![
            tessera_core::app::AttributeMapping::parse("http://schemas.xmlsoap.org/claims/Department=first_name")
                .unwrap(),
        ]),
        ..Default::default()
    };
    world.store.update_app_kind(&Actor::system(), app.id, &change.apply(&app.kind).unwrap()).await.unwrap();
    let mut zoe = NewUser::new("zoe@contoso.com", None, Some("Zoë Ångström"), None, None, || "id-zoe".into()).unwrap();
    zoe.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
    let zoe = world.store.create_user(&Actor::system(), zoe).await.unwrap();
    let staff = world.store.find_group("Staff").await.unwrap();
    world.store.add_member(&Actor::system(), staff.id, zoe.id).await.unwrap();
    let mut browser = Browser::new(&world);
    let start = browser.get(&sign_in_url(&[])).await;
    let continue_id = start.location.unwrap().trim_start_matches("/login?continue=").to_string();
    browser.login("zoe@contoso.com", PASSWORD, &continue_id).await;
    let csrf = browser.csrf();
    browser.post("/notice", &[("csrf", &csrf), ("continue", &continue_id)]).await;
    let wresult = posted_wresult(&browser.get(&format!("/resume/{continue_id}")).await);
    assert!(wresult.is_ascii(), "the token is ASCII");
    assert!(wresult.contains("Zo&#xEB;"));
    let parsed = doc(&wresult);
    assert_eq!(attribute(assertion(&parsed), "http://schemas.xmlsoap.org/claims", "Department"), Some("Zoë Ångström"));
    if xmlsec1() {
        assert!(xmlsec1_verifies_saml11(&wresult, &certificate(&world).await));
    }
}

#[tokio::test]
async fn sign_out_and_cleanup_end_the_session_and_return_only_to_a_registered_origin() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    // An image on another site cannot sign the user out.
    let request = axum::http::Request::get(format!("{PASSIVE}?wa=wsignout1.0")).header("sec-fetch-dest", "image");
    let embedded = browser.send(request, axum::body::Body::empty()).await;
    assert_eq!(embedded.status, StatusCode::OK);
    posted_wresult(&browser.get(&sign_in_url(&[])).await);
    // Entra's sign-out: the session ends, the browser goes back to Microsoft.
    let back = "https://login.microsoftonline.com/login.srf?wa=wsignoutcleanup1.0";
    let out = browser.get(&format!("{PASSIVE}?wa=wsignout1.0&wreply={}", form_encode(back))).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some(back));
    let after = browser.get(&sign_in_url(&[])).await;
    assert!(after.location.unwrap_or_default().starts_with("/login?continue="), "signed out");
    // Cleanup without a reply: a signed-out page. A foreign reply is not followed.
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let cleaned = browser.get(&format!("{PASSIVE}?wa=wsignoutcleanup1.0")).await;
    assert_eq!(cleaned.status, StatusCode::OK);
    assert!(browser.get(&sign_in_url(&[])).await.location.is_some(), "signed out");
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let foreign = browser.get(&format!("{PASSIVE}?wa=wsignout1.0&wreply=https%3A%2F%2Fevil.example%2F")).await;
    assert_eq!(foreign.status, StatusCode::OK);
    assert!(foreign.headers.get(header::LOCATION).is_none());
    assert!(world.audit_actions().await.iter().any(|a| a == "wsfed.reply_refused"));
    assert!(world.audit_actions().await.iter().filter(|a| *a == "signin.logout").count() >= 3);
}

#[tokio::test]
async fn federation_metadata_describes_the_sts_and_its_keys() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::new(&world);
    let response = browser.get("/m365/contoso.com/FederationMetadata/2007-06/FederationMetadata.xml").await;
    assert_eq!(response.status, StatusCode::OK);
    let parsed = doc(&response.body);
    let root = parsed.root_element();
    assert_eq!(root.attribute("entityID"), Some(ISSUER));
    let fed = "http://docs.oasis-open.org/wsfed/federation/200706";
    let role = root.children().find(|n| n.tag_name().name() == "RoleDescriptor").unwrap();
    assert_eq!(
        role.attribute(("http://www.w3.org/2001/XMLSchema-instance", "type")),
        Some("fed:SecurityTokenServiceType")
    );
    let protocols = role.attribute("protocolSupportEnumeration").unwrap();
    assert!(protocols.contains("http://docs.oasis-open.org/ws-sx/ws-trust/200512") && protocols.contains(TRUST_2005));
    let address = |local| text(find(role, fed, local).unwrap(), "http://www.w3.org/2005/08/addressing", "Address");
    assert_eq!(address("PassiveRequestorEndpoint"), format!("{ISSUER}/wsfed"));
    assert_eq!(address("SecurityTokenServiceEndpoint"), format!("{ISSUER}/adfs/services/trust/13/usernamemixed"));
    let token_type = find(role, fed, "TokenType").unwrap();
    assert_eq!(token_type.attribute("Uri"), Some("urn:oasis:names:tc:SAML:1.0:assertion"));
    let certificate = b64().encode(certificate(&world).await);
    assert_eq!(text(role, "http://www.w3.org/2000/09/xmldsig#", "X509Certificate"), certificate);
    assert!(root.children().any(|n| n.tag_name().name() == "IDPSSODescriptor"));
    let missing = browser.get("/m365/fabrikam.com/FederationMetadata/2007-06/FederationMetadata.xml").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

use base64::Engine as _;

const RP_REALM: &str = "urn:contoso:wiki";
const RP_REPLY: &str = "https://wiki.contoso.test/wsfed/callback";

/// A WS-Federation relying party registered next to the connector, granted to Staff.
async fn relying_party(world: &World) -> tessera_core::Application {
    let mut config = tessera_core::WsFedRpConfig::new(
        RP_REALM,
        &[RP_REPLY.to_string(), "https://wiki.contoso.test/other".to_string()],
        vec![
            tessera_core::app::AttributeMapping::parse("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn=upn")
                .unwrap(),
        ],
    );
    config.name_id_source = tessera_core::UserAttribute::Email;
    let new = tessera_core::NewApplication::new(
        "http://127.0.0.1:8080",
        "Team wiki",
        None,
        None,
        true,
        tessera_core::AppKind::WsFed(config),
    )
    .unwrap();
    let key = world.keys.new_key(new.id, "Team wiki", tessera_keys::KeySize::Rsa2048, 30).await.unwrap();
    let app = world.store.create_app(&Actor::system(), new, Some(key)).await.unwrap();
    let staff = world.store.find_group("Staff").await.unwrap();
    world.store.grant(&Actor::system(), app.id, staff.id).await.unwrap();
    app
}

#[tokio::test]
async fn a_registered_wsfed_relying_party_gets_its_own_token() {
    let (world, _) = World::new(config()).await;
    let app = relying_party(&world).await;
    let passive = format!("/apps/{}/wsfed", app.id);
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let page = browser.get(&format!("{passive}?wa=wsignin1.0&wtrealm={}&wctx=rp-state", form_encode(RP_REALM))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(form_action(&page), RP_REPLY, "the default reply URL");
    assert_eq!(field(&page, "wctx").as_deref(), Some("rp-state"));
    let wresult = field(&page, "wresult").unwrap();
    let parsed = doc(&wresult);
    let assertion = assertion(&parsed);
    assert_eq!(assertion.attribute("Issuer"), app.issuer.as_deref());
    assert_eq!(text(assertion, SAML1, "Audience"), RP_REALM);
    let name_identifier = find(assertion, SAML1, "NameIdentifier").unwrap();
    assert_eq!(name_identifier.text(), Some("alice@contoso.com"));
    assert_eq!(name_identifier.attribute("Format"), Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"));
    assert_eq!(
        attribute(assertion, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims", "upn"),
        Some("alice@contoso.com")
    );
    assert!(!wresult.contains("ImmutableID"), "Entra's claims are for Entra only");
    if xmlsec1() {
        assert!(xmlsec1_verifies_saml11(&wresult, app.certificates.current.as_ref().unwrap()));
    }
    // The other registered reply is honoured when named; anything else, or another realm, is not.
    let other = browser
        .get(&format!(
            "{passive}?wa=wsignin1.0&wtrealm={}&wreply={}",
            form_encode(RP_REALM),
            form_encode("https://wiki.contoso.test/other")
        ))
        .await;
    assert_eq!(form_action(&other), "https://wiki.contoso.test/other");
    for query in [
        format!("wa=wsignin1.0&wtrealm={}&wreply={}", form_encode(RP_REALM), form_encode("https://evil.example/")),
        format!("wa=wsignin1.0&wtrealm={}", form_encode(REALM)),
    ] {
        let refused = browser.get(&format!("{passive}?{query}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(field(&refused, "wresult").is_none());
    }
    // The portal tile signs in IdP-initiated: a sign-in for the realm, to the default reply.
    let tile = browser.get(&format!("/launch/{}", app.id)).await;
    let location = tile.location.unwrap();
    assert!(location.starts_with(&format!("http://127.0.0.1:8080{passive}?wa=wsignin1.0&wtrealm=")), "{location}");
    let launched = browser.get(location.trim_start_matches("http://127.0.0.1:8080")).await;
    assert_eq!(form_action(&launched), RP_REPLY);
    // Its metadata has a passive endpoint only; it has no SAML or WS-Trust endpoints.
    let metadata = browser.get(&format!("/apps/{}/FederationMetadata/2007-06/FederationMetadata.xml", app.id)).await;
    assert_eq!(metadata.status, StatusCode::OK);
    assert!(metadata.body.contains(&format!("{passive}</wsa:Address>")));
    assert!(!metadata.body.contains("SecurityTokenServiceEndpoint") && !metadata.body.contains("IDPSSODescriptor"));
    assert_eq!(browser.get(&format!("/apps/{}/saml/sso", app.id)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(browser.get(&format!("/apps/{}/saml/metadata.xml", app.id)).await.status, StatusCode::NOT_FOUND);
    // The connector is not reachable by id, and the relying party not by the connector's path.
    let connector = world.store.find_app("M365").await.unwrap();
    assert_eq!(browser.get(&format!("/apps/{}/wsfed?wa=wsignin1.0", connector.id)).await.status, StatusCode::NOT_FOUND);
}
