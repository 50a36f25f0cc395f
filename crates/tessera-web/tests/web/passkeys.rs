//! Signing in with a passkey (issue 24): as the second factor after a password, alone where the
//! application allows it, and as the only second factor an application takes; every token of
//! such a sign-in says `multipleauthn` (SAML 2.0 checked by pysaml2 acting as Entra; WS-Fed's
//! SAML 1.1 by its AuthenticationMethod). The authenticator is the software one of
//! `tessera-auth`'s `test-support`, which answers as a browser would.

use std::sync::Arc;

use axum::http::StatusCode;
use tessera_admin::AdminService;
use tessera_auth::passkey::RelyingParty;
use tessera_auth::passkey::soft_authenticator::SoftAuthenticator;
use tessera_core::policy::{AccessPolicy, MfaRequirement};
use tessera_core::{Actor, NewUser, SystemClock};
use tessera_store::PasskeyCredential;

use super::account::{ceremony_of, continue_id as parked_id};
use super::saml::{
    MULTIPLE_AUTHN, doc, entra_request, find, m365_sign_in, new_id, posted_response, pysaml2_accepts, python,
    redirect_query, text,
};
use super::signin::{Browser, PASSWORD, Response, World, base32_decode, between, config, form_encode, now_seconds};

const PUBLIC: &str = "https://idp.contoso.com";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const REFUSED: &str = "Your passkey was not accepted.";

/// A passkey of `email`'s named `name`, enrolled as the account page would (the user's handle
/// `handle`): the authenticator that holds it.
async fn enrol(world: &World, email: &str, name: &str, handle: u8) -> SoftAuthenticator {
    let rp = RelyingParty::for_public_url(PUBLIC, "Contoso").unwrap();
    let user = world.store.find_user(email).await.unwrap();
    let challenge = rp.begin_enrolment([handle; 16], email, email, &[]).unwrap();
    let mut authenticator = SoftAuthenticator::new("idp.contoso.com", PUBLIC);
    let passkey = rp.finish_enrolment(&authenticator.register(&challenge.options_json), &challenge.state_json).unwrap();
    let credential = PasskeyCredential {
        user_id: user.id,
        name: name.into(),
        credential_id: passkey.credential_id,
        user_handle: vec![handle; 16],
        passkey_json: passkey.passkey_json,
        sign_count: 0,
        created_at: 1,
        last_used_at: None,
    };
    world.store.add_passkey(&Actor::system(), &credential).await.unwrap();
    authenticator
}

async fn set_m365_policy(world: &World, policy: AccessPolicy) {
    let app = world.store.find_app("M365").await.unwrap();
    world.store.set_app_policy(&Actor::system(), app.id, &policy).await.unwrap();
}

/// Posts the authenticator's answer to `page`'s ceremony at `path`.
async fn answer(
    browser: &mut Browser<'_>,
    path: &str,
    page: &Response,
    continue_id: &str,
    authenticator: &mut SoftAuthenticator,
) -> Response {
    let (ceremony, options) = ceremony_of(page);
    let answer = authenticator.assert(&options);
    let csrf = browser.csrf();
    browser
        .post(path, &[("csrf", &csrf), ("continue", continue_id), ("ceremony", &ceremony), ("answer", &answer)])
        .await
}

/// Acknowledges the notice where the browser is sent to it, then follows the resume link.
async fn through_notice(browser: &mut Browser<'_>, response: &Response, continue_id: &str) -> Response {
    let location = response.location.clone().unwrap_or_default();
    if location.starts_with("/notice") {
        let csrf = browser.csrf();
        let resumed = browser.post("/notice", &[("csrf", &csrf), ("continue", continue_id)]).await;
        assert_eq!(resumed.location, Some(format!("/resume/{continue_id}")));
    } else {
        assert_eq!(location, format!("/resume/{continue_id}"), "{}", response.body);
    }
    browser.get(&format!("/resume/{continue_id}")).await
}

