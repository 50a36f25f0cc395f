//! SAML ECP for rich clients, in-process: an ECP client written here (SOAP 1.1 envelope, HTTP
//! Basic credentials, as the profile's IdP leg has it) against the Microsoft 365 connector's
//! `saml/ecp`. Every token is accepted by pysaml2 acting as Entra ID and verified by xmlsec1;
//! every refusal is a SOAP fault without a Response.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use tessera_core::policy::AccessPolicy;
use tessera_core::{Actor, NewUser};
use tessera_store::AuditQuery;

use super::saml::{
    b64, doc, entra_request, find, new_id, pysaml2_accepts, python, require_entra_signatures, signed_entra_request,
    xmlsec1, xmlsec1_verifies_assertion,
};
use super::signin::{Browser, PASSWORD, Response, World, config};

const ECP: &str = "/m365/contoso.com/saml/ecp";
const ECP_URL: &str = "http://127.0.0.1:8080/m365/contoso.com/saml/ecp";
const ENTRA_ACS: &str = "https://login.microsoftonline.com/login.srf";
const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const ECP_NS: &str = "urn:oasis:names:tc:SAML:2.0:profiles:SSO:ecp";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const PAOS: &str = r#" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS""#;

/// The envelope an ECP client forwards to the IdP: the SP's request in a SOAP 1.1 Body.
fn envelope(request: &str) -> String {
    format!(r#"<S:Envelope xmlns:S="{SOAP11}"><S:Body>{request}</S:Body></S:Envelope>"#)
}

fn basic(username: &str, password: &str) -> String {
    format!("Basic {}", b64().encode(format!("{username}:{password}")))
}

/// POSTs `body` to the ECP endpoint with `authorization`, as an ECP client does.
async fn post(browser: &mut Browser<'_>, body: &str, authorization: Option<&str>) -> Response {
    let mut request = Request::post(ECP).header(header::CONTENT_TYPE, "text/xml; charset=utf-8");
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    browser.send(request, Body::from(body.to_string())).await
}

/// The samlp:Response of an answer, and the ACS its `ecp:Response` header names.
fn response_of(answer: &Response) -> (String, String) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "text/xml; charset=utf-8");
    let parsed = doc(&answer.body);
    let header = find(parsed.root_element(), ECP_NS, "Response").expect("an ecp:Response header");
    assert_eq!(header.attribute((SOAP11, "mustUnderstand")), Some("1"));
    assert_eq!(header.attribute((SOAP11, "actor")), Some("http://schemas.xmlsoap.org/soap/actor/next"));
    let acs = header.attribute("AssertionConsumerServiceURL").unwrap().to_string();
    let response = find(parsed.root_element(), SAMLP, "Response").expect("a samlp:Response in the Body");
    (answer.body[response.range()].to_string(), acs)
}

/// A fault with `words` in its faultstring, and nothing a relying party could take.
fn assert_fault(answer: &Response, status: StatusCode, words: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let parsed = doc(&answer.body);
    let fault = find(parsed.root_element(), SOAP11, "Fault").unwrap_or_else(|| panic!("no fault: {}", answer.body));
    let reason = fault.children().find(|n| n.has_tag_name("faultstring")).and_then(|n| n.text()).unwrap_or_default();
    assert!(reason.contains(words), "{reason:?} does not say {words:?}");
    assert!(!answer.body.contains("Assertion") && !answer.body.contains(":Response"), "{}", answer.body);
}

async fn world() -> World {
    World::new(config()).await.0
}

async fn metadata(world: &World) -> String {
    Browser::new(world).get("/m365/contoso.com/saml/metadata.xml").await.body
}

