//! The people who sign in: the sign-in page naming the organization and the application, the
//! brand on every user page, the account page's actions, and the pages in the user's language.

use std::sync::Arc;

use axum::http::StatusCode;
use tessera_admin::AdminService;
use tessera_admin::branding::LogoChange;
use tessera_core::branding::BrandingChange;
use tessera_core::{Actor, SystemClock};

use super::admin_portal::{multipart_post, picture, signed_in_admin};
use super::saml::{entra_request, new_id, redirect_query};
use super::signin::{Browser, PASSWORD, Response, World, base32_decode, between, config, form_encode, now_seconds};

const NEW_PASSWORD: &str = "a brand new passphrase";

fn admin(world: &World) -> AdminService {
    AdminService::new(world.store.clone(), world.keys.clone(), "http://127.0.0.1:8080", Arc::new(SystemClock)).unwrap()
}

async fn brand_contoso(world: &World) {
    let change = BrandingChange {
        organization: Some("Contoso".into()),
        accent: Some("#7a1f5c".into()),
        help_url: Some("https://help.contoso.com/".into()),
    };
    let logo = picture(image::ImageFormat::Png, 800, 200);
    admin(world).set_branding(&Actor::system(), &change, LogoChange::Set(logo)).await.unwrap();
}

/// Where a request parked for sign-in sends the browser: its continue id.
pub(crate) fn continue_id(response: &Response) -> String {
    let location = response.location.clone().unwrap_or_default();
    assert!(location.starts_with("/login?continue="), "{location} {}", response.body);
    location.trim_start_matches("/login?continue=").split('&').next().unwrap().to_string()
}

#[tokio::test]
async fn the_sign_in_page_names_the_organization_and_the_application_of_every_protocol() {
    let (world, apps) = World::new(config()).await;
    brand_contoso(&world).await;
    let mut browser = Browser::new(&world);
    let saml =
        browser.get(&format!("/m365/contoso.com/saml/sso?{}", redirect_query(&entra_request(&new_id(), "", "")))).await;
    let wsfed = browser
        .get(&format!(
            "/m365/contoso.com/wsfed?wa=wsignin1.0&wtrealm={}",
            form_encode("urn:federation:MicrosoftOnline")
        ))
        .await;
    let launch = browser.get(&format!("/launch/{}", apps.granted)).await;
    for (protocol, parked, app) in [("saml", &saml, "M365"), ("wsfed", &wsfed, "M365"), ("launch", &launch, "Wiki")] {
        let id = continue_id(parked);
        let page = browser.get(&format!("/login?continue={id}")).await;
        assert_eq!(page.status, StatusCode::OK, "{protocol}");
        assert!(page.body.contains("Sign in to Contoso"), "{protocol}: {}", page.body);
        assert!(page.body.contains(&format!("to continue to {app}")), "{protocol}: {}", page.body);
        // Another browser holding the id learns nothing of it.
        let mut other = Browser::new(&world);
        let theirs = other.get(&format!("/login?continue={id}")).await;
        assert!(!theirs.body.contains("to continue to"), "{protocol}: the request is bound to its browser");
    }
    // The portal's own sign-in names no application; a made-up id names none either.
    assert!(!browser.get("/login").await.body.contains("to continue to"));
    assert!(!browser.get("/login?continue=nonsense").await.body.contains("to continue to"));
}

