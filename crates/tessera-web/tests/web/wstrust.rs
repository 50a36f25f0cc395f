//! WS-Trust usernamemixed (1.3 and 2005) and MEX for the Microsoft 365 connector, in-process,
//! against M365-PROTOCOLS.md §8 items 20–24 (named `checklist_NN_…`; item 19, the fallback
//! without MEX, needs real HTTP and is in the tessera binary's tests), with SECURITY.md's
//! WS-Trust refusals. Requests are the exact ones MSAL Python builds, and replies are read by
//! MSAL's own parser (`interop/msal_wstrust.py`); every token is verified by xmlsec1.

use std::path::PathBuf;
use std::process::Command;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tessera_core::policy::AccessPolicy;
use tessera_core::{Actor, NewUser};
use tessera_store::AuditQuery;

use super::saml::{b64, doc, find, required, text, workspace, xmlsec1};
use super::signin::{Browser, PASSWORD, Response, World, config};
use super::wsfed::xmlsec1_verifies_saml11;

const PUBLIC: &str = "https://idp.contoso.test";
const MEX: &str = "/m365/contoso.com/adfs/services/trust/mex";
const PATH_13: &str = "/m365/contoso.com/adfs/services/trust/13/usernamemixed";
const PATH_2005: &str = "/m365/contoso.com/adfs/services/trust/2005/usernamemixed";
const ACTION_13: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue";
const ACTION_2005: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue";
const SAML1: &str = "urn:oasis:names:tc:SAML:1.0:assertion";

fn msal_python() -> Option<PathBuf> {
    let python = std::env::var_os("TESSERA_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    let ok = Command::new(&python).args(["-c", "import msal"]).output().is_ok_and(|o| o.status.success());
    (ok || required("msal (the oracle venv)")).then_some(python)
}

/// `interop/msal_wstrust.py` with `args`: success and stdout.
fn msal(python: &PathBuf, args: &[&str]) -> (bool, String) {
    let output = Command::new(python).arg(workspace().join("interop/msal_wstrust.py")).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.code().is_some_and(|c| c < 2), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.success(), stdout)
}

/// MSAL's parse of a reply: the token and its type, or MSAL's error dict.
fn msal_parse(python: &PathBuf, reply: &str) -> Result<(String, String), serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reply.xml");
    std::fs::write(&path, reply).unwrap();
    let (ok, stdout) = msal(python, &["parse", path.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    if ok {
        Ok((json["token"].as_str().unwrap().to_string(), json["type"].as_str().unwrap().to_string()))
    } else {
        Err(json["error"].clone())
    }
}

/// The RST MSAL sends for `username`/`password` to the endpoint at `path`.
fn msal_rst(python: &PathBuf, username: &str, password: &str, path: &str, action: &str) -> String {
    let (ok, rst) = msal(python, &["rst", username, password, &format!("{PUBLIC}{path}"), action]);
    assert!(ok);
    rst
}

async fn soap(browser: &mut Browser<'_>, path: &str, action: &str, content_type: &str, body: &str) -> Response {
    let request = Request::post(path).header(header::CONTENT_TYPE, content_type).header("SOAPAction", action);
    browser.send(request, Body::from(body.to_string())).await
}

async fn post_rst(browser: &mut Browser<'_>, path: &str, action: &str, body: &str) -> Response {
    soap(browser, path, action, "application/soap+xml; charset=utf-8", body).await
}

async fn world() -> World {
    World::build(config(), PUBLIC).await.0
}

fn action_for(path: &str) -> &'static str {
    if path == PATH_13 { ACTION_13 } else { ACTION_2005 }
}