#[tokio::test]
async fn an_ecp_client_gets_a_response_that_pysaml2_as_entra_accepts() {
    let world = world().await;
    let Some(python) = python() else { return };
    if !xmlsec1() {
        return;
    }
    let metadata = metadata(&world).await;
    assert!(
        metadata.contains(&format!(
            r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="{ECP_URL}">"#
        )),
        "the metadata lists the ECP endpoint: {metadata}"
    );
    let mut client = Browser::new(&world);
    // Entra's own request, and one as an ECP SP words it (PAOS asked for, the ACS named).
    for attributes in [String::new(), format!(r#"{PAOS} AssertionConsumerServiceURL="{ENTRA_ACS}""#)] {
        let id = new_id();
        let answer = post(
            &mut client,
            &envelope(&entra_request(&id, &attributes, "")),
            Some(&basic("alice@contoso.com", PASSWORD)),
        )
        .await;
        let (response, acs) = response_of(&answer);
        assert_eq!(acs, ENTRA_ACS);
        let report = pysaml2_accepts(&python, &metadata, &response, &id).unwrap();
        assert_eq!(report["name_id"], "id-alice@contoso.com");
        assert_eq!(report["attributes"]["IDPEmail"][0], "alice@contoso.com");
        assert_eq!(report["authn_class"], "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport");
        let app = world.store.find_app("M365").await.unwrap();
        assert!(xmlsec1_verifies_assertion(&response, app.certificates.current.as_deref().unwrap()));
    }
    let issued = world.store.list_audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    let ecp_tokens = issued.iter().filter(|e| e.action == "saml.issued" && e.summary["binding"] == "SOAP").count();
    assert_eq!(ecp_tokens, 2);
    // The browser leaves ECP alone, and a GET is not a request.
    assert_eq!(client.get(ECP).await.status, StatusCode::METHOD_NOT_ALLOWED);
    // An application that is not there is said in SOAP too.
    let request = Request::post("/m365/fabrikam.com/saml/ecp").header(header::CONTENT_TYPE, "text/xml");
    let missing = client.send(request, Body::from(envelope(&entra_request(&new_id(), "", "")))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("<faultcode>S:Client</faultcode>"), "{}", missing.body);
}

#[tokio::test]
async fn a_signed_request_is_verified_where_the_sp_requires_signatures() {
    let world = world().await;
    let Some(python) = python() else { return };
    require_entra_signatures(&world).await;
    let mut client = Browser::new(&world);
    let id = new_id();
    let Some(signed) = signed_entra_request(&id, ECP_URL) else { return };
    let signed = signed.trim_start_matches(|c| c != '<').replace("<?xml version=\"1.0\"?>\n", "");
    let answer = post(&mut client, &envelope(&signed), Some(&basic("alice@contoso.com", PASSWORD))).await;
    let (response, _) = response_of(&answer);
    assert!(pysaml2_accepts(&python, &metadata(&world).await, &response, &id).is_ok());
    // Unsigned, tampered, or signed for another endpoint: refused before any password.
    let unsigned = post(&mut client, &envelope(&entra_request(&new_id(), "", "")), None).await;
    assert_fault(&unsigned, StatusCode::INTERNAL_SERVER_ERROR, "must be");
    let id = new_id();
    let Some(signed) = signed_entra_request(&id, ECP_URL) else { return };
    let tampered = signed.replace(
        "Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\"",
        "Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:transient\"",
    );
    assert_ne!(tampered, signed);
    let answer = post(&mut client, &envelope(&tampered), Some(&basic("alice@contoso.com", PASSWORD))).await;
    assert_fault(&answer, StatusCode::INTERNAL_SERVER_ERROR, "signature");
    let Some(elsewhere) = signed_entra_request(&new_id(), "http://127.0.0.1:8080/m365/contoso.com/saml/sso") else {
        return;
    };
    let answer = post(&mut client, &envelope(&elsewhere), Some(&basic("alice@contoso.com", PASSWORD))).await;
    assert_fault(&answer, StatusCode::INTERNAL_SERVER_ERROR, "not to this endpoint");
}

#[tokio::test]
async fn credentials_come_after_a_challenge_and_wrong_ones_get_a_fault() {
    let world = world().await;
    let mut client = Browser::new(&world);
    let id = new_id();
    let request = envelope(&entra_request(&id, "", ""));
    let challenged = post(&mut client, &request, None).await;
    assert_fault(&challenged, StatusCode::UNAUTHORIZED, "no credentials");
    assert!(challenged.headers[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic realm="));
    // The same request, now with credentials: the challenge wrote nothing against it.
    let (response, _) = response_of(&post(&mut client, &request, Some(&basic("alice@contoso.com", PASSWORD))).await);
    assert!(response.contains(&format!(r#"InResponseTo="{id}""#)));

    let mut bodies = Vec::new();
    for (name, password) in
        [("alice@contoso.com", "wrong"), ("nobody@contoso.com", PASSWORD), ("sam@contoso.com", PASSWORD)]
    {
        let answer =
            post(&mut client, &envelope(&entra_request(&new_id(), "", "")), Some(&basic(name, password))).await;
        assert_fault(&answer, StatusCode::UNAUTHORIZED, "user name or password is incorrect");
        bodies.push(answer.body);
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "one answer for a wrong password, an unknown and a suspended user"
    );
    for unreadable in ["Basic !!!", "Bearer abc", "Basic", &format!("Basic {}", b64().encode("no colon"))] {
        let answer = post(&mut client, &envelope(&entra_request(&new_id(), "", "")), Some(unreadable)).await;
        assert_fault(&answer, StatusCode::INTERNAL_SERVER_ERROR, "not HTTP Basic credentials");
    }
    let failures = world.audit_actions().await.iter().filter(|a| *a == "signin.failure").count();
    assert_eq!(failures, 3);
}

#[tokio::test]
async fn a_replayed_request_an_unknown_sp_and_bad_envelopes_get_faults_and_no_token() {
    let world = world().await;
    let mut client = Browser::new(&world);
    let alice = basic("alice@contoso.com", PASSWORD);
    let id = new_id();
    let request = envelope(&entra_request(&id, "", ""));
    response_of(&post(&mut client, &request, Some(&alice)).await);
    assert_fault(&post(&mut client, &request, Some(&alice)).await, StatusCode::INTERNAL_SERVER_ERROR, "used already");
    // A request ID used in the browser is used for ECP too.
    let id = new_id();
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    super::saml::m365_sign_in(&mut browser, &id).await;
    let replay = post(&mut client, &envelope(&entra_request(&id, "", "")), Some(&alice)).await;
    assert_fault(&replay, StatusCode::INTERNAL_SERVER_ERROR, "used already");

    let other_sp =
        entra_request(&new_id(), "", "").replace("urn:federation:MicrosoftOnline", "https://sp.evil.example");
    let cases = [
        (envelope(&other_sp), "is not the service provider registered"),
        (
            format!("<!DOCTYPE S:Envelope [<!ENTITY x \"y\">]>{}", envelope(&entra_request(&new_id(), "", ""))),
            "DOCTYPE",
        ),
        (entra_request(&new_id(), "", ""), "not a SOAP 1.1 envelope"),
        (envelope(""), "one SAML 2.0 AuthnRequest"),
        (envelope(&format!("{0}{0}", entra_request(&new_id(), "", ""))), "one SAML 2.0 AuthnRequest"),
        ("\u{0}\u{1}garbage".to_string(), "not well-formed"),
        (
            envelope(&entra_request(&new_id(), r#" AssertionConsumerServiceURL="https://evil.example/acs""#, "")),
            "not registered",
        ),
        (
            envelope(&entra_request(
                &new_id(),
                r#" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact""#,
                "",
            )),
            "not supported",
        ),
        (
            format!(
                r#"<S:Envelope xmlns:S="{SOAP11}"><S:Header><p:Request xmlns:p="urn:liberty:paos:2003-08" S:mustUnderstand="1"/></S:Header><S:Body>{}</S:Body></S:Envelope>"#,
                entra_request(&new_id(), "", "")
            ),
            "must be understood",
        ),
    ];
    for (body, words) in cases {
        assert_fault(&post(&mut client, &body, Some(&alice)).await, StatusCode::INTERNAL_SERVER_ERROR, words);
    }
    let refused = world.audit_actions().await.iter().filter(|a| *a == "saml.refused").count();
    assert_eq!(refused, 2 + 9, "each refusal is audited");
    let issued = world.audit_actions().await.iter().filter(|a| *a == "saml.issued").count();
    assert_eq!(issued, 2, "the ECP request and the browser's");
}

#[tokio::test]
async fn mfa_an_ungranted_user_and_an_mfa_request_get_faults_that_say_so() {
    let world = world().await;
    let mut client = Browser::new(&world);
    let mfa_request = entra_request(
        &new_id(),
        "",
        r#"<samlp:RequestedAuthnContext><saml:AuthnContextClassRef xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">http://schemas.microsoft.com/claims/multipleauthn</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
    );
    let answer = post(&mut client, &envelope(&mfa_request), Some(&basic("alice@contoso.com", PASSWORD))).await;
    assert_fault(&answer, StatusCode::INTERNAL_SERVER_ERROR, "multi-factor");

    let mut bob = NewUser::new("bob@contoso.com", None, None, None, None, || "id-bob".into()).unwrap();
    bob.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
    world.store.create_user(&Actor::system(), bob).await.unwrap();
    let answer =
        post(&mut client, &envelope(&entra_request(&new_id(), "", "")), Some(&basic("bob@contoso.com", PASSWORD)))
            .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!answer.body.contains("Assertion"));

    let app = world.store.find_app("M365").await.unwrap();
    let policy = AccessPolicy { require_mfa: true, ..Default::default() };
    world.store.set_app_policy(&Actor::system(), app.id, &policy).await.unwrap();
    let answer =
        post(&mut client, &envelope(&entra_request(&new_id(), "", "")), Some(&basic("alice@contoso.com", PASSWORD)))
            .await;
    assert_fault(&answer, StatusCode::INTERNAL_SERVER_ERROR, "requires multi-factor authentication");
    let denied = world.audit_actions().await.iter().filter(|a| *a == "saml.denied").count();
    assert_eq!(denied, 2, "bob without a granted group, alice without MFA");
}

#[tokio::test]
async fn spraying_over_ecp_is_throttled_like_the_form() {
    let world = world().await;
    let mut attacker = Browser::new(&world).from("203.0.113.7");
    // The test configuration throttles a network after 4 distinct failing names.
    for n in 0..4 {
        let request = envelope(&entra_request(&new_id(), "", ""));
        let answer = post(&mut attacker, &request, Some(&basic(&format!("user{n}@contoso.com"), "Summer2026!"))).await;
        assert_fault(&answer, StatusCode::UNAUTHORIZED, "user name or password is incorrect");
    }
    let request = envelope(&entra_request(&new_id(), "", ""));
    let throttled = post(&mut attacker, &request, Some(&basic("alice@contoso.com", PASSWORD))).await;
    assert_fault(&throttled, StatusCode::INTERNAL_SERVER_ERROR, "too many failed sign-ins");
    // The form from that network is throttled too: one count for both.
    let form = attacker.login("alice@contoso.com", PASSWORD, "").await;
    assert_eq!(form.status, StatusCode::TOO_MANY_REQUESTS);
    // Alice, from her own network, is not affected.
    let mut alice = Browser::new(&world).from("198.51.100.20");
    response_of(
        &post(&mut alice, &envelope(&entra_request(&new_id(), "", "")), Some(&basic("alice@contoso.com", PASSWORD)))
            .await,
    );
    assert!(world.audit_actions().await.iter().any(|a| a == "signin.throttled"));
}

/// The fixture SP, with a PAOS ACS added (an SP that takes ECP registers one), granted to Staff.
async fn ecp_sp(world: &World) -> tessera_core::Application {
    super::saml::fixture_sp(world, "ECP SP", Default::default(), |config| {
        config.acs.push(tessera_core::app::AcsEndpoint {
            url: "https://sp.example.com/saml/ecp".into(),
            binding: tessera_core::SamlBinding::Paos,
            index: 9,
            is_default: false,
        })
    })
    .await
}

#[tokio::test]
async fn an_sp_is_answered_at_its_paos_acs_only_and_never_for_a_user_with_a_second_factor() {
    let world = world().await;
    let app = ecp_sp(&world).await;
    let path = format!("/apps/{}/saml/ecp", app.id);
    let request = |attributes: &str| {
        envelope(&format!(
            r#"<samlp:AuthnRequest xmlns:samlp="{SAMLP}" ID="{}" IssueInstant="{}" Version="2.0"{attributes}><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://sp.example.com/saml/metadata</saml:Issuer></samlp:AuthnRequest>"#,
            new_id(),
            super::saml::instant(0)
        ))
    };
    let mut client = Browser::new(&world);
    let mut post_to = async |body: String| {
        let request = Request::post(&path)
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header(header::AUTHORIZATION, basic("alice@contoso.com", PASSWORD));
        client.send(request, Body::from(body)).await
    };
    // pysaml2's SPs name SOAP as the protocol binding; the answer goes to the PAOS ACS.
    let soap = post_to(request(r#" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP""#)).await;
    assert_eq!(response_of(&soap).1, "https://sp.example.com/saml/ecp");
    // Its browser ACS is not an ECP answer's: a password alone must not reach it.
    let browser_acs = post_to(request(r#" AssertionConsumerServiceURL="https://sp.example.com/saml/acs""#)).await;
    assert_fault(&browser_acs, StatusCode::INTERNAL_SERVER_ERROR, "not registered");
    // Alice enrols a second factor: the form would ask for it, so ECP refuses her.
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    world.store.put_pending_totp(alice.id, b"sealed secret", 0).await.unwrap();
    assert!(world.store.confirm_totp(&Actor::system(), alice.id, 1, &[]).await.unwrap());
    let refused = post_to(request("")).await;
    assert_fault(&refused, StatusCode::INTERNAL_SERVER_ERROR, "second factor");
    let denials = world.store.list_audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    assert!(
        denials.iter().any(|e| e.action == "saml.denied" && e.summary["reason"] == "second_factor_enrolled"),
        "the refusal is audited with its reason"
    );
    // Entra asks for its own MFA on a password-only token, as after WS-Trust.
    let m365 = post(
        &mut Browser::new(&world),
        &envelope(&entra_request(&new_id(), "", "")),
        Some(&basic("alice@contoso.com", PASSWORD)),
    )
    .await;
    let (response, _) = response_of(&m365);
    assert!(!response.contains(super::saml::MULTIPLE_AUTHN), "no multipleauthn without the second factor");
}