#[tokio::test]
async fn every_user_page_wears_the_brand_and_its_parts_are_served_safely() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::new(&world);
    let plain = browser.get("/login").await;
    assert!(plain.body.contains("Sign in to Tessera") && !plain.body.contains("class=\"help\""));
    assert_eq!(browser.get("/branding/logo").await.status, StatusCode::NOT_FOUND);

    // Pages keep a copy of the brand for a few seconds: a second deployment, branded from the
    // start, shows it at once.
    let (world, _) = World::new(config()).await;
    brand_contoso(&world).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    for path in ["/", "/account", "/mfa/totp"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains("alt=\"Contoso\""), "{path}: the logo, named");
        assert!(page.body.contains("href=\"https://help.contoso.com/\""), "{path}: the help link");
        assert!(page.body.contains("/branding/style.css?v="), "{path}: the accent's stylesheet");
    }
    // The page names the brand's version; an asset is kept a day only under that version (a
    // page from a node with a newer brand may ask one that has not read it yet).
    let page = browser.get("/").await;
    let style = between(&page.body, "href=\"/branding/style.css?v=", "\"").to_string();
    let css = browser.get(&format!("/branding/style.css?v={style}")).await;
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers["cache-control"], "public, max-age=86400");
    assert_eq!(css.body.trim(), ":root { --accent: #7a1f5c; }");
    assert_eq!(browser.get("/branding/style.css?v=1").await.headers["cache-control"], "no-cache");
    let logo =
        browser.send(axum::http::Request::get(format!("/branding/logo?v={style}")), axum::body::Body::empty()).await;
    assert_eq!(logo.headers["content-type"], "image/png");
    assert_eq!(logo.headers["cache-control"], "public, max-age=86400");
    assert_eq!(logo.headers["content-security-policy"], "default-src 'none'; sandbox");
    // The notice wears it too, and names the organization.
    let (world, _) = World::new(config()).await;
    brand_contoso(&world).await;
    let mut fresh = Browser::new(&world);
    fresh.login("alice@contoso.com", PASSWORD, "").await;
    let notice = fresh.get("/notice").await;
    assert!(
        notice.body.contains("Contoso now signs you in") && notice.body.contains("alt=\"Contoso\""),
        "{}",
        notice.body
    );
}

#[tokio::test]
async fn an_unreadable_accent_or_a_bad_logo_is_refused_and_changes_nothing() {
    let (world, _) = World::new(config()).await;
    brand_contoso(&world).await;
    let service = admin(&world);
    let before = service.branding().await.unwrap();
    let events = world.audit_actions().await.len();
    let refuse = |accent: &str| BrandingChange { accent: Some(accent.into()), ..BrandingChange::default() };
    for light in ["#ffff00", "#cccccc", "#87ceeb"] {
        let error = service.set_branding(&Actor::system(), &refuse(light), LogoChange::Keep).await.unwrap_err();
        assert!(error.to_string().contains("too light"), "{light}: {error}");
    }
    for bad in ["red", "#12345", "#1234567;}"] {
        assert!(service.set_branding(&Actor::system(), &refuse(bad), LogoChange::Keep).await.is_err(), "{bad}");
    }
    let html = b"<html><script>alert(1)</script></html>".to_vec();
    let logo = service.set_branding(&Actor::system(), &BrandingChange::default(), LogoChange::Set(html)).await;
    assert!(matches!(logo, Err(tessera_admin::AdminError::Invalid { ref field, .. }) if field == "logo"), "{logo:?}");
    let nothing = service.set_branding(&Actor::system(), &BrandingChange::default(), LogoChange::Keep).await;
    assert!(nothing.is_err(), "an empty change is refused");
    assert_eq!(service.branding().await.unwrap(), before, "nothing changed");
    assert_eq!(world.audit_actions().await.len(), events, "nothing audited");

    // The admin portal says the same, and keeps what was typed.
    let hash = tessera_auth::password::hash_password(super::admin_portal::ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut portal = signed_in_admin(&world, "10.0.0.9").await;
    let csrf = portal.csrf();
    let fields = [("csrf", csrf.as_str()), ("organization", "Fabrikam"), ("accent", "#ffee00"), ("help_url", "")];
    let (request, body) = multipart_post("/admin/branding", &fields, &[]);
    let refused = portal.send(request, body).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("too light") && refused.body.contains("value=\"Fabrikam\""), "{}", refused.body);
    assert_eq!(service.branding().await.unwrap(), before);
    let fields = [("csrf", csrf.as_str()), ("organization", "Fabrikam"), ("accent", "#003366"), ("help_url", "")];
    let (request, body) =
        multipart_post("/admin/branding", &fields, &[("logo", &picture(image::ImageFormat::WebP, 64, 64))]);
    let saved = portal.send(request, body).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let after = service.branding().await.unwrap();
    assert_eq!(
        (after.organization_name(), after.accent_colour(), after.help_url.as_deref()),
        ("Fabrikam", "#003366", None)
    );
    assert_ne!(after.logo, before.logo, "the new logo, re-encoded");
    assert!(
        Browser::new(&world).get("/login").await.body.contains("Sign in to Fabrikam"),
        "shown at once on this node"
    );
}

