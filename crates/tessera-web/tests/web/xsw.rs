//! XML signature wrapping (SECURITY.md §1.2, §5 item 9): ten shapes, each built from a message
//! validly signed by xmlsec1 with Entra's test key (fixtures/entra), on a signed AuthnRequest
//! (a forged ACS) and a signed LogoutRequest (another person's NameID). Each is refused with
//! nothing issued: no SAMLResponse, no `saml.issued` audit event, the session untouched. The
//! untouched signed messages are accepted, so that the refusals are about the shapes.

use std::process::Command;

use axum::http::StatusCode;
use base64::Engine;
use tessera_core::NewUser;

use super::saml::{b64, field, new_id, require_entra_signatures, workspace, xmlsec1};
use super::signin::{Browser, World, config, now_seconds};

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SSO: &str = "/m365/contoso.com/saml/sso";
const SLO: &str = "/m365/contoso.com/saml/slo";
const SSO_URL: &str = "http://127.0.0.1:8080/m365/contoso.com/saml/sso";
const SLO_URL: &str = "http://127.0.0.1:8080/m365/contoso.com/saml/slo";
const FORGED_ACS: &str = "https://evil.example/acs";

fn instant() -> String {
    tessera_core::format_millis(now_seconds() * 1000)
}

/// A request as Entra would sign it: `root` (`AuthnRequest` or `LogoutRequest`) with `body`
/// after its Signature, the Signature's one Reference at `reference` (the root's ID, or a
/// descendant's for shape 10). Signed by xmlsec1; `None` where xmlsec1 is missing (never
/// under CI=true).
fn signed(root: &str, id: &str, reference: &str, attributes: &str, body: &str) -> Option<String> {
    if !xmlsec1() {
        return None;
    }
    let template = format!(
        r##"<samlp:{root} xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{id}" Version="2.0" IssueInstant="{}"{attributes}><saml:Issuer>urn:federation:MicrosoftOnline</saml:Issuer><ds:Signature xmlns:ds="{DS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{reference}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>{body}</samlp:{root}>"##,
        instant()
    );
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.xml"), dir.path().join("out.xml"));
    std::fs::write(&input, template).unwrap();
    let fixtures = workspace().join("fixtures/entra");
    let key = format!(
        "{},{}",
        fixtures.join("entra-test-signing.key").display(),
        fixtures.join("entra-test-signing.crt").display()
    );
    let out = Command::new("xmlsec1")
        .args(["--sign", "--privkey-pem", &key])
        .args(["--id-attr:ID", &format!("{SAMLP}:{root}")])
        .args(["--id-attr:ID", &format!("{SAMLP}:Extensions")])
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "xmlsec1: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&output).unwrap();
    // libxml2's declaration line off; the rest byte for byte as signed.
    Some(text.split_once("?>\n").map(|(_, rest)| rest).unwrap_or(&text).trim_end().to_string())
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap();
    let to = text[from..].find(end).unwrap() + from + end.len();
    &text[from..to]
}

/// The ten shapes of one signed message. `forged_attributes` and `forged_body` are what the
/// attacker wants read (a forged ACS, another person's NameID); `descendant_signed` is a
/// message whose one Reference points at its Extensions, not at its root.
fn shapes(
    root: &str,
    original: &str,
    id: &str,
    forged_attributes: &str,
    forged_body: &str,
    descendant_signed: &str,
) -> Vec<(&'static str, String)> {
    let open = |id: &str| {
        format!(
            r#"<samlp:{root} xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{id}" Version="2.0" IssueInstant="{}"{forged_attributes}><saml:Issuer>urn:federation:MicrosoftOnline</saml:Issuer>"#,
            instant()
        )
    };
    let close = format!("</samlp:{root}>");
    let signature = between(original, "<ds:Signature", "</ds:Signature>");
    let unsigned = original.replacen(signature, "", 1);
    let signature_holding =
        |inside: &str| signature.replacen("</ds:Signature>", &format!("{inside}</ds:Signature>"), 1);
    // Shape 10: the signed descendant kept, the root's attributes and body forged.
    let descendant = {
        let extensions = between(descendant_signed, "<samlp:Extensions", "</samlp:Extensions>");
        let signature = between(descendant_signed, "<ds:Signature", "</ds:Signature>");
        format!("{}{signature}{extensions}{forged_body}{close}", open(id))
    };
    vec![
        (
            "1: a forged root, carrying the signature, with the signed original as a child",
            format!("{}{signature}{unsigned}{forged_body}{close}", open("_forged")),
        ),
        (
            "2: a forged root whose Signature holds the original",
            format!("{}{}{forged_body}{close}", open("_forged"), signature_holding(&unsigned)),
        ),
        (
            "3: the original a sibling after the forged root's content",
            format!("{}{signature}{forged_body}{unsigned}{close}", open("_forged")),
        ),
        (
            "4: the original inside Extensions, the signature on the forged root",
            format!(
                "{}{signature}<samlp:Extensions>{unsigned}</samlp:Extensions>{forged_body}{close}",
                open("_forged")
            ),
        ),
        (
            "5: the signature moved to a forged copy with the original ID",
            format!("{}{signature}{forged_body}{close}", open(id)),
        ),
        (
            "6: a forged copy with the original ID wrapping the signature that holds the original",
            format!("{}{}{forged_body}{close}", open(id), signature_holding(&unsigned)),
        ),
        (
            "7: the original in an unknown namespace's element, the signature on the forged root",
            format!(
                r#"{}{signature}<x:Wrapper xmlns:x="urn:evil:wrap">{unsigned}</x:Wrapper>{forged_body}{close}"#,
                open("_forged")
            ),
        ),
        (
            "8: the original inside the Signature's ds:Object",
            format!(
                "{}{}{forged_body}{close}",
                open("_forged"),
                signature_holding(&format!("<ds:Object>{unsigned}</ds:Object>"))
            ),
        ),
        (
            "9: two elements with the signed ID",
            format!("{}{signature}<samlp:Extensions>{unsigned}</samlp:Extensions>{forged_body}{close}", open(id)),
        ),
        ("10: the Reference at a descendant, not the root", descendant),
    ]
}