#[tokio::test]
async fn checklist_20_mex_parsed_by_msal_prefers_the_13_endpoint() {
    let world = world().await;
    let mut browser = Browser::new(&world);
    let mex = browser.get(MEX).await;
    assert_eq!(mex.status, StatusCode::OK);
    let parsed = doc(&mex.body);
    let wsdl = "http://schemas.xmlsoap.org/wsdl/";
    let soap12 = "http://schemas.xmlsoap.org/wsdl/soap12/";
    for binding in parsed.root_element().children().filter(|n| n.tag_name().name() == "binding") {
        let transport = find(binding, soap12, "binding").expect("every binding has a soap12:binding");
        assert_eq!(transport.attribute("transport"), Some("http://schemas.xmlsoap.org/soap/http"));
    }
    let addresses: Vec<&str> = parsed
        .descendants()
        .filter(|n| {
            n.tag_name().name() == "Address" && n.parent().is_some_and(|p| p.tag_name().name() == "EndpointReference")
        })
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(addresses, [format!("{PUBLIC}{PATH_13}"), format!("{PUBLIC}{PATH_2005}")], "only what Tessera serves");
    assert!(find(parsed.root_element(), wsdl, "service").is_some());
    let Some(python) = msal_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mex.xml"), &mex.body).unwrap();
    let (ok, endpoint) = msal(&python, &["mex", dir.path().join("mex.xml").to_str().unwrap()]);
    assert!(ok);
    let endpoint: serde_json::Value = serde_json::from_str(&endpoint).unwrap();
    assert_eq!(endpoint["address"], format!("{PUBLIC}{PATH_13}"));
    assert_eq!(endpoint["action"], ACTION_13);
    // WS-Transfer Get (POST) answers the same WSDL inside a SOAP GetResponse.
    let request = Request::post(MEX).header(header::CONTENT_TYPE, "application/soap+xml; charset=utf-8");
    let posted = browser.send(request, Body::from("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header><a:MessageID xmlns:a=\"http://www.w3.org/2005/08/addressing\">urn:uuid:42</a:MessageID></s:Header><s:Body/></s:Envelope>")).await;
    assert_eq!(posted.status, StatusCode::OK);
    let envelope = doc(&posted.body);
    assert_eq!(text(envelope.root_element(), "http://www.w3.org/2005/08/addressing", "RelatesTo"), "urn:uuid:42");
    assert!(find(envelope.root_element(), wsdl, "definitions").is_some());
    let missing = browser.get("/m365/fabrikam.com/adfs/services/trust/mex").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn checklist_21_msal_rst_round_trip_for_13_and_2005() {
    let world = world().await;
    let Some(python) = msal_python() else { return };
    let certificate = world.store.find_app("M365").await.unwrap().certificates.current.unwrap();
    let mut browser = Browser::new(&world);
    for path in [PATH_13, PATH_2005] {
        let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, path, action_for(path));
        let reply = post_rst(&mut browser, path, action_for(path), &rst).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert!(reply.body.is_ascii());
        assert_eq!(reply.headers.get(header::CONTENT_TYPE).unwrap(), "application/soap+xml; charset=utf-8");
        let (token, token_type) = msal_parse(&python, &reply.body).unwrap();
        assert_eq!(token_type, "urn:oasis:names:tc:SAML:1.0:assertion", "exactly, no whitespace");
        assert!(token.starts_with("<saml:Assertion "), "{token}");
        if xmlsec1() {
            assert!(xmlsec1_verifies_saml11(&token, &certificate), "{path}: the extracted token verifies on its own");
        }
        let parsed = doc(&token);
        let assertion = parsed.root_element();
        assert_eq!(text(assertion, SAML1, "Audience"), "urn:federation:MicrosoftOnline");
        assert!(token.contains(r#"AttributeName="UPN""#) && token.contains(">alice@contoso.com<"));
        let envelope = doc(&reply.body);
        let relates = text(envelope.root_element(), "http://www.w3.org/2005/08/addressing", "RelatesTo");
        assert!(relates.starts_with("urn:uuid:") && rst.contains(relates), "RelatesTo is the MessageID");
        let collection =
            envelope.descendants().any(|n| n.tag_name().name() == "RequestSecurityTokenResponseCollection");
        assert_eq!(collection, path == PATH_13, "1.3 answers with a collection (RSTRC/IssueFinal)");
    }
    // WS-Trust 2005 over SOAP 1.1 is served too (older Office clients).
    let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, PATH_2005, ACTION_2005)
        .replace("http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/");
    let reply = soap(&mut browser, PATH_2005, ACTION_2005, "text/xml; charset=utf-8", &rst).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.starts_with("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\""));
    assert!(msal_parse(&python, &reply.body).is_ok());
    assert_eq!(world.audit_actions().await.iter().filter(|a| *a == "wstrust.issued").count(), 3);
}