#[tokio::test]
async fn pages_speak_the_browsers_language_or_the_one_chosen_and_fall_back_to_english() {
    let (world, _) = World::new(config()).await;
    let mut german = Browser::new(&world).header("accept-language", "de-DE,de;q=0.9,en;q=0.5");
    let login = german.get("/login").await;
    assert!(login.body.contains("<html lang=\"de\">") && login.body.contains("Kennwort"), "{}", login.body);
    assert_eq!(login.headers["content-language"], "de");
    assert!(login.headers["vary"].to_str().unwrap().contains("Accept-Language"));
    let wrong = german.login("alice@contoso.com", "not it", "").await;
    assert!(wrong.body.contains("Die E-Mail-Adresse oder das Kennwort ist falsch"), "{}", wrong.body);
    // A page answering a form comes back to the page it belongs to, never to the form's target
    // (a GET of a POST-only route); a protocol endpoint's page, to the portal.
    assert!(wrong.body.contains("href=\"/language/en?back=/login\""), "{}", wrong.body);
    let parked = german.get("/launch/00000000-0000-0000-0000-000000000000").await;
    assert!(parked.body.contains("href=\"/language/en?back=/\""), "{}", parked.body);
    // The switch keeps the choice, and goes back only to our own pages.
    let switched = german.get("/language/en?back=%2Flogin%3Fcontinue%3Dabc").await;
    assert_eq!(switched.location.as_deref(), Some("/login?continue=abc"));
    assert!(german.get("/login").await.body.contains("<html lang=\"en\">"), "the choice beats the header");
    for evil in ["https%3A%2F%2Fevil.example%2F", "%2F%2Fevil.example", "%2F%5Cevil.example"] {
        let away = german.get(&format!("/language/de?back={evil}")).await;
        assert_eq!(away.location.as_deref(), Some("/"), "{evil}");
    }
    let unknown = german.get("/language/xx?back=%2Flogin").await;
    assert_eq!(unknown.location.as_deref(), Some("/login"));
    assert!(
        german.get("/login").await.body.contains("lang=\"de\""),
        "an unknown language changes nothing but the last choice"
    );
    // A language we do not speak gets English; the admin portal is English whatever is asked.
    let mut french = Browser::new(&world).header("accept-language", "fr-FR, fr;q=0.9");
    assert!(french.get("/login").await.body.contains("<html lang=\"en\">"));
    let admin = Browser::new(&world).header("accept-language", "de").get("/admin/login").await;
    assert!(admin.body.contains("lang=\"en\""), "{}", admin.body);
}