fn authn_class(xml: &str) -> String {
    let parsed = doc(xml);
    let assertion = find(parsed.root_element(), SAML, "Assertion").unwrap();
    text(assertion, SAML, "AuthnContextClassRef").to_string()
}

fn wsfed_url() -> String {
    format!("/m365/contoso.com/wsfed?wa=wsignin1.0&wtrealm={}", form_encode("urn:federation:MicrosoftOnline"))
}

/// A passkey after the password: the second-factor page offers it (and no code: she has no
/// app), its answer completes the sign-in, and the SAML response (accepted by pysaml2 as
/// Entra) and the WS-Fed token both say multipleauthn.
#[tokio::test]
async fn a_passkey_as_the_second_factor_makes_every_token_say_multipleauthn() {
    let (world, _) = World::build(config(), PUBLIC).await;
    let mut laptop = enrol(&world, "alice@contoso.com", "Laptop", 1).await;
    let mut browser = Browser::new(&world).from("10.0.0.5");
    let id = new_id();
    let parked = m365_sign_in(&mut browser, &id).await;
    let continue_id = parked_id(&parked);
    let after_password = browser.login("alice@contoso.com", PASSWORD, &continue_id).await;
    assert_eq!(
        after_password.location,
        Some(format!("/login/mfa?continue={continue_id}")),
        "a passkey is a second factor"
    );
    let page = browser.get(&format!("/login/mfa?continue={continue_id}")).await;
    assert!(page.body.contains("Use my passkey") && !page.body.contains("name=\"code\""), "{}", page.body);
    let csp = page.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let (_, options) = ceremony_of(&page);
    let listed: serde_json::Value = serde_json::from_str(&options).unwrap();
    assert_eq!(listed["publicKey"]["allowCredentials"].as_array().unwrap().len(), 1, "her passkeys only");
    assert_eq!(listed["publicKey"]["userVerification"], "required");

    let done = answer(&mut browser, "/login/mfa/passkey", &page, &continue_id, &mut laptop).await;
    assert_eq!(done.location, Some(format!("/notice?continue={continue_id}")), "{}", done.body);
    let posted = through_notice(&mut browser, &done, &continue_id).await;
    let xml = posted_response(&posted);
    assert_eq!(authn_class(&xml), MULTIPLE_AUTHN);
    if let Some(python) = python() {
        let metadata = browser.get("/m365/contoso.com/saml/metadata.xml").await.body;
        let report = pysaml2_accepts(&python, &metadata, &xml, &id).unwrap();
        assert_eq!(report["authn_class"], MULTIPLE_AUTHN, "{report}");
    }
    let wsfed = browser.get(&wsfed_url()).await;
    assert_eq!(wsfed.status, StatusCode::OK, "{}", wsfed.body);
    let wresult = super::saml::field(&wsfed, "wresult").unwrap();
    assert!(wresult.contains(&format!(r#"AuthenticationMethod="{MULTIPLE_AUTHN}""#)), "{wresult}");

    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    let stored = world.store.passkeys(alice.id).await.unwrap();
    assert_eq!((stored[0].sign_count, stored[0].last_used_at.is_some()), (1, true), "the counter moved on");
    let events = world.store.list_audit(&tessera_store::AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let mfa = events.iter().find(|e| e.action == "signin.mfa").unwrap();
    assert_eq!((mfa.summary["factor"].as_str(), mfa.summary["passkey"].as_str()), (Some("passkey"), Some("Laptop")));
}

/// Every answer the ceremony must not take: a counter gone back, another user's passkey, an
/// answer for another site, a user not verified, a passkey removed since the page, an answer
/// sent twice, another browser's ceremony, and garbage. Each is refused with the page again,
/// audited, and leaves the sign-in where it was.
#[tokio::test]
async fn passkey_answers_that_prove_nothing_are_refused() {
    let (world, _) = World::build(config(), PUBLIC).await;
    let mut laptop = enrol(&world, "alice@contoso.com", "Laptop", 1).await;
    let mut bob = NewUser::new("bob@contoso.com", None, None, None, None, || "bob-immutable".into()).unwrap();
    bob.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
    world.store.create_user(&Actor::system(), bob).await.unwrap();
    let mut bobs = enrol(&world, "bob@contoso.com", "Phone", 2).await;

    let mut browser = Browser::new(&world).from("10.0.0.5");
    assert_eq!(browser.login("alice@contoso.com", PASSWORD, "").await.location.as_deref(), Some("/login/mfa"));
    let refused = async |browser: &mut Browser<'_>, authenticator: &mut SoftAuthenticator, what: &str| {
        let page = browser.get("/login/mfa").await;
        let response = answer(browser, "/login/mfa/passkey", &page, "", authenticator).await;
        assert_eq!(response.status, StatusCode::OK, "{what}: {}", response.body);
        assert!(response.body.contains(REFUSED), "{what}: {}", response.body);
        assert_eq!(browser.get("/").await.location.as_deref(), Some("/login/mfa"), "{what}: still half signed in");
    };
    refused(&mut browser, &mut bobs, "another user's passkey").await;
    laptop.set_rp_id("idp.contoso.evil");
    laptop.set_origin("https://idp.contoso.evil");
    refused(&mut browser, &mut laptop, "an answer for another site").await;
    laptop.set_rp_id("idp.contoso.com");
    refused(&mut browser, &mut laptop, "the right site, from another origin").await;
    laptop.set_origin(PUBLIC);
    laptop.set_user_verified(false);
    refused(&mut browser, &mut laptop, "a user not verified").await;
    laptop.set_user_verified(true);

    // Garbage, and another browser's ceremony.
    let csrf = browser.csrf();
    let page = browser.get("/login/mfa").await;
    let (ceremony, options) = ceremony_of(&page);
    for (ceremony, answer) in [(ceremony.as_str(), "{"), ("no-such-ceremony", "{}")] {
        let fields = [("csrf", csrf.as_str()), ("continue", ""), ("ceremony", ceremony), ("answer", answer)];
        let response = browser.post("/login/mfa/passkey", &fields).await;
        assert!(response.body.contains(REFUSED), "{}", response.body);
    }
    let page = browser.get("/login/mfa").await;
    let (ceremony, options_now) = ceremony_of(&page);
    assert_ne!(options, options_now, "each page has its own challenge");
    let mut other = Browser::new(&world).from("10.0.0.6");
    other.login("alice@contoso.com", PASSWORD, "").await;
    let stolen = laptop.assert(&options_now);
    let other_csrf = other.csrf();
    let fields = [("csrf", other_csrf.as_str()), ("continue", ""), ("ceremony", &ceremony), ("answer", &stolen)];
    assert!(other.post("/login/mfa/passkey", &fields).await.body.contains(REFUSED), "not that browser's ceremony");

    // The right answer signs in once; sent again (a replay), it is refused.
    let page = browser.get("/login/mfa").await;
    let (ceremony, options) = ceremony_of(&page);
    let good = laptop.assert(&options);
    let fields = [("csrf", csrf.as_str()), ("continue", ""), ("ceremony", &ceremony), ("answer", &good)];
    assert_eq!(browser.post("/login/mfa/passkey", &fields).await.location.as_deref(), Some("/notice"));
    let mut again = Browser::new(&world).from("10.0.0.7");
    again.login("alice@contoso.com", PASSWORD, "").await;
    let again_csrf = again.csrf();
    let fields = [("csrf", again_csrf.as_str()), ("continue", ""), ("ceremony", &ceremony), ("answer", &good)];
    assert!(again.post("/login/mfa/passkey", &fields).await.body.contains(REFUSED), "an answer is taken once");

    // A counter that goes back: the passkey may have been copied.
    laptop.set_counter(1);
    refused(&mut again, &mut laptop, "a counter gone back").await;
    laptop.set_counter(10);

    // A passkey removed between the page and the answer.
    let page = again.get("/login/mfa").await;
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    assert!(world.store.remove_passkey(&Actor::system(), alice.id, "Laptop").await.unwrap());
    let response = answer(&mut again, "/login/mfa/passkey", &page, "", &mut laptop).await;
    assert_eq!(response.location.as_deref(), Some("/login"), "a removed passkey, her only one: {}", response.body);
    assert_eq!(again.get("/").await.location.as_deref(), Some("/login/mfa"), "still half signed in");

    let failures = world.audit_actions().await.iter().filter(|a| *a == "signin.mfa_failure").count();
    assert_eq!(failures, 10, "every refusal audited");
}

/// Where the application allows it, a passkey alone signs in (the user named by the passkey);
/// the token says multipleauthn. Where it does not, the button is not offered and the
/// ceremony is refused; an app that wants a password asks for it once, and the passkey still
/// counts. Unknown passkeys, a wrong user handle, a suspended user and another browser's
/// ceremony are refused.
#[tokio::test]
async fn a_passkey_alone_signs_in_where_the_app_allows_it() {
    let (world, apps) = World::build(config(), PUBLIC).await;
    let mut laptop = enrol(&world, "alice@contoso.com", "Laptop", 1).await;
    let mut sams = enrol(&world, "sam@contoso.com", "Key", 3).await;

    let mut browser = Browser::new(&world).from("10.0.0.5");
    let parked = m365_sign_in(&mut browser, &new_id()).await;
    let closed_id = parked_id(&parked);
    let login = browser.get(&format!("/login?continue={closed_id}")).await;
    assert!(!login.body.contains("Sign in with a passkey"), "not offered: {}", login.body);
    let csrf = browser.csrf();
    let refused = browser.post("/login/passkey", &[("csrf", &csrf), ("continue", &closed_id)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("does not take a passkey alone"), "{}", refused.body);

    set_m365_policy(&world, AccessPolicy { passwordless: true, ..Default::default() }).await;
    let id = new_id();
    let parked = m365_sign_in(&mut browser, &id).await;
    let continue_id = parked_id(&parked);
    let login = browser.get(&format!("/login?continue={continue_id}")).await;
    assert!(login.body.contains("Sign in with a passkey"), "{}", login.body);
    let begin = async |browser: &mut Browser<'_>, continue_id: String| {
        let csrf = browser.csrf();
        let page = browser.post("/login/passkey", &[("csrf", &csrf), ("continue", &continue_id)]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page
    };
    let page = begin(&mut browser, continue_id.clone()).await;
    let (_, options) = ceremony_of(&page);
    let options: serde_json::Value = serde_json::from_str(&options).unwrap();
    assert!(
        options["publicKey"]["allowCredentials"].as_array().is_none_or(Vec::is_empty),
        "nothing says whose passkeys exist: {options}"
    );

    // Refused: a passkey no one has, a user handle not the one enrolled, a suspended user.
    let mut stranger = SoftAuthenticator::new("idp.contoso.com", PUBLIC);
    let rp = RelyingParty::for_public_url(PUBLIC, "Contoso").unwrap();
    stranger.register(&rp.begin_enrolment([9; 16], "x", "x", &[]).unwrap().options_json);
    let unknown = answer(&mut browser, "/login/passkey/finish", &page, &continue_id, &mut stranger).await;
    assert!(unknown.body.contains(REFUSED) && unknown.location.is_none(), "{}", unknown.body);
    laptop.set_user_handle(Some("AwMDAwMDAwMDAwMDAwMDAw"));
    let page = begin(&mut browser, continue_id.clone()).await;
    let handle = answer(&mut browser, "/login/passkey/finish", &page, &continue_id, &mut laptop).await;
    assert!(handle.body.contains(REFUSED), "another user's handle: {}", handle.body);
    laptop.set_user_handle(Some("AQEBAQEBAQEBAQEBAQEBAQ"));
    let page = begin(&mut browser, continue_id.clone()).await;
    let suspended = answer(&mut browser, "/login/passkey/finish", &page, &continue_id, &mut sams).await;
    assert!(suspended.body.contains(REFUSED), "a suspended user: {}", suspended.body);
    let page = begin(&mut browser, continue_id.clone()).await;
    let mut other = Browser::new(&world).from("10.0.0.6");
    other.get("/login").await;
    let stolen = answer(&mut other, "/login/passkey/finish", &page, "", &mut laptop).await;
    assert!(stolen.body.contains(REFUSED), "another browser's ceremony: {}", stolen.body);
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/login"), "no session yet");

    // Her passkey alone: signed in, and the token says MFA.
    let page = begin(&mut browser, continue_id.clone()).await;
    let signed_in = answer(&mut browser, "/login/passkey/finish", &page, &continue_id, &mut laptop).await;
    assert_eq!(signed_in.location, Some(format!("/notice?continue={continue_id}")), "{}", signed_in.body);
    let posted = through_notice(&mut browser, &signed_in, &continue_id).await;
    let xml = posted_response(&posted);
    assert_eq!(authn_class(&xml), MULTIPLE_AUTHN);
    if let Some(python) = python() {
        let metadata = browser.get("/m365/contoso.com/saml/metadata.xml").await.body;
        assert_eq!(pysaml2_accepts(&python, &metadata, &xml, &id).unwrap()["authn_class"], MULTIPLE_AUTHN);
    }

    // The wiki takes no passkey alone: her password, once, and then in she goes.
    let launch = browser.get(&format!("/launch/{}", apps.granted)).await;
    let location = launch.location.clone().unwrap_or_default();
    assert!(location.starts_with("/login?continue=") && location.contains("&fresh=1"), "{location}");
    assert!(location.ends_with("&username=alice%40contoso.com"), "{location}");
    let wiki_id = parked_id(&launch);
    let password = browser.login("alice@contoso.com", PASSWORD, &wiki_id).await;
    assert_eq!(password.location, Some(format!("/resume/{wiki_id}")), "the passkey still counts: {}", password.body);
    let opened = browser.get(&format!("/resume/{wiki_id}")).await;
    assert!(opened.body.contains(r#"<a href="https://wiki.contoso.com/" id="continue">"#), "{}", opened.body);
    let audit = world.audit_actions().await;
    assert_eq!(audit.iter().filter(|a| *a == "signin.failure").count(), 4, "each refusal audited: {audit:?}");

    // An administrator removes the lost passkey: the session it signed in ends with it.
    let admin = AdminService::new(world.store.clone(), world.keys.clone(), PUBLIC, Arc::new(SystemClock)).unwrap();
    admin.remove_passkey(&Actor::cli("helpdesk"), "alice@contoso.com", "Laptop").await.unwrap();
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/login"), "her session ended with the passkey");
}

/// A sign-on that demands a fresh sign-in (SAML ForceAuthn) asks for every factor again: the
/// password alone does not bring the session's passkey back.
#[tokio::test]
async fn a_fresh_sign_in_asks_for_the_passkey_again() {
    let (world, _) = World::build(config(), PUBLIC).await;
    let mut laptop = enrol(&world, "alice@contoso.com", "Laptop", 1).await;
    let mut browser = Browser::new(&world).from("10.0.0.5");
    assert_eq!(browser.login("alice@contoso.com", PASSWORD, "").await.location.as_deref(), Some("/login/mfa"));
    let page = browser.get("/login/mfa").await;
    let done = answer(&mut browser, "/login/mfa/passkey", &page, "", &mut laptop).await;
    assert_eq!(done.location.as_deref(), Some("/notice"));
    let csrf = browser.csrf();
    browser.post("/notice", &[("csrf", &csrf), ("continue", "")]).await;
    let request = entra_request(&new_id(), r#" ForceAuthn="true""#, "");
    let forced = browser.get(&format!("/m365/contoso.com/saml/sso?{}", redirect_query(&request))).await;
    let location = forced.location.clone().unwrap_or_default();
    assert!(location.contains("&fresh=1"), "{location}");
    let id = parked_id(&forced);
    let password = browser.login("alice@contoso.com", PASSWORD, &id).await;
    assert_eq!(password.location, Some(format!("/login/mfa?continue={id}")), "the passkey again: {}", password.body);
}

/// A user who signed in with a password only and added a passkey since: an app that wants a
/// second factor offers the passkey (not an authenticator app's enrolment). Where the server
/// is no relying party (its public URL an address), a stored passkey asks for nothing it
/// cannot take; the passkey-only page without a passkey says where to add one.
#[tokio::test]
async fn a_second_factor_is_asked_for_only_where_it_can_be_shown() {
    let (world, _) = World::build(config(), PUBLIC).await;
    set_m365_policy(&world, AccessPolicy { require_mfa: true, ..Default::default() }).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.5").await;
    let empty = browser.get("/login/mfa?passkey=1").await;
    assert_eq!(empty.status, StatusCode::FORBIDDEN, "{}", empty.body);
    assert!(empty.body.contains("This application needs a passkey"), "{}", empty.body);
    let mut laptop = enrol(&world, "alice@contoso.com", "Laptop", 1).await;
    let parked = m365_sign_in(&mut browser, &new_id()).await;
    let location = parked.location.clone().unwrap_or_default();
    assert!(location.starts_with("/login/mfa?continue=") && location.ends_with("&again=1"), "{location}");
    let continue_id = location.trim_start_matches("/login/mfa?continue=").trim_end_matches("&again=1").to_string();
    let page = browser.get(&location).await;
    assert!(page.body.contains("Use my passkey"), "{}", page.body);
    let done = answer(&mut browser, "/login/mfa/passkey", &page, &continue_id, &mut laptop).await;
    let posted = through_notice(&mut browser, &done, &continue_id).await;
    assert_eq!(authn_class(&posted_response(&posted)), MULTIPLE_AUTHN);

    let (elsewhere, _) = World::new(config()).await;
    enrol(&elsewhere, "alice@contoso.com", "Laptop", 1).await;
    let mut there = Browser::new(&elsewhere).from("10.0.0.5");
    let signed_in = there.login("alice@contoso.com", PASSWORD, "").await;
    assert_eq!(signed_in.location.as_deref(), Some("/notice"), "no second factor to show here: {}", signed_in.body);
}

/// With an allow-list of authenticator models (`serve --passkey-model`), an authenticator of
/// another model (the AAGUID it states) is not enrolled, and the page says why.
#[tokio::test]
async fn passkeys_of_a_model_not_allowed_are_not_enrolled() {
    let mut config = config();
    config.passkey_models = vec![[0xcb; 16]];
    let (world, _) = World::build(config, PUBLIC).await;
    let mut alice = Browser::signed_in(&world, "10.0.0.5").await;
    let csrf = alice.csrf();
    for (model, added) in [([7u8; 16], false), ([0; 16], false), ([0xcb; 16], true)] {
        let page =
            alice.post("/account/passkeys/new", &[("csrf", &csrf), ("name", "Key"), ("password", PASSWORD)]).await;
        let (ceremony, options) = ceremony_of(&page);
        let mut key = SoftAuthenticator::new("idp.contoso.com", PUBLIC);
        key.set_aaguid(model);
        let answer = key.register(&options);
        let fields = [("csrf", csrf.as_str()), ("ceremony", &ceremony), ("answer", &answer)];
        let response = alice.post("/account/passkeys/add", &fields).await;
        match added {
            true => assert_eq!(response.location.as_deref(), Some("/account?done=passkey-added"), "{}", response.body),
            false => assert!(response.body.contains("does not allow this kind of authenticator"), "{}", response.body),
        }
    }
    let alice_id = world.store.find_user("alice@contoso.com").await.unwrap().id;
    assert_eq!(world.store.passkeys(alice_id).await.unwrap().len(), 1);
}

/// An application that takes a passkey only: a user with an authenticator app but no passkey
/// is told where to add one (and gets no token); once she has one, the second-factor page
/// offers it alone, and the token follows.
#[tokio::test]
async fn a_phishing_resistant_app_refuses_a_code_and_says_what_to_do() {
    let (world, _) = World::build(config(), PUBLIC).await;
    set_m365_policy(&world, AccessPolicy::default().with_mfa_requirement(MfaRequirement::PhishingResistant)).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.5").await;
    let enrol_page = browser.get("/mfa/totp").await;
    let secret = base32_decode(between(&enrol_page.body, "<code id=\"secret\">", "</code>"));
    let code = format!("{:06}", tessera_auth::totp::code_at(&secret, tessera_auth::totp::step_at(now_seconds())));
    let csrf = browser.csrf();
    let enrolled = browser.post("/mfa/totp", &[("csrf", &csrf), ("code", &code), ("continue", "")]).await;
    assert!(enrolled.body.contains("Your authenticator app is set up"), "{}", enrolled.body);

    let refused = m365_sign_in(&mut browser, &new_id()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("This application needs a passkey"), "{}", refused.body);
    assert!(refused.body.contains("href=\"/account#passkeys-heading\""), "{}", refused.body);
    assert!(!refused.body.contains("SAMLResponse"));

    let mut laptop = enrol(&world, "alice@contoso.com", "Laptop", 1).await;
    let id = new_id();
    let parked = m365_sign_in(&mut browser, &id).await;
    let location = parked.location.clone().unwrap_or_default();
    assert!(location.starts_with("/login/mfa?continue=") && location.ends_with("&passkey=1"), "{location}");
    let continue_id = location.trim_start_matches("/login/mfa?continue=").trim_end_matches("&passkey=1").to_string();
    let page = browser.get(&location).await;
    assert!(page.body.contains("accepts only a passkey") && !page.body.contains("name=\"code\""), "{}", page.body);
    let done = answer(&mut browser, "/login/mfa/passkey", &page, &continue_id, &mut laptop).await;
    let posted = through_notice(&mut browser, &done, &continue_id).await;
    assert_eq!(authn_class(&posted_response(&posted)), MULTIPLE_AUTHN);
}

/// An administrator adds a passkey on the admin portal's second-factors page, then signs in to
/// the portal with it after the password; an answer for another site is refused; an
/// administrator's second-factor reset removes it and ends their sessions.
#[tokio::test]
async fn an_administrator_signs_in_to_the_admin_portal_with_a_passkey() {
    use super::admin_portal::{ONE_TIME, OWN, admin_login, signed_in_admin};
    let (world, _) = World::build(config(), PUBLIC).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut first = Browser::new(&world).from("10.0.0.6");
    admin_login(&mut first, "admin", ONE_TIME).await;
    let csrf = first.csrf();
    let early = first.post("/admin/passkeys/new", &[("csrf", &csrf), ("name", "YubiKey")]).await;
    assert_eq!(early.location.as_deref(), Some("/admin/password"), "the one-time password is changed first");
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let page = admin.get("/admin/mfa/enrol").await;
    assert!(page.body.contains("Passkeys and security keys") && page.body.contains("no passkey yet"), "{}", page.body);
    let csrf = admin.csrf();
    let unnamed = admin.post("/admin/passkeys/new", &[("csrf", &csrf), ("name", " ")]).await;
    assert!(unnamed.body.contains("Give a name of 1 to 64 characters"), "{}", unnamed.body);
    let begun = admin.post("/admin/passkeys/new", &[("csrf", &csrf), ("name", "YubiKey")]).await;
    let csp = begun.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let (ceremony, options) = ceremony_of(&begun);
    let mut key = SoftAuthenticator::new("idp.contoso.com", PUBLIC);
    let answer = key.register(&options);
    let fields = [("csrf", csrf.as_str()), ("ceremony", &ceremony), ("answer", &answer)];
    let added = admin.post("/admin/passkeys/add", &fields).await;
    assert_eq!(added.location.as_deref(), Some("/admin/mfa/enrol?done=passkey-added"), "{}", added.body);
    let again = admin.post("/admin/passkeys/add", &fields).await;
    assert!(again.body.contains("That passkey request has ended"), "taken once: {}", again.body);
    let listed = admin.get("/admin/mfa/enrol?done=passkey-added").await;
    assert!(listed.body.contains("<td>YubiKey</td>") && listed.body.contains("The passkey has been added."));

    // The next sign-in: the password, then the passkey (no authenticator app: no code field).
    let mut browser = Browser::new(&world).from("10.0.0.8");
    assert_eq!(admin_login(&mut browser, "admin", OWN).await.location.as_deref(), Some("/admin/mfa"));
    assert_eq!(browser.get("/admin/applications").await.location.as_deref(), Some("/admin/mfa"));
    // An authenticator app is no way around the passkey: not offered, not taken.
    assert_eq!(browser.get("/admin/mfa/enrol").await.location.as_deref(), Some("/admin/mfa"));
    let csrf = browser.csrf();
    let code = browser.post("/admin/mfa/enrol", &[("csrf", &csrf), ("code", "123456")]).await;
    assert_ne!(code.location.as_deref(), Some("/admin/applications"), "{}", code.body);
    assert_eq!(browser.get("/admin/applications").await.location.as_deref(), Some("/admin/mfa"));
    let admin_id = world.store.find_admin("admin").await.unwrap().id;
    let app = world.store.admin_totp(&admin_id).await.unwrap();
    assert!(app.is_none_or(|app| !app.confirmed), "no authenticator app was added");
    let page = browser.get("/admin/mfa").await;
    assert!(page.body.contains("Use my passkey") && !page.body.contains("name=\"code\""), "{}", page.body);
    key.set_rp_id("idp.contoso.evil");
    let refused = answer_admin(&mut browser, &page, &mut key).await;
    assert!(refused.body.contains("Your passkey was not accepted"), "{}", refused.body);
    key.set_rp_id("idp.contoso.com");
    let signed_in = answer_admin(&mut browser, &refused, &mut key).await;
    assert_eq!(signed_in.location.as_deref(), Some("/admin/applications"), "{}", signed_in.body);
    assert_eq!(browser.get("/admin/applications").await.status, StatusCode::OK);
    let events = world.store.list_audit(&tessera_store::AuditQuery { limit: 200, ..Default::default() }).await.unwrap();
    let mfa: Vec<_> =
        events.iter().filter(|e| e.action.starts_with("admin.mfa")).map(|e| (&e.action, &e.summary)).collect();
    assert!(mfa.iter().any(|(a, s)| *a == "admin.mfa" && s["factor"] == "passkey"), "{mfa:?}");
    assert!(
        mfa.iter()
            .any(|(a, s)| *a == "admin.mfa_failure" && s["reason"].as_str().unwrap().starts_with("passkey_refused"))
    );

    // A lost key: the reset removes it and ends the sessions.
    let service = AdminService::new(world.store.clone(), world.keys.clone(), PUBLIC, Arc::new(SystemClock)).unwrap();
    assert!(service.reset_admin_mfa(&Actor::cli("root"), "admin").await.unwrap().1);
    assert_eq!(browser.get("/admin/applications").await.location.as_deref(), Some("/admin/login"));
    assert!(world.store.admin_passkeys(&admin_id).await.unwrap().is_empty());
}

/// Posts the authenticator's answer to the admin second-factor page's ceremony.
async fn answer_admin(browser: &mut Browser<'_>, page: &Response, key: &mut SoftAuthenticator) -> Response {
    let (ceremony, options) = ceremony_of(page);
    let answer = key.assert(&options);
    let csrf = browser.csrf();
    browser.post("/admin/mfa/passkey", &[("csrf", &csrf), ("ceremony", &ceremony), ("answer", &answer)]).await
}