#[tokio::test]
async fn ten_wrapping_shapes_of_a_signed_authn_request_are_refused_and_nothing_is_issued() {
    let (world, _) = World::new(config()).await;
    require_entra_signatures(&world).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let id = new_id();
    let policy = r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/>"#;
    let destination = format!(r#" Destination="{SSO_URL}""#);
    let Some(original) = signed("AuthnRequest", &id, &id, &destination, policy) else { return };
    let extensions = r#"<samlp:Extensions ID="_ext"><x:Note xmlns:x="urn:x">signed</x:Note></samlp:Extensions>"#;
    let Some(descendant) = signed("AuthnRequest", &id, "_ext", &destination, &format!("{extensions}{policy}")) else {
        return;
    };
    let forged_attributes = format!(r#"{destination} AssertionConsumerServiceURL="{FORGED_ACS}""#);
    for (shape, xml) in shapes("AuthnRequest", &original, &id, &forged_attributes, policy, &descendant) {
        let page = browser.post(SSO, &[("SAMLRequest", &b64().encode(&xml))]).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{shape}: {}", page.body);
        assert!(page.body.contains("signature") || page.body.contains("not signed"), "{shape}: {}", page.body);
        assert!(field(&page, "SAMLResponse").is_none() && !page.body.contains(FORGED_ACS), "{shape}");
    }
    assert!(!world.audit_actions().await.iter().any(|a| a == "saml.issued"), "nothing issued");
    let genuine = browser.post(SSO, &[("SAMLRequest", &b64().encode(&original))]).await;
    assert!(field(&genuine, "SAMLResponse").is_some(), "the signed request itself is accepted: {}", genuine.body);
}

#[tokio::test]
async fn ten_wrapping_shapes_of_a_signed_logout_request_are_refused_and_the_session_stays() {
    let (world, _) = World::new(config()).await;
    require_entra_signatures(&world).await;
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    let new = NewUser::new("bob@contoso.com", None, None, None, Some("Ym9iLWlk"), String::new).unwrap();
    world.store.create_user(&tessera_core::Actor::system(), new).await.unwrap();
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let name_id = |who: &str| {
        format!(r#"<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{who}</saml:NameID>"#)
    };
    let id = new_id();
    // Signed for bob: Alice's browser is not his, so the genuine message ends nothing here;
    // the forged body names Alice, whose session an attacker wants ended.
    // A signed message carries its Destination.
    let destination = format!(r#" Destination="{SLO_URL}""#);
    let Some(original) = signed("LogoutRequest", &id, &id, &destination, &name_id("Ym9iLWlk")) else { return };
    let extensions = r#"<samlp:Extensions ID="_ext"><x:Note xmlns:x="urn:x">signed</x:Note></samlp:Extensions>"#;
    let Some(descendant) =
        signed("LogoutRequest", &id, "_ext", &destination, &format!("{extensions}{}", name_id("Ym9iLWlk")))
    else {
        return;
    };
    let before = world.audit_actions().await.len();
    for (shape, xml) in
        shapes("LogoutRequest", &original, &id, &destination, &name_id(&alice.immutable_id), &descendant)
    {
        let page = browser.post(SLO, &[("SAMLRequest", &b64().encode(&xml))]).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{shape}: {}", page.body);
        assert!(page.body.contains("signature") || page.body.contains("not signed"), "{shape}: {}", page.body);
        assert!(field(&page, "SAMLResponse").is_none(), "{shape}");
        assert_eq!(browser.get("/").await.status, StatusCode::OK, "{shape}: Alice is still signed in");
    }
    let actions = world.audit_actions().await;
    assert!(!actions[before..].iter().any(|a| a == "signin.logout"), "nobody signed out: {actions:?}");
    // A genuine signed request for Alice does sign her out: the refusals were the shapes'.
    let genuine_id = new_id();
    let Some(genuine) = signed("LogoutRequest", &genuine_id, &genuine_id, &destination, &name_id(&alice.immutable_id))
    else {
        return;
    };
    let answered = browser.post(SLO, &[("SAMLRequest", &b64().encode(&genuine))]).await;
    assert_ne!(answered.status, StatusCode::BAD_REQUEST, "{}", answered.body);
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/login"), "signed out by the genuine request");
}