/// Alice signed in with an authenticator app: the browser, and the app's secret.
async fn with_authenticator(world: &World) -> (Browser<'_>, Vec<u8>) {
    let mut browser = Browser::signed_in(world, "10.0.0.1").await;
    let enrol = browser.get("/mfa/totp").await;
    let secret = base32_decode(between(&enrol.body, "<code id=\"secret\">", "</code>"));
    let code = format!("{:06}", tessera_auth::totp::code_at(&secret, tessera_auth::totp::step_at(now_seconds())));
    let csrf = browser.csrf();
    let done = browser.post("/mfa/totp", &[("csrf", &csrf), ("code", &code), ("continue", "")]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    (browser, secret)
}

#[tokio::test]
async fn a_changed_password_works_at_once_and_the_old_one_no_longer_does() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let mut elsewhere = Browser::signed_in(&world, "10.0.0.2").await;
    let page = browser.get("/account").await;
    assert!(page.body.contains("name=\"current\""), "{}", page.body);
    let csrf = browser.csrf();
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        vec![("csrf", csrf.clone()), ("current", current.into()), ("new", new.into()), ("again", again.into())]
    };
    let refusals = [
        (change(PASSWORD, NEW_PASSWORD, "another one entirely"), "not the same"),
        (change(PASSWORD, PASSWORD, PASSWORD), "must differ"),
        (change(PASSWORD, "short", "short"), "does not meet the rules"),
        (change("not my password", NEW_PASSWORD, NEW_PASSWORD), "current password is not right"),
    ];
    for (fields, said) in refusals {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = browser.post("/account/password", &fields).await;
        assert!(refused.body.contains(said), "{said}: {}", refused.body);
    }
    let forged = browser
        .post("/account/password", &[("current", PASSWORD), ("new", NEW_PASSWORD), ("again", NEW_PASSWORD)])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no form token, no change");
    assert!(Browser::new(&world).login("alice@contoso.com", PASSWORD, "").await.location.is_some(), "unchanged so far");

    let fields = change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let changed = browser.post("/account/password", &fields).await;
    assert_eq!(changed.location.as_deref(), Some("/account?done=password"), "{}", changed.body);
    let shown = browser.get("/account?done=password").await;
    assert!(shown.body.contains("Your password has been changed"), "this browser stays signed in");
    assert_eq!(elsewhere.get("/").await.location.as_deref(), Some("/login"), "other sessions ended");
    let old = Browser::new(&world).from("10.0.0.3").login("alice@contoso.com", PASSWORD, "").await;
    assert!(old.body.contains("incorrect"), "the old password no longer works");
    let new = Browser::new(&world).from("10.0.0.3").login("alice@contoso.com", NEW_PASSWORD, "").await;
    assert_eq!(new.status, StatusCode::SEE_OTHER, "the new one works at once: {}", new.body);
    assert!(world.audit_actions().await.iter().any(|a| a == "user.set_password"));
}