#[tokio::test]
async fn checklist_22_bad_credentials_get_a_soap_fault_msal_reads() {
    let world = world().await;
    let Some(python) = msal_python() else { return };
    let mut browser = Browser::new(&world);
    for (username, password) in
        [("alice@contoso.com", "wrong password"), ("nobody@contoso.com", PASSWORD), ("sam@contoso.com", PASSWORD)]
    {
        let rst = msal_rst(&python, username, password, PATH_13, ACTION_13);
        let reply = post_rst(&mut browser, PATH_13, ACTION_13, &rst).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(!reply.body.contains("RequestSecurityTokenResponse"));
        let error = msal_parse(&python, &reply.body).unwrap_err();
        assert_eq!(error["code"], "f:FailedAuthentication", "{error}");
        assert!(error["reason"].as_str().unwrap().contains("user name or password is incorrect"), "{error}");
    }
    // The same lockout as the browser: three failures lock an unknown location, after which
    // even the right password gets the same fault.
    let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, PATH_13, ACTION_13);
    let reply = post_rst(&mut browser, PATH_13, ACTION_13, &rst).await;
    assert_eq!(reply.status, StatusCode::OK, "one failure so far: {}", reply.body);
    for _ in 0..3 {
        let rst = msal_rst(&python, "alice@contoso.com", "wrong", PATH_13, ACTION_13);
        post_rst(&mut browser, PATH_13, ACTION_13, &rst).await;
    }
    let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, PATH_13, ACTION_13);
    let locked = post_rst(&mut browser, PATH_13, ACTION_13, &rst).await;
    assert!(msal_parse(&python, &locked.body).is_err(), "locked out: {}", locked.body);
    let failures = world.audit_actions().await.iter().filter(|a| *a == "signin.failure").count();
    assert_eq!(failures, 7);
}

#[tokio::test]
async fn checklist_23_the_token_is_a_saml11_bearer_assertion_as_msal_hands_it_to_entra() {
    let world = world().await;
    let Some(python) = msal_python() else { return };
    let mut browser = Browser::new(&world);
    let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, PATH_2005, ACTION_2005);
    let reply = post_rst(&mut browser, PATH_2005, ACTION_2005, &rst).await;
    let (token, _) = msal_parse(&python, &reply.body).unwrap();
    // MSAL sends the grant `urn:ietf:params:oauth:grant-type:saml1_1-bearer` with the token
    // base64-encoded: what Entra decodes is the signed assertion, checks 15 and 16 apply.
    use base64::Engine as _;
    let grant = b64().encode(token.as_bytes());
    let decoded = String::from_utf8(b64().decode(grant).unwrap()).unwrap();
    let app = world.store.find_app("M365").await.unwrap();
    if xmlsec1() {
        assert!(xmlsec1_verifies_saml11(&decoded, app.certificates.current.as_ref().unwrap()));
    }
    let parsed = doc(&decoded);
    let assertion = parsed.root_element();
    assert_eq!(assertion.attribute("Issuer"), app.issuer.as_deref());
    assert_eq!(assertion.attribute("MajorVersion"), Some("1"));
    let user = world.store.find_user("alice@contoso.com").await.unwrap();
    assert!(decoded.contains(&format!(">{}<", user.immutable_id)));
    assert!(decoded.contains("urn:oasis:names:tc:SAML:1.0:cm:bearer"));
    assert!(decoded.contains(r#"AuthenticationMethod="urn:oasis:names:tc:SAML:1.0:am:password""#));
}

#[tokio::test]
async fn checklist_24_user_tokens_say_accounttype_user() {
    // The device-join profile's `DJ` tokens are for computer accounts, which Tessera's
    // directory does not hold; a user's token carries the account type Entra Connect issues.
    let world = world().await;
    let Some(python) = msal_python() else { return };
    let mut browser = Browser::new(&world);
    let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, PATH_13, ACTION_13);
    let (token, _) = msal_parse(&python, &post_rst(&mut browser, PATH_13, ACTION_13, &rst).await.body).unwrap();
    assert!(
        token.contains(r#"AttributeName="accounttype" AttributeNamespace="http://schemas.microsoft.com/ws/2012/01""#),
        "{token}"
    );
    assert!(!token.contains(">DJ<"));
}

/// An RST as MSAL writes it, with the parts the refusal tests change.
fn rst(path: &str, created: &str, expires: &str, applies_to: &str, extra_security: &str) -> String {
    let (trust, key_type, request_type) = if path == PATH_13 {
        (
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512",
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer",
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
        )
    } else {
        (
            "http://schemas.xmlsoap.org/ws/2005/02/trust",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
            "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
        )
    };
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><s:Header><wsa:Action s:mustUnderstand="1">{action}</wsa:Action><wsa:MessageID>urn:uuid:{id}</wsa:MessageID><wsa:To s:mustUnderstand="1">{PUBLIC}{path}</wsa:To><wsse:Security s:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">{timestamp}<wsse:UsernameToken wsu:Id="ADALUsernameToken"><wsse:Username>alice@contoso.com</wsse:Username><wsse:Password>{PASSWORD}</wsse:Password></wsse:UsernameToken>{extra_security}</wsse:Security></s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="{trust}"><wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference><wsa:Address>{applies_to}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:KeyType>{key_type}</wst:KeyType><wst:RequestType>{request_type}</wst:RequestType></wst:RequestSecurityToken></s:Body></s:Envelope>"#,
        action = action_for(path),
        id = uuid::Uuid::new_v4(),
        timestamp = if created.is_empty() {
            String::new()
        } else {
            format!(
                "<wsu:Timestamp wsu:Id=\"_0\"><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp>"
            )
        },
    )
}