#[tokio::test]
async fn the_authenticator_app_is_renamed_its_codes_renewed_and_removed() {
    let (world, _) = World::new(config()).await;
    let (mut browser, secret) = with_authenticator(&world).await;
    let page = browser.get("/account").await;
    assert!(
        page.body.contains("Authenticator app") && page.body.contains("You have 10 recovery codes left."),
        "{}",
        page.body
    );
    let csrf = browser.csrf();
    for bad in ["", "   ", "a\u{7}b", &"x".repeat(65)] {
        let refused = browser.post("/account/mfa/rename", &[("csrf", &csrf), ("name", bad)]).await;
        assert!(refused.body.contains("Give a name of 1 to 64 characters"), "{bad:?}");
    }
    let renamed = browser.post("/account/mfa/rename", &[("csrf", &csrf), ("name", "Work phone")]).await;
    assert_eq!(renamed.location.as_deref(), Some("/account?done=renamed"));
    assert!(browser.get("/account").await.body.contains("<strong id=\"factor-name\">Work phone</strong>"));

    // New recovery codes: the old ones stop working, the new ones work.
    let refused = browser.post("/account/recovery-codes", &[("csrf", &csrf), ("password", "wrong")]).await;
    assert!(refused.body.contains("current password is not right"));
    let old_codes =
        world.store.recovery_codes_left(world.store.find_user("alice@contoso.com").await.unwrap().id).await.unwrap();
    assert_eq!(old_codes, 10);
    let renewed = browser.post("/account/recovery-codes", &[("csrf", &csrf), ("password", PASSWORD)]).await;
    assert!(renewed.body.contains("Your new recovery codes"), "{}", renewed.body);
    let codes: Vec<String> = renewed
        .body
        .match_indices("<li><code>")
        .map(|(i, _)| between(&renewed.body[i..], "<li><code>", "</code>").to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    let mut lost_phone = Browser::new(&world).from("10.0.0.1");
    lost_phone.login("alice@contoso.com", PASSWORD, "").await;
    let csrf2 = lost_phone.csrf();
    let ok = lost_phone.post("/login/mfa", &[("csrf", &csrf2), ("code", &codes[0]), ("continue", "")]).await;
    assert_eq!(ok.location.as_deref(), Some("/"), "a new code works: {}", ok.body);

    // Removal asks for the password; then sign-in asks for no code.
    let refused = browser.post("/account/mfa/remove", &[("csrf", &csrf), ("password", "wrong")]).await;
    assert!(refused.body.contains("current password is not right"));
    let user = world.store.find_user("alice@contoso.com").await.unwrap();
    assert!(world.store.totp_credential(user.id).await.unwrap().is_some(), "still there");
    let removed = browser.post("/account/mfa/remove", &[("csrf", &csrf), ("password", PASSWORD)]).await;
    assert_eq!(removed.location.as_deref(), Some("/account?done=removed"));
    assert!(world.store.totp_credential(user.id).await.unwrap().is_none(), "gone");
    let again = browser.post("/account/mfa/remove", &[("csrf", &csrf), ("password", PASSWORD)]).await;
    assert_eq!(again.location.as_deref(), Some("/account"), "nothing left to remove is not said removed");
    assert!(browser.get("/account").await.body.contains("You have no authenticator app"));
    let after = Browser::new(&world).from("10.0.0.1").login("alice@contoso.com", PASSWORD, "").await;
    assert_eq!(after.location.as_deref(), Some("/"), "no code asked now");
    let _ = secret;
    let actions = world.audit_actions().await;
    for action in ["account.mfa_rename", "account.recovery_codes", "user.mfa_reset"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn recent_sign_ins_show_address_and_app_and_sign_out_everywhere_ends_the_other_browser() {
    let (world, apps) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.7").await;
    browser.get(&format!("/launch/{}", apps.granted)).await;
    Browser::new(&world).from("10.0.0.8").login("alice@contoso.com", "wrong password", "").await;
    let page = browser.get("/account").await;
    let table = between(&page.body, "<table id=\"sign-ins\">", "</table>");
    assert!(table.contains("Opened Wiki") && table.contains("10.0.0.7"), "{table}");
    assert!(table.contains("Wrong password or code") && table.contains("10.0.0.8"), "{table}");
    assert!(table.contains("Signed in") && table.contains(" UTC"), "{table}");
    // In German, with the date as German writes it.
    let mut german = browser_with_cookies(&world, &browser).header("accept-language", "de");
    let deutsch = german.get("/account").await;
    let table = between(&deutsch.body, "<table id=\"sign-ins\">", "</table>");
    assert!(table.contains("Wiki geöffnet") && table.contains("Falsches Kennwort"), "{table}");
    // Today, as German writes it ("5. Dezember 2026"), then the time in UTC.
    let today = tessera_web::ui::Language::German.date(now_seconds() * 1000);
    assert!(table.contains(&format!("{today}, ")) && today.contains(". "), "{today}: {table}");

    let mut other = Browser::signed_in(&world, "10.0.0.9").await;
    assert_eq!(other.get("/").await.status, StatusCode::OK);
    let csrf = browser.csrf();
    let out = browser.post("/account/sign-out-everywhere", &[("csrf", &csrf)]).await;
    assert!(out.body.contains("You are signed out"), "{}", out.body);
    assert_eq!(other.get("/").await.location.as_deref(), Some("/login"), "the other browser's session ended");
    assert_eq!(browser.get("/account").await.location.as_deref(), Some("/login"), "and this one's");
}

/// A second browser carrying the same cookies (the same signed-in user and form token).
fn browser_with_cookies<'w>(world: &'w World, from: &Browser<'_>) -> Browser<'w> {
    let mut copy = Browser::new(world).from("10.0.0.7");
    copy.cookies = from.cookies.clone();
    copy
}

/// An attribute's text as the browser reads it (askama writes `"`, `'`, `<`, `>`, `&` as
/// numeric references).
pub(crate) fn attribute_text(escaped: &str) -> String {
    escaped
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

/// What a passkey enrolment page carries: the ceremony's id and the creation options.
pub(crate) fn ceremony_of(page: &Response) -> (String, String) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let options = attribute_text(between(&page.body, "data-options=\"", "\""));
    (between(&page.body, "name=\"ceremony\" value=\"", "\"").to_string(), options)
}

/// Issue 24: a user adds a passkey on their account page (their password first; the options in
/// the page for the authenticator, its answer posted back), sees it listed, and removes it
/// (the password again), each audited. A wrong password, a bad name, another session's
/// attempt, an answer sent twice, an answer for another site and a name already taken add
/// nothing.
#[tokio::test]
async fn a_user_adds_a_passkey_on_their_account_page_and_removes_it() {
    use tessera_auth::passkey::soft_authenticator::SoftAuthenticator;
    let (world, _) = World::build(config(), "https://idp.contoso.com").await;
    let alice_id = world.store.find_user("alice@contoso.com").await.unwrap().id;
    let mut alice = Browser::signed_in(&world, "10.0.0.5").await;
    let account = alice.get("/account").await;
    assert!(
        account.body.contains("Add a passkey") && account.body.contains("You have no passkey yet"),
        "{}",
        account.body
    );
    let csrf = alice.csrf();
    let begin = |name: &'static str, password: &'static str| {
        [("csrf", csrf.clone()), ("name", name.to_string()), ("password", password.to_string())]
    };
    let post = async |browser: &mut Browser<'_>, path: &str, fields: &[(&str, String)]| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        browser.post(path, &fields).await
    };

    let wrong = post(&mut alice, "/account/passkeys/new", &begin("Laptop", "not the password")).await;
    assert!(wrong.body.contains("The current password is not right."), "{}", wrong.body);
    let unnamed = post(&mut alice, "/account/passkeys/new", &begin("  ", PASSWORD)).await;
    assert!(unnamed.body.contains("Give a name of 1 to 64 characters"), "{}", unnamed.body);

    let page = post(&mut alice, "/account/passkeys/new", &begin("Laptop", PASSWORD)).await;
    assert!(page.body.contains("<script src=\"/static/passkey.js\" defer></script>"), "{}", page.body);
    let csp = page.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(!account.headers.get("content-security-policy").unwrap().to_str().unwrap().contains("script-src"));
    let (ceremony, options) = ceremony_of(&page);
    let mut laptop = SoftAuthenticator::new("idp.contoso.com", "https://idp.contoso.com");
    let answer = laptop.register(&options);
    let finish = |browser: &Browser<'_>, ceremony: &str, answer: &str| {
        [("csrf", browser.csrf()), ("ceremony", ceremony.to_string()), ("answer", answer.to_string())]
    };
    // Another session of hers cannot finish it (and leaves it in place).
    let mut other = Browser::signed_in(&world, "10.0.0.6").await;
    let stolen = {
        let fields = finish(&other, &ceremony, &answer);
        post(&mut other, "/account/passkeys/add", &fields).await
    };
    assert!(stolen.body.contains("That passkey request has ended"), "{}", stolen.body);
    let added = {
        let fields = finish(&alice, &ceremony, &answer);
        post(&mut alice, "/account/passkeys/add", &fields).await
    };
    assert_eq!(added.location.as_deref(), Some("/account?done=passkey-added"), "{}", added.body);
    let listed = alice.get("/account?done=passkey-added").await;
    assert!(
        listed.body.contains("The passkey has been added.") && listed.body.contains("<td>Laptop</td>"),
        "{}",
        listed.body
    );
    let stored = world.store.passkeys(alice_id).await.unwrap();
    assert_eq!((stored.len(), stored[0].name.as_str(), stored[0].user_handle.len()), (1, "Laptop", 16));
    let again = {
        let fields = finish(&alice, &ceremony, &answer);
        post(&mut alice, "/account/passkeys/add", &fields).await
    };
    assert!(again.body.contains("That passkey request has ended"), "an answer is taken once: {}", again.body);

    // With a passkey, another is added only from a session that showed one (a phished password
    // must not plant a passkey of the phisher's): she signs in again with hers.
    let password_only = post(&mut alice, "/account/passkeys/new", &begin("Phone", PASSWORD)).await;
    assert!(password_only.body.contains("sign in with one of your passkeys first"), "{}", password_only.body);
    let mut alice = Browser::new(&world).from("10.0.0.5");
    assert_eq!(alice.login("alice@contoso.com", PASSWORD, "").await.location.as_deref(), Some("/login/mfa"));
    let (ceremony, options) = ceremony_of(&alice.get("/login/mfa").await);
    let answer = laptop.assert(&options);
    let csrf = alice.csrf();
    let fields = [("csrf", csrf.as_str()), ("continue", ""), ("ceremony", &ceremony), ("answer", &answer)];
    assert_eq!(alice.post("/login/mfa/passkey", &fields).await.location.as_deref(), Some("/"));
    let begin = |name: &'static str, password: &'static str| {
        [("csrf", csrf.clone()), ("name", name.to_string()), ("password", password.to_string())]
    };

    // A phishing site's answer, and a name she already has, add nothing.
    let (ceremony, options) = ceremony_of(&post(&mut alice, "/account/passkeys/new", &begin("Phone", PASSWORD)).await);
    let phished = SoftAuthenticator::new("evil.example", "https://evil.example").register(&options);
    let refused = {
        let fields = finish(&alice, &ceremony, &phished);
        post(&mut alice, "/account/passkeys/add", &fields).await
    };
    assert!(refused.body.contains("was not accepted"), "{}", refused.body);
    let (ceremony, options) = ceremony_of(&post(&mut alice, "/account/passkeys/new", &begin("Laptop", PASSWORD)).await);
    assert!(options.contains("excludeCredentials"), "her passkeys are excluded: {options}");
    let twin = SoftAuthenticator::new("idp.contoso.com", "https://idp.contoso.com").register(&options);
    let taken = {
        let fields = finish(&alice, &ceremony, &twin);
        post(&mut alice, "/account/passkeys/add", &fields).await
    };
    assert!(taken.body.contains("You already have a passkey of that name."), "{}", taken.body);
    let garbage = {
        let fields = finish(&alice, "no-such-ceremony", "{");
        post(&mut alice, "/account/passkeys/add", &fields).await
    };
    assert!(garbage.body.contains("That passkey request has ended"), "{}", garbage.body);
    assert_eq!(world.store.passkeys(alice_id).await.unwrap().len(), 1, "refusals add nothing");

    let remove = |password: &'static str| {
        [("csrf", csrf.clone()), ("name", "Laptop".to_string()), ("password", password.to_string())]
    };
    let kept = post(&mut alice, "/account/passkeys/remove", &remove("not the password")).await;
    assert!(kept.body.contains("The current password is not right."), "{}", kept.body);
    assert_eq!(world.store.passkeys(alice_id).await.unwrap().len(), 1);
    let removed = post(&mut alice, "/account/passkeys/remove", &remove(PASSWORD)).await;
    assert_eq!(removed.location.as_deref(), Some("/account?done=passkey-removed"), "{}", removed.body);
    assert!(world.store.passkeys(alice_id).await.unwrap().is_empty());
    let actions = world.audit_actions().await;
    assert!(
        actions.contains(&"user.mfa_enroll".to_string()) && actions.contains(&"user.mfa_reset".to_string()),
        "{actions:?}"
    );
}

/// Where the public URL is an address, a browser refuses WebAuthn: the account page says
/// passkeys are not available here, and a forged request to begin one is refused the same way.
#[tokio::test]
async fn passkeys_are_not_offered_where_the_public_url_is_an_address() {
    let (world, _) = World::new(config()).await;
    let mut alice = Browser::signed_in(&world, "10.0.0.5").await;
    let account = alice.get("/account").await;
    assert!(
        account.body.contains("Passkeys are not available on this server")
            && !account.body.contains("/account/passkeys/new")
    );
    let csrf = alice.csrf();
    let forged =
        alice.post("/account/passkeys/new", &[("csrf", &csrf), ("name", "Laptop"), ("password", PASSWORD)]).await;
    assert!(forged.body.contains("Passkeys are not available on this server"), "{}", forged.body);
}