fn at(offset_seconds: i64) -> String {
    tessera_core::format_millis((super::signin::now_seconds() + offset_seconds) * 1000)
}

const REALM: &str = "urn:federation:MicrosoftOnline";

#[tokio::test]
async fn refused_requests_get_a_fault_and_no_token() {
    let world = world().await;
    let mut browser = Browser::new(&world);
    let good = rst(PATH_13, &at(0), &at(600), REALM, "");
    assert_eq!(post_rst(&mut browser, PATH_13, ACTION_13, &good).await.status, StatusCode::OK, "the template is right");
    let second_token =
        "<wsse:UsernameToken><wsse:Username>bob</wsse:Username><wsse:Password>x</wsse:Password></wsse:UsernameToken>";
    let cases: Vec<(String, &str, &str, &str)> = vec![
        (rst(PATH_13, &at(-400), &at(200), REALM, ""), PATH_13, ACTION_13, "created too long ago"),
        (rst(PATH_13, &at(120), &at(900), REALM, ""), PATH_13, ACTION_13, "in the future"),
        (rst(PATH_13, &at(-600), &at(60), REALM, ""), PATH_13, ACTION_13, "created too long ago"),
        (rst(PATH_13, &at(-100), &at(-10), REALM, ""), PATH_13, ACTION_13, "has expired"),
        (rst(PATH_13, "", "", REALM, ""), PATH_13, ACTION_13, "no Timestamp"),
        (rst(PATH_13, "yesterday", &at(600), REALM, ""), PATH_13, ACTION_13, "is not a time"),
        (rst(PATH_13, &at(0), &at(600), "urn:evil", ""), PATH_13, ACTION_13, "not a relying party"),
        (rst(PATH_13, &at(0), &at(600), REALM, second_token), PATH_13, ACTION_13, "more than one UsernameToken"),
        (rst(PATH_13, &at(0), &at(600), REALM, ""), PATH_13, ACTION_2005, "answers the action"),
        (rst(PATH_2005, &at(0), &at(600), REALM, ""), PATH_13, ACTION_13, "answers the action"),
        (rst(PATH_13, &at(0), &at(600), REALM, "").replace(PATH_13, "/elsewhere"), PATH_13, ACTION_13, "addressed to"),
        (
            rst(PATH_13, &at(0), &at(600), REALM, "").replace("<wsse:Password>", "<wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest\">"),
            PATH_13,
            ACTION_13,
            "plaintext password",
        ),
        (
            rst(PATH_13, &at(0), &at(600), REALM, "").replace("http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/"),
            PATH_13,
            ACTION_13,
            "SOAP 1.2 only",
        ),
        (format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{good}"), PATH_13, ACTION_13, "not XML Tessera reads"),
        ("not xml at all".to_string(), PATH_13, ACTION_13, "not XML Tessera reads"),
        (
            format!("<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>{good}"),
            PATH_13,
            ACTION_13,
            "not XML Tessera reads",
        ),
        (good.replacen("<s:Body>", &format!("<s:Body>{}{}", "<x>".repeat(10_000), "</x>".repeat(10_000)), 1), PATH_13, ACTION_13, "not XML Tessera reads"),
        (format!("\u{feff}{good}\u{0}"), PATH_13, ACTION_13, "not XML Tessera reads"),
        (
            rst(PATH_13, &at(0), &at(600), REALM, "").replace(
                &format!("<wsse:UsernameToken wsu:Id=\"ADALUsernameToken\"><wsse:Username>alice@contoso.com</wsse:Username><wsse:Password>{PASSWORD}</wsse:Password></wsse:UsernameToken>"),
                "",
            ),
            PATH_13,
            ACTION_13,
            "no UsernameToken",
        ),
        (
            rst(PATH_13, &at(0), &at(600), REALM, "").replace(&format!("<wsse:Password>{PASSWORD}</wsse:Password>"), "<wsse:Password></wsse:Password>"),
            PATH_13,
            ACTION_13,
            "a user name and a password are required",
        ),
        (
            rst(PATH_13, &at(0), &at(600), REALM, "").replace("<wst:KeyType>", "<wst:TokenType>urn:oasis:names:tc:SAML:2.0:assertion</wst:TokenType><wst:KeyType>"),
            PATH_13,
            ACTION_13,
            "only SAML 1.1 tokens",
        ),
        (
            rst(PATH_13, &at(0), &at(600), REALM, "").replace("<wsse:Username>alice@contoso.com</wsse:Username>", "<wsse:Username>alice@contoso.com<!---->.evil</wsse:Username>"),
            PATH_13,
            ACTION_13,
            "comment",
        ),
        ("<a/>".to_string(), PATH_13, ACTION_13, "not a SOAP"),
    ];
    for (body, path, action, why) in &cases {
        let reply = post_rst(&mut browser, path, action, body).await;
        assert!(reply.status.is_client_error() || reply.status.is_server_error(), "{why}: {}", reply.body);
        assert!(!reply.body.contains("RequestSecurityTokenResponse"), "{why}");
        assert!(reply.body.contains(why), "{why}: {}", reply.body);
        assert!(reply.body.contains("<s:Subcode>") || reply.body.contains("<faultcode"), "{why}: {}", reply.body);
    }
    let refused = world.audit_actions().await.iter().filter(|a| *a == "wstrust.refused").count();
    assert_eq!(refused, cases.len());
    assert_eq!(
        world.audit_actions().await.iter().filter(|a| *a == "signin.failure").count(),
        0,
        "no password was checked"
    );
    // A body over the cap is refused before it is read.
    let huge = format!("{good}{}", " ".repeat(2 * 1024 * 1024));
    assert_eq!(post_rst(&mut browser, PATH_13, ACTION_13, &huge).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A byte-identical resend is refused: the MessageID was seen.
    let replayed = post_rst(&mut browser, PATH_13, ACTION_13, &good).await;
    assert!(replayed.body.contains("received before"), "{}", replayed.body);
    // An unknown connector.
    let missing =
        post_rst(&mut browser, "/m365/fabrikam.com/adfs/services/trust/13/usernamemixed", ACTION_13, &good).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// A message is remembered for as long as its Timestamp would pass, from the first moment it
/// could be accepted to the last.
#[tokio::test]
async fn a_message_is_remembered_as_long_as_its_timestamp_would_pass() {
    let skew = config().clock_skew_ms;
    let created = super::signin::now_seconds() * 1000;
    // First seen a minute before its Created (the most WS-Trust allows ahead of our clock).
    let clock = Arc::new(tessera_core::ManualClock::at(created - 59_000));
    let world = World::build_with_clock(config(), PUBLIC, clock.clone()).await.0;
    let mut browser = Browser::new(&world);
    let message = rst(
        PATH_13,
        &tessera_core::format_millis(created),
        &tessera_core::format_millis(created + 2 * skew),
        REALM,
        "",
    );
    assert_eq!(post_rst(&mut browser, PATH_13, ACTION_13, &message).await.status, StatusCode::OK);
    clock.set(created + skew - 1_000);
    let replayed = post_rst(&mut browser, PATH_13, ACTION_13, &message).await;
    assert!(replayed.body.contains("received before"), "still remembered at the end of its window: {}", replayed.body);
    clock.set(created + skew + 1_000);
    let late = post_rst(&mut browser, PATH_13, ACTION_13, &message).await;
    assert!(late.body.contains("created too long ago"), "past its window it is refused as old: {}", late.body);
}

#[tokio::test]
async fn authorization_and_mfa_policy_apply_to_wstrust() {
    let world = world().await;
    let mut browser = Browser::new(&world);
    // Not in a granted group.
    let mut bob = NewUser::new("bob@contoso.com", None, None, None, None, || "id-bob".into()).unwrap();
    bob.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
    world.store.create_user(&Actor::system(), bob).await.unwrap();
    let bob_rst = rst(PATH_13, &at(0), &at(600), REALM, "").replace("alice@contoso.com", "bob@contoso.com");
    let denied = post_rst(&mut browser, PATH_13, ACTION_13, &bob_rst).await;
    assert!(
        denied.body.contains("f:RequestFailed") && !denied.body.contains("RequestSecurityTokenResponse"),
        "{}",
        denied.body
    );
    // An app that requires MFA refuses password-only WS-Trust, and says why.
    let app = world.store.find_app("M365").await.unwrap();
    let policy = AccessPolicy { require_mfa: true, ..Default::default() };
    world.store.set_app_policy(&Actor::system(), app.id, &policy).await.unwrap();
    let mfa = post_rst(&mut browser, PATH_13, ACTION_13, &rst(PATH_13, &at(0), &at(600), REALM, "")).await;
    assert!(mfa.body.contains("requires multi-factor authentication"), "{}", mfa.body);
    assert!(!mfa.body.contains("RequestSecurityTokenResponse"));
    let denials = world.audit_actions().await.iter().filter(|a| *a == "wstrust.denied").count();
    assert_eq!(denials, 2);
}

#[tokio::test]
async fn spraying_one_password_over_many_names_is_throttled_per_network() {
    let world = world().await;
    let Some(python) = msal_python() else { return };
    let mut attacker = Browser::new(&world).from("203.0.113.7");
    // The test configuration throttles a network after 4 distinct failing names.
    for n in 0..4 {
        let rst = msal_rst(&python, &format!("user{n}@contoso.com"), "Summer2026!", PATH_13, ACTION_13);
        let reply = post_rst(&mut attacker, PATH_13, ACTION_13, &rst).await;
        assert!(reply.body.contains("user name or password is incorrect"), "{}", reply.body);
    }
    let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, PATH_13, ACTION_13);
    let throttled = post_rst(&mut attacker, PATH_13, ACTION_13, &rst).await;
    assert!(throttled.body.contains("too many failed sign-ins"), "{}", throttled.body);
    assert!(!throttled.body.contains("RequestSecurityTokenResponse"));
    // Alice, from her own network, is not affected.
    let mut alice = Browser::new(&world).from("198.51.100.20");
    let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, PATH_13, ACTION_13);
    assert_eq!(post_rst(&mut alice, PATH_13, ACTION_13, &rst).await.status, StatusCode::OK);
    assert!(world.audit_actions().await.iter().any(|a| a == "signin.throttled"));
}

#[tokio::test]
async fn unknown_wrong_and_suspended_users_get_the_same_fault() {
    let world = world().await;
    let Some(python) = msal_python() else { return };
    let mut browser = Browser::new(&world);
    let mut bodies = Vec::new();
    for (username, password) in
        [("nobody@contoso.com", PASSWORD), ("alice@contoso.com", "wrong password"), ("sam@contoso.com", PASSWORD)]
    {
        let rst = msal_rst(&python, username, password, PATH_13, ACTION_13);
        let reply = post_rst(&mut browser, PATH_13, ACTION_13, &rst).await;
        let relates = super::signin::between(&reply.body, "<a:RelatesTo>", "</a:RelatesTo>").to_string();
        bodies.push((reply.status, reply.body.replace(&relates, "")));
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "{bodies:?}");
}

#[tokio::test]
async fn a_user_with_a_second_factor_gets_a_password_only_token_unless_the_app_requires_mfa() {
    let world = world().await;
    let Some(python) = msal_python() else { return };
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    world.store.put_pending_totp(alice.id, b"sealed secret", 0).await.unwrap();
    assert!(world.store.confirm_totp(&Actor::system(), alice.id, 1, &[]).await.unwrap());
    let mut browser = Browser::new(&world);
    let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, PATH_13, ACTION_13);
    let reply = post_rst(&mut browser, PATH_13, ACTION_13, &rst).await;
    let (token, _) = msal_parse(&python, &reply.body).expect("MSAL reads a token");
    assert!(token.contains("urn:oasis:names:tc:SAML:1.0:am:password"), "{token}");
    assert!(!token.contains("multipleauthn"), "no claim of a second factor that was not shown: {token}");
    let events = world.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let issued = events.iter().rfind(|e| e.action == "wstrust.issued").expect("audited");
    assert_eq!(issued.summary["mfa"], false);
    assert_eq!(issued.summary["second_factor_enrolled"], true);

    // An app that requires MFA cannot be satisfied here: the fault says so, and no token.
    let app = world.store.find_app("M365").await.unwrap();
    let policy = AccessPolicy { require_mfa: true, ..Default::default() };
    world.store.set_app_policy(&Actor::system(), app.id, &policy).await.unwrap();
    let rst = msal_rst(&python, "alice@contoso.com", PASSWORD, PATH_13, ACTION_13);
    let reply = post_rst(&mut browser, PATH_13, ACTION_13, &rst).await;
    let error = msal_parse(&python, &reply.body).unwrap_err();
    assert_eq!(error["code"], "f:RequestFailed", "{error}");
    assert!(error["reason"].as_str().unwrap().contains("multi-factor"), "{error}");
    let events = world.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let denied = events.iter().rfind(|e| e.action == "wstrust.denied").expect("audited");
    assert_eq!(denied.summary["reason"], "mfa_required");
}

#[tokio::test]
async fn a_request_past_the_password_gate_is_told_to_retry_and_the_same_message_then_succeeds() {
    use std::time::Duration;
    use tessera_auth::gate::{GateLimits, PasswordGate};
    let gate = PasswordGate::new(GateLimits { concurrent: 1, ahead: 0, queue: 0, wait: Duration::from_millis(1) });
    let world = World::build(tessera_web::SignInConfig { password_gate: gate.clone(), ..config() }, PUBLIC).await.0;
    let mut browser = Browser::new(&world);
    let message = rst(PATH_13, &at(0), &at(600), REALM, "");
    let before = world.audit_actions().await.len();
    let taken = gate.turn().await.unwrap();
    let busy = post_rst(&mut browser, PATH_13, ACTION_13, &message).await;
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE, "{}", busy.body);
    assert_eq!(busy.headers[header::RETRY_AFTER], "2");
    assert!(busy.body.contains("s:Fault") && busy.body.contains("Try again in a few seconds"), "{}", busy.body);
    assert_eq!(world.audit_actions().await.len(), before, "nothing written, not even the replay record");
    drop(taken);
    let retried = post_rst(&mut browser, PATH_13, ACTION_13, &message).await;
    assert_eq!(retried.status, StatusCode::OK, "the retry is not taken for a replay: {}", retried.body);
    assert!(retried.body.contains("RequestSecurityTokenResponse"));
}

#[tokio::test]
async fn oversized_message_ids_and_control_characters_in_names_are_refused() {
    let world = world().await;
    let mut browser = Browser::new(&world);
    let long = rst(PATH_13, &at(0), &at(600), REALM, "").replacen(
        "<wsa:MessageID>urn:uuid:",
        &format!("<wsa:MessageID>urn:uuid:{}", "x".repeat(300)),
        1,
    );
    let reply = post_rst(&mut browser, PATH_13, ACTION_13, &long).await;
    assert!(reply.body.contains("MessageID must be"), "{}", reply.body);
    let control = rst(PATH_13, &at(0), &at(600), REALM, "").replace("alice@contoso.com", "alice&#x9;@contoso.com");
    let reply = post_rst(&mut browser, PATH_13, ACTION_13, &control).await;
    assert!(reply.body.contains("f:FailedAuthentication"), "{}", reply.body);
    assert!(!reply.body.contains("RequestSecurityTokenResponse"));
}
