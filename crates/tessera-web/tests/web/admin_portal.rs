//! The admin portal's sign-in and its SSO Applications list, in-process: the first
//! administrator's one-time password, the admin session cookie, lockout, CSRF and session
//! expiry, and that nothing but a live admin session opens it.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use tessera_core::{ManualClock, SystemClock};
use tessera_store::AuditQuery;

use super::signin::{Browser, World, config};

pub(crate) const ONE_TIME: &str = "one-time password 1234";
pub(crate) const OWN: &str = "the administrator's own password";
const MINUTE: i64 = 60_000;

async fn world_with_admin(clock: Option<Arc<ManualClock>>) -> World {
    let world = match clock {
        Some(clock) => World::on_clock(config(), clock).await.0,
        None => World::build_with_clock(config(), "http://127.0.0.1:8080", Arc::new(SystemClock)).await.0,
    };
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    assert!(world.store.create_initial_admin("admin", &hash).await.unwrap());
    world
}

pub(crate) async fn admin_login(browser: &mut Browser<'_>, username: &str, password: &str) -> super::signin::Response {
    browser.get("/admin/login").await;
    let csrf = browser.csrf();
    browser.post("/admin/login", &[("username", username), ("password", password), ("csrf", &csrf)]).await
}

#[tokio::test]
async fn the_first_administrator_changes_the_one_time_password_then_sees_sso_applications() {
    let world = world_with_admin(None).await;
    let mut browser = Browser::new(&world);
    assert_eq!(browser.get("/admin").await.location.as_deref(), Some("/admin/login"));
    assert_eq!(browser.get("/admin/applications").await.location.as_deref(), Some("/admin/login"));

    // Someone else holding the printed one-time password waits at the password change.
    let mut parked = Browser::new(&world).from("10.0.0.66");
    assert_eq!(admin_login(&mut parked, "admin", ONE_TIME).await.location.as_deref(), Some("/admin/password"));
    let signed_in = admin_login(&mut browser, "ADMIN", ONE_TIME).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    assert_eq!(signed_in.location.as_deref(), Some("/admin/password"));
    let cookie = signed_in.headers[axum::http::header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("tessera_admin="), "{cookie}");
    for attribute in ["Path=/admin", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // Nothing else opens before the one-time password is replaced.
    assert_eq!(browser.get("/admin/applications").await.location.as_deref(), Some("/admin/password"));
    let page = browser.get("/admin/password").await;
    assert!(page.body.contains("Choose your password"), "{}", page.body);
    let csrf = browser.csrf();
    for (password, confirm, said) in
        [(OWN, "something else entirely", "not the same"), ("short", "short", "password must be")]
    {
        let refused =
            browser.post("/admin/password", &[("password", password), ("confirm", confirm), ("csrf", &csrf)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains(said), "{said}: {}", refused.body);
    }
    let changed = browser.post("/admin/password", &[("password", OWN), ("confirm", OWN), ("csrf", &csrf)]).await;
    assert_eq!(changed.location.as_deref(), Some("/admin/applications"));
    let admin = world.store.find_admin("admin").await.unwrap();
    assert!(!admin.must_change_password);
    assert_eq!(
        parked.get("/admin/applications").await.location.as_deref(),
        Some("/admin/login"),
        "the new password ended it"
    );
    assert!(tessera_auth::password::verify_password(OWN, &admin.password_hash).unwrap());

    let list = browser.get("/admin/applications").await;
    assert_eq!(list.status, StatusCode::OK);
    for expected in ["SSO Applications", "Wiki", "Payroll", "M365", "contoso.com", "Microsoft 365", "Bookmark"] {
        assert!(list.body.contains(expected), "{expected}: {}", list.body);
    }
    let csp = list.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let found = browser.get("/admin/applications?q=microsoft").await;
    assert!(found.body.contains("M365") && !found.body.contains("Payroll"), "{}", found.body);
    let none = browser.get("/admin/applications?q=%3Cscript%3E").await;
    assert!(none.body.contains("No application matches") && !none.body.contains("<script>"), "{}", none.body);

    let csrf = browser.csrf();
    let out = browser.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/admin/login"));
    assert_eq!(browser.get("/admin/applications").await.location.as_deref(), Some("/admin/login"));

    let events = world.store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap();
    let by_admin: Vec<&str> =
        events.iter().filter(|e| e.actor == format!("admin:{}", admin.id)).map(|e| e.action.as_str()).collect();
    assert_eq!(by_admin, ["admin.signin", "admin.signin", "admin.password_set", "admin.signout"]);
}

#[tokio::test]
async fn wrong_passwords_forged_forms_user_sessions_and_dead_sessions_open_nothing() {
    let clock = Arc::new(ManualClock::at(1_800_000_000_000));
    let world = world_with_admin(Some(clock.clone())).await;
    world
        .store
        .set_admin_password(
            &tessera_core::Actor::system(),
            "admin",
            &tessera_auth::password::hash_password(OWN).unwrap(),
            false,
        )
        .await
        .unwrap();

    // A user portal session is not an admin session.
    let mut user = Browser::signed_in(&world, "10.0.0.5").await;
    assert_eq!(user.get("/admin/applications").await.location.as_deref(), Some("/admin/login"));

    // A form from elsewhere (no CSRF cookie, or the wrong token) is refused and writes nothing.
    let before = world.audit_actions().await.len();
    let mut forger = Browser::new(&world).from("10.0.0.6");
    let forged = forger.post("/admin/login", &[("username", "admin"), ("password", OWN), ("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(world.audit_actions().await.len(), before);

    // Unknown names and wrong passwords get one answer; past the threshold, even the right
    // password is refused until the window passes.
    let mut attacker = Browser::new(&world).from("10.0.0.7");
    let unknown = admin_login(&mut attacker, "root", OWN).await;
    let wrong = admin_login(&mut attacker, "admin", "wrong password!").await;
    assert_eq!((unknown.status, wrong.status), (StatusCode::OK, StatusCode::OK));
    assert!(unknown.body.contains("incorrect") && wrong.body.contains("incorrect"));
    for _ in 0..2 {
        admin_login(&mut attacker, "admin", "wrong password!").await;
    }
    let locked = admin_login(&mut attacker, "admin", OWN).await;
    assert_eq!(locked.status, StatusCode::OK, "locked: the right password gets the same page");
    assert!(
        locked
            .headers
            .get(axum::http::header::SET_COOKIE)
            .is_none_or(|c| !c.to_str().unwrap().starts_with("tessera_admin"))
    );
    clock.advance(30 * MINUTE + 1);
    // An admin session id planted before sign-in (SECURITY.md §5 item 29) is replaced, and opens
    // nothing.
    let mut admin = Browser::new(&world).from("10.0.0.8");
    admin.cookies.insert("tessera_admin".into(), "planted-by-attacker".into());
    assert_eq!(admin_login(&mut admin, "admin", OWN).await.location.as_deref(), Some("/admin/applications"));
    assert_ne!(admin.cookies.get("tessera_admin").map(String::as_str), Some("planted-by-attacker"));
    let mut planter = Browser::new(&world).from("10.0.0.8");
    planter.cookies.insert("tessera_admin".into(), "planted-by-attacker".into());
    assert_eq!(planter.get("/admin/applications").await.location.as_deref(), Some("/admin/login"));
    let events = world.store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap();
    let failures = events.iter().filter(|e| e.action == "admin.signin_failure").count();
    assert_eq!(failures, 5, "the locked attempt is a failure too");
    assert!(!serde_json::to_string(&events).unwrap().contains("\"root\""), "an unknown name is kept as a pseudonym");

    // Idle for the admin idle timeout (30 minutes): signed out.
    assert_eq!(admin.get("/admin/applications").await.status, StatusCode::OK);
    clock.advance(30 * MINUTE);
    assert_eq!(admin.get("/admin/applications").await.location.as_deref(), Some("/admin/login"));

    // A deleted administrator's session ends with them.
    let mut doomed = Browser::new(&world).from("10.0.0.9");
    world
        .store
        .create_admin(
            &tessera_core::Actor::system(),
            "erin",
            &tessera_auth::password::hash_password(OWN).unwrap(),
            tessera_core::AdminRole::Admin,
            &[],
        )
        .await
        .unwrap();
    admin_login(&mut doomed, "erin", OWN).await;
    assert_eq!(doomed.get("/admin/applications").await.status, StatusCode::OK);
    world.store.delete_admin(&tessera_core::Actor::system(), "erin").await.unwrap();
    assert_eq!(doomed.get("/admin/applications").await.location.as_deref(), Some("/admin/login"));
}

/// Signs in the first administrator and replaces the one-time password.
pub(crate) async fn signed_in_admin<'w>(world: &'w World, ip: &str) -> Browser<'w> {
    let mut browser = Browser::new(world).from(ip);
    admin_login(&mut browser, "admin", ONE_TIME).await;
    let csrf = browser.csrf();
    let changed = browser.post("/admin/password", &[("password", OWN), ("confirm", OWN), ("csrf", &csrf)]).await;
    assert_eq!(changed.location.as_deref(), Some("/admin/applications"));
    browser
}

/// SECURITY.md §5 item 30 on an https deployment: every HTML answer (the sign-in and MFA pages,
/// the portal, an auto-POST page, refusals and errors, and every admin portal page) carries the
/// frame, sniffing, referrer and transport headers; every cookie set on the way is Secure and
/// HttpOnly, and the admin session's SameSite=Strict.
#[tokio::test]
async fn every_html_answer_carries_the_security_headers_and_every_cookie_is_secure() {
    let (world, apps) = World::build(config(), "https://idp.contoso.com").await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut answers: Vec<(String, super::signin::Response)> = Vec::new();
    let mut user = Browser::new(&world).from("10.0.0.9");
    for path in ["/", "/login", "/login/mfa", "/notice", "/no-such-page", "/m365/contoso.com/saml/sso?SAMLRequest=%%%"]
    {
        answers.push((path.to_string(), user.get(path).await));
    }
    let signed_in = user.login("alice@contoso.com", super::signin::PASSWORD, "").await;
    answers.push(("POST /login".into(), signed_in));
    let request = super::saml::redirect_query(&super::saml::entra_request(&super::saml::new_id(), "", ""));
    for path in ["/".to_string(), format!("/m365/contoso.com/saml/sso?{request}")] {
        answers.push((path.clone(), user.get(&path).await));
    }
    let mut admin = Browser::new(&world).from("10.0.0.7");
    answers.push(("POST /admin/login".into(), admin_login(&mut admin, "admin", ONE_TIME).await));
    let csrf = admin.csrf();
    answers.push((
        "POST /admin/password".into(),
        admin.post("/admin/password", &[("password", OWN), ("confirm", OWN), ("csrf", &csrf)]).await,
    ));
    for template in tessera_web::admin_portal_paths() {
        let path = template
            .replace("{app}", &apps.m365)
            .replace("{kind}", "bookmark")
            .replace("{group}", "Staff")
            .replace("{user}", "alice@contoso.com")
            .replace("{name}", "admin")
            .replace("{trace}", "0123456789abcdef");
        answers.push((path.clone(), admin.get(&path).await));
    }
    let mut html = 0;
    for (path, answer) in &answers {
        for cookie in answer.headers.get_all(header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{path}: {cookie}");
            if cookie.starts_with("tessera_admin=") {
                assert!(cookie.contains("SameSite=Strict"), "{path}: {cookie}");
            }
        }
        let is_html =
            answer.headers.get(header::CONTENT_TYPE).is_some_and(|t| t.to_str().unwrap().starts_with("text/html"));
        if !is_html {
            continue;
        }
        html += 1;
        let header = |name: &str| answer.headers.get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert!(header("strict-transport-security").contains("max-age="), "{path}");
    }
    assert!(html >= 20, "HTML answers checked: {html} of {}", answers.len());
}

/// Every route of the portal (the table the router is built from), GET and POST, with our
/// CSRF token but no admin session: to the sign-in page (or 405), never a page or a change.
#[tokio::test]
async fn every_portal_route_refuses_a_request_without_an_admin_session() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    // A signed-in user of the user portal, with a valid CSRF cookie and token.
    let mut user = Browser::signed_in(&world, "10.0.0.5").await;
    user.get("/admin/login").await;
    let csrf = user.csrf();
    let before = world.audit_actions().await.len();
    let paths = tessera_web::admin_portal_paths();
    assert!(paths.len() >= 10, "{paths:?}");
    for template in paths {
        if template == "/admin/login" {
            continue; // the sign-in itself
        }
        let path = template.replace("{app}", &apps.m365).replace("{kind}", "m365");
        for post in [false, true] {
            let response = if post {
                user.post(&path, &[("csrf", &csrf), ("id", &apps.m365), ("count", "1"), ("group", "x")]).await
            } else {
                user.get(&path).await
            };
            let refused = response.location.as_deref() == Some("/admin/login")
                || response.status == StatusCode::METHOD_NOT_ALLOWED;
            assert!(
                refused,
                "{} {path}: {} {:?}",
                if post { "POST" } else { "GET" },
                response.status,
                response.location
            );
        }
    }
    assert_eq!(world.audit_actions().await.len(), before, "nothing changed");

    // With the one-time password still in use, everything leads to changing it.
    let mut first = Browser::new(&world).from("10.0.0.6");
    admin_login(&mut first, "admin", ONE_TIME).await;
    for path in ["/admin/applications", "/admin/applications/new", &format!("/admin/applications/{}/sso", apps.m365)] {
        assert_eq!(first.get(path).await.location.as_deref(), Some("/admin/password"), "{path}");
    }
}

#[tokio::test]
async fn bad_input_in_the_portal_gets_a_clear_message_and_changes_nothing() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let csrf = admin.csrf();
    let before = world.audit_actions().await.len();
    let app_count =
        || async { world.store.list_apps(&tessera_store::PageRequest::first(100)).await.unwrap().items.len() };
    let apps_before = app_count().await;

    let long = "x".repeat(10_000);
    for (fields, status, said) in [
        (vec![("domain", "fabrikam.com"), ("label", long.as_str())], StatusCode::UNPROCESSABLE_ENTITY, "label"),
        (vec![("domain", "contoso.com"), ("label", "Another")], StatusCode::CONFLICT, "contoso.com"),
        (vec![("domain", "fabrikam.com"), ("label", "Wiki")], StatusCode::CONFLICT, "Wiki"),
        (vec![("domain", "not a domain"), ("label", "")], StatusCode::UNPROCESSABLE_ENTITY, "domain"),
    ] {
        let mut form = fields.clone();
        form.push(("csrf", &csrf));
        let refused = admin.post("/admin/applications/new/m365", &form).await;
        assert_eq!(refused.status, status, "{fields:?}: {}", refused.body);
        assert!(refused.body.contains("role=\"alert\"") && refused.body.contains(said), "{said}: {}", refused.body);
    }
    let bookmark = admin
        .post("/admin/applications/new/bookmark", &[("url", "javascript:alert(1)"), ("label", "Evil"), ("csrf", &csrf)])
        .await;
    assert_eq!(bookmark.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bookmark.body);
    assert_eq!(admin.get("/admin/applications/new/printer").await.status, StatusCode::NOT_FOUND);

    // A forged form, a wrong count, nothing selected, an unknown group: refused.
    let forged = admin
        .post("/admin/applications/delete/confirm", &[("id", &apps.granted), ("count", "1"), ("csrf", "forged")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong = admin
        .post("/admin/applications/delete/confirm", &[("id", &apps.granted), ("count", "2"), ("csrf", &csrf)])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("Type 1"), "{}", wrong.body);
    let none = admin.post("/admin/applications/delete", &[("csrf", &csrf)]).await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", none.body);
    let ghost = admin.post("/admin/applications/delete", &[("id", "no-such-app"), ("csrf", &csrf)]).await;
    assert_eq!(ghost.status, StatusCode::NOT_FOUND, "{}", ghost.body);
    let path = format!("/admin/applications/{}/groups", apps.granted);
    let unknown = admin.post(&path, &[("group", "no-such-group"), ("csrf", &csrf)]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unknown.body);
    let bad_form = admin.post(&path, &[("csrf", &csrf), ("group", "%ZZ")]).await;
    assert_ne!(bad_form.status, StatusCode::OK);
    assert_eq!(admin.get("/admin/applications/no-such-app/sso").await.status, StatusCode::NOT_FOUND);

    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    assert_eq!(app_count().await, apps_before);
    // And the grant of the bookmark is still there.
    let granted = world.store.granted_groups(apps.granted.parse().unwrap()).await.unwrap();
    assert_eq!(granted.len(), 1);
}

/// The key an enrolment page shows (base32), decoded.
fn shown_secret(page: &str) -> Vec<u8> {
    let text = super::signin::between(page, "<code id=\"secret\">", "</code>");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in text.bytes().filter(|c| alphabet.contains(c)) {
        value = (value << 5) | alphabet.iter().position(|a| *a == c).unwrap() as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
        }
    }
    out
}

fn code(secret: &[u8], clock: &ManualClock) -> String {
    let step = tessera_auth::totp::step_at(tessera_core::Clock::now_millis(clock) / 1000);
    format!("{:06}", tessera_auth::totp::code_at(secret, step))
}

#[tokio::test]
async fn with_admin_mfa_required_the_first_administrator_enrols_then_every_sign_in_needs_a_code() {
    let clock = Arc::new(ManualClock::at(1_800_000_000_000));
    let mut config = config();
    config.admin_mfa_required = true;
    let world = World::on_clock(config, clock.clone()).await.0;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();

    let mut browser = Browser::new(&world);
    assert_eq!(admin_login(&mut browser, "admin", ONE_TIME).await.location.as_deref(), Some("/admin/mfa"));
    // Nothing opens before the second factor: not the list, not the password change.
    for path in ["/admin/applications", "/admin/password", "/admin/applications/new"] {
        assert_eq!(browser.get(path).await.location.as_deref(), Some("/admin/mfa"), "{path}");
    }
    assert_eq!(browser.get("/admin/mfa").await.location.as_deref(), Some("/admin/mfa/enrol"));
    let enrol = browser.get("/admin/mfa/enrol").await;
    assert!(enrol.body.contains("<svg") && enrol.body.contains("Set up an authenticator app"), "{}", enrol.body);
    let secret = shown_secret(&enrol.body);
    assert_eq!(secret.len(), 20);
    let csrf = browser.csrf();
    let wrong = browser.post("/admin/mfa/enrol", &[("code", "000000"), ("csrf", &csrf)]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(shown_secret(&wrong.body), secret, "the same key is shown again");
    let enrolled = browser.post("/admin/mfa/enrol", &[("code", &code(&secret, &clock)), ("csrf", &csrf)]).await;
    assert_eq!(enrolled.location.as_deref(), Some("/admin/password"), "{}", enrolled.body);
    let changed = browser.post("/admin/password", &[("password", OWN), ("confirm", OWN), ("csrf", &csrf)]).await;
    assert_eq!(changed.location.as_deref(), Some("/admin/applications"));
    assert_eq!(browser.get("/admin/applications").await.status, StatusCode::OK);

    // The next sign-in asks for a code; the code just used is not good twice.
    let mut again = Browser::new(&world).from("10.0.0.3");
    assert_eq!(admin_login(&mut again, "admin", OWN).await.location.as_deref(), Some("/admin/mfa"));
    let csrf = again.csrf();
    let replayed = again.post("/admin/mfa", &[("code", &code(&secret, &clock)), ("csrf", &csrf)]).await;
    assert!(replayed.body.contains("not right"), "{}", replayed.body);
    clock.advance(30_000);
    let accepted = again.post("/admin/mfa", &[("code", &code(&secret, &clock)), ("csrf", &csrf)]).await;
    assert_eq!(accepted.location.as_deref(), Some("/admin/applications"), "{}", accepted.body);
    assert_eq!(again.get("/admin/applications").await.status, StatusCode::OK);

    // A lost phone (`tessera admin mfa reset`): the authenticator goes, the sessions made with
    // it end, and the next sign-in enrols a new one.
    let service = tessera_admin::AdminService::new(
        world.store.clone(),
        world.keys.clone(),
        "http://127.0.0.1:8080",
        clock.clone(),
    )
    .unwrap();
    let (_, reset) = service.reset_admin_mfa(&tessera_core::Actor::cli("root"), "admin").await.unwrap();
    assert!(reset);
    assert_eq!(again.get("/admin/applications").await.location.as_deref(), Some("/admin/login"));
    let mut found = Browser::new(&world).from("10.0.0.3");
    assert_eq!(admin_login(&mut found, "admin", OWN).await.location.as_deref(), Some("/admin/mfa"));
    assert_eq!(found.get("/admin/mfa").await.location.as_deref(), Some("/admin/mfa/enrol"));
    let new_secret = shown_secret(&found.get("/admin/mfa/enrol").await.body);
    assert_ne!(new_secret, secret);
    let csrf = found.csrf();
    clock.advance(30_000);
    let enrolled = found.post("/admin/mfa/enrol", &[("code", &code(&new_secret, &clock)), ("csrf", &csrf)]).await;
    assert_eq!(enrolled.location.as_deref(), Some("/admin/applications"), "{}", enrolled.body);
    clock.advance(30_000);

    // Wrong codes are not forgiven by signing in again with the password: past the threshold
    // even a right code is refused until the window passes.
    let mut guesser = Browser::new(&world).from("10.0.0.4");
    assert_eq!(admin_login(&mut guesser, "admin", OWN).await.location.as_deref(), Some("/admin/mfa"));
    let csrf = guesser.csrf();
    for wrong in ["111111", "222222"] {
        assert!(guesser.post("/admin/mfa", &[("code", wrong), ("csrf", &csrf)]).await.body.contains("not right"));
    }
    let again = admin_login(&mut guesser, "admin", OWN).await;
    assert_eq!(again.status, StatusCode::OK, "locked: the password no longer opens a new round");
    assert!(again.body.contains("incorrect"), "{}", again.body);

    let actions = world.audit_actions().await;
    for action in ["admin.mfa_enroll", "admin.mfa", "admin.mfa_failure"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

/// A multipart/form-data body with text fields and one file.
fn multipart(fields: &[(&str, &str)], file: (&str, &[u8])) -> (String, Vec<u8>) {
    multipart_files(fields, &[file])
}

/// A multipart/form-data body with text fields and files (as a browser sends them).
fn multipart_files(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "tessera-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (name, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"upload\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub(crate) fn multipart_post(
    path: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &[u8])],
) -> (axum::http::request::Builder, axum::body::Body) {
    let (content_type, body) = multipart_files(fields, files);
    (
        axum::http::Request::post(path).header(axum::http::header::CONTENT_TYPE, content_type),
        axum::body::Body::from(body),
    )
}

/// An image of `width` by `height` in `format`.
pub(crate) fn picture(format: image::ImageFormat, width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::DynamicImage::new_rgb8(width, height).write_to(&mut std::io::Cursor::new(&mut bytes), format).unwrap();
    bytes
}

/// The raw answer to an anonymous GET (the test browser reads bodies as text).
async fn fetch_bytes(world: &World, path: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    use tower::ServiceExt;
    let request = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
    let response = world.router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, bytes.to_vec())
}

#[tokio::test]
async fn user_portal_images_are_checked_re_encoded_and_served_as_png_and_bad_ones_change_nothing() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let csrf = admin.csrf();
    let general = format!("/admin/applications/{}/general", apps.granted);
    let fields =
        [("csrf", csrf.as_str()), ("label", "Wiki"), ("description", "a description"), ("show_in_portal", "on")];
    let before = world.audit_actions().await.len();

    let png = picture(image::ImageFormat::Png, 40, 40);
    let mut polyglot = png.clone();
    polyglot.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    let mut oversized = png.clone();
    oversized.resize(1_100_000, 0);
    for (upload, said) in [
        (b"<html><body><script>alert(1)</script></body></html>".to_vec(), "PNG, JPEG or WebP"),
        (b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec(), "PNG, JPEG or WebP"),
        (polyglot, "besides the image"),
        (oversized, "larger than 1 MiB"),
        (picture(image::ImageFormat::Png, 5000, 1), "too large"),
    ] {
        let (request, body) = multipart_post(&general, &fields, &[("portal_image", &upload)]);
        let refused = admin.send(request, body).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{said}: {}", refused.body);
        assert!(refused.body.contains("role=\"alert\"") && refused.body.contains(said), "{said}: {}", refused.body);
    }
    // A forged form token, with a good image.
    let forged = [("csrf", "forged"), ("label", "Wiki"), ("description", "")];
    let (request, body) = multipart_post(&general, &forged, &[("portal_image", &png)]);
    assert_eq!(admin.send(request, body).await.status, StatusCode::FORBIDDEN);
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    assert_eq!(world.store.find_app(&apps.granted).await.unwrap().portal_image, None);

    // A JPEG of 300 by 200 is kept as a PNG of 128 by 85, served as image/png to anyone.
    let jpeg = picture(image::ImageFormat::Jpeg, 300, 200);
    let (request, body) = multipart_post(&general, &fields, &[("portal_image", &jpeg)]);
    let saved = admin.send(request, body).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("Saved.") && saved.body.contains("Remove the image"), "{}", saved.body);
    let app = world.store.find_app(&apps.granted).await.unwrap();
    let url = format!("/apps/{}/image?v={}", app.id, app.updated_at);
    assert!(saved.body.contains(&url.replace('&', "&amp;")), "the preview: {}", saved.body);
    let (status, headers, bytes) = fetch_bytes(&world, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[axum::http::header::CONTENT_TYPE], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let served = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
    assert_eq!((served.width(), served.height()), (128, 85));
    // The user portal shows it from our own origin; the CSP takes images from nowhere else.
    let mut user = Browser::new(&world).from("10.0.0.9");
    user.login("alice@contoso.com", super::signin::PASSWORD, "").await;
    let csrf_user = user.csrf();
    user.post("/notice", &[("csrf", &csrf_user), ("continue", "")]).await;
    let portal = user.get("/").await;
    assert!(portal.body.contains(&format!("src=\"/apps/{}/image?v=", app.id)), "{}", portal.body);
    assert!(portal.headers["content-security-policy"].to_str().unwrap().contains("img-src 'self';"));

    // Saving without a file keeps the image; "Remove the image" removes it.
    let before = world.audit_actions().await.len();
    let (request, body) = multipart_post(&general, &fields, &[]);
    admin.send(request, body).await;
    assert!(world.store.find_app(&apps.granted).await.unwrap().portal_image.is_some());
    assert_eq!(world.audit_actions().await.len(), before, "an unchanged save writes nothing");
    let mut removing = fields.to_vec();
    removing.push(("remove_image", "on"));
    let (request, body) = multipart_post(&general, &removing, &[]);
    assert_eq!(admin.send(request, body).await.status, StatusCode::OK);
    assert_eq!(world.store.find_app(&apps.granted).await.unwrap().portal_image, None);
    assert_eq!(fetch_bytes(&world, &format!("/apps/{}/image", app.id)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch_bytes(&world, "/apps/not-an-id/image").await.0, StatusCode::NOT_FOUND);

    // A new application takes its image from the catalog's form too.
    let new = [
        ("csrf", csrf.as_str()),
        ("label", "Intranet"),
        ("url", "https://intranet.contoso.com/"),
        ("show_in_portal", "on"),
    ];
    let webp = picture(image::ImageFormat::WebP, 64, 64);
    let (request, body) = multipart_post("/admin/applications/new/bookmark", &new, &[("portal_image", &webp)]);
    let created = admin.send(request, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(world.store.find_app("Intranet").await.unwrap().portal_image.is_some());
}

#[tokio::test]
async fn a_custom_saml_app_is_added_from_its_metadata_file_and_bad_files_are_refused() {
    let (world, _) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let csrf = admin.csrf();
    let fixtures = super::saml::workspace().join("fixtures/saml");
    let post = |fields: Vec<(&'static str, String)>, file: Vec<u8>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (content_type, body) = multipart(&fields, ("sp_metadata", &file));
        let request = axum::http::Request::post("/admin/applications/new/saml")
            .header(axum::http::header::CONTENT_TYPE, content_type);
        (request, axum::body::Body::from(body))
    };
    let before = world.audit_actions().await.len();
    let good = std::fs::read(fixtures.join("sp-metadata.xml")).unwrap();
    for (file, csrf_value, status, said) in [
        (
            std::fs::read(fixtures.join("sp-metadata-doctype.xml")).unwrap(),
            csrf.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "DOCTYPE",
        ),
        (b"<not metadata/>".to_vec(), csrf.clone(), StatusCode::UNPROCESSABLE_ENTITY, "sp_metadata"),
        (vec![b' '; 1_100_000], csrf.clone(), StatusCode::UNPROCESSABLE_ENTITY, "larger than 1 MiB"),
        (good.clone(), "forged".to_string(), StatusCode::FORBIDDEN, "expired"),
    ] {
        let (request, body) =
            post(vec![("csrf", csrf_value), ("label", "Wiki SP".into()), ("show_in_portal", "on".into())], file);
        let response = admin.send(request, body).await;
        assert_eq!(response.status, status, "{said}: {}", response.body);
        assert!(response.body.contains(said), "{said}: {}", response.body);
    }
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    let (request, body) =
        post(vec![("csrf", csrf.clone()), ("label", "Wiki SP".into()), ("show_in_portal", "on".into())], good);
    let saved = admin.send(request, body).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let app = world.store.find_app("Wiki SP").await.unwrap();
    assert!(matches!(app.kind, tessera_core::AppKind::Saml(_)));
    let sso = admin.get(&format!("/admin/applications/{}/sso", app.id)).await;
    assert!(sso.body.contains("IdP Entity ID") && sso.body.contains("Export Metadata"), "{}", sso.body);
}

/// A Microsoft 365 connector's SSO tab names the realms whose computers get hybrid join tokens:
/// one that is no realm is refused and changes nothing; realms are kept upper case, once each.
#[tokio::test]
async fn the_sso_tab_names_the_domains_whose_computers_get_device_tokens() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let csrf = admin.csrf();
    let sso = format!("/admin/applications/{}/sso", apps.m365);
    let page = admin.get(&sso).await;
    assert!(page.body.contains("<label for=\"device_realms\">Hybrid join"), "{}", page.body);
    let before = world.audit_actions().await.len();
    let bad =
        admin.post(&sso, &[("csrf", &csrf), ("attributes", ""), ("device_realms", "CORP.TEST\nnot a realm")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\"") && bad.body.contains("is not a Kerberos realm"), "{}", bad.body);
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    let realms = "corp.test\r\nCORP.TEST\r\n fabrikam.test \r\n";
    let saved = admin.post(&sso, &[("csrf", &csrf), ("attributes", ""), ("device_realms", realms)]).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let tessera_core::AppKind::M365(connector) = world.store.find_app(&apps.m365).await.unwrap().kind else { panic!() };
    assert_eq!(connector.device_realms, ["CORP.TEST", "FABRIKAM.TEST"]);
    assert!(saved.body.contains("CORP.TEST\nFABRIKAM.TEST</textarea>"), "{}", saved.body);
    // A form without the field (a page from before it) leaves them as they are.
    let older = admin.post(&sso, &[("csrf", &csrf), ("attributes", "")]).await;
    assert_eq!(older.status, StatusCode::OK, "{}", older.body);
    let tessera_core::AppKind::M365(connector) = world.store.find_app(&apps.m365).await.unwrap().kind else { panic!() };
    assert_eq!(connector.device_realms, ["CORP.TEST", "FABRIKAM.TEST"]);
}

#[tokio::test]
async fn general_and_access_policy_are_changed_from_their_tabs_and_bad_values_change_nothing() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let csrf = admin.csrf();
    let general = format!("/admin/applications/{}/general", apps.m365);
    let policy = format!("/admin/applications/{}/policy", apps.m365);
    let before = world.audit_actions().await.len();

    let taken = admin.post(&general, &[("label", "wiki"), ("description", ""), ("csrf", &csrf)]).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert!(taken.body.contains("role=\"alert\"") && taken.body.contains("exists already"), "{}", taken.body);
    let bad =
        admin.post(&policy, &[("require_mfa", "on"), ("networks", "10.0.0.0/8\n10.1.2.3/8"), ("csrf", &csrf)]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""), "{}", bad.body);
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    let unchanged = world.store.find_app(&apps.m365).await.unwrap();
    assert_eq!((unchanged.label.as_str(), unchanged.policy.require_mfa), ("M365", false));
    // A passkey only, or a passkey alone, where browsers will not use passkeys (this world's
    // public URL is an address): refused, saying why. An unknown level too.
    for fields in
        [[("require_mfa", "phishing-resistant"), ("passwordless", "")], [("require_mfa", "no"), ("passwordless", "on")]]
    {
        let refused = admin.post(&policy, &[fields[0], fields[1], ("networks", ""), ("csrf", &csrf)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(refused.body.contains("IP address"), "{}", refused.body);
    }
    let unknown = admin.post(&policy, &[("require_mfa", "perhaps"), ("networks", ""), ("csrf", &csrf)]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unknown.body);
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");

    let saved =
        admin.post(&general, &[("label", "Microsoft 365"), ("description", "Mail & Office"), ("csrf", &csrf)]).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("Saved."));
    let saved = admin.post(&policy, &[("require_mfa", "on"), ("networks", " 10.0.0.0/8 \r\n"), ("csrf", &csrf)]).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let app = world.store.find_app(&apps.m365).await.unwrap();
    assert_eq!(
        (app.label.as_str(), app.description.as_str(), app.show_in_portal),
        ("Microsoft 365", "Mail & Office", false)
    );
    assert!(app.policy.require_mfa);
    assert!(saved.body.contains(r#"<option value="yes" selected>"#), "the form shows the level: {}", saved.body);
    assert_eq!(app.policy.allowed_networks.iter().map(ToString::to_string).collect::<Vec<_>>(), ["10.0.0.0/8"]);
    let actions = world.audit_actions().await;
    assert_eq!(&actions[before..], ["app.update", "app.set_policy"]);
    // Saving the same again writes nothing.
    admin.post(&general, &[("label", "Microsoft 365"), ("description", "Mail & Office"), ("csrf", &csrf)]).await;
    admin.post(&policy, &[("require_mfa", "on"), ("networks", "10.0.0.0/8"), ("csrf", &csrf)]).await;
    assert_eq!(world.audit_actions().await.len(), before + 2);
}

#[tokio::test]
async fn the_catalog_takes_saml_apps_typed_or_by_url_and_ws_federation_relying_parties() {
    let (world, _) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let csrf = admin.csrf();
    let searched = admin.get("/admin/applications/new?q=federation").await;
    assert!(searched.body.contains("WS-Federation Relying Party"), "{}", searched.body);
    assert!(!searched.body.contains("Bookmark"), "{}", searched.body);
    let before = world.audit_actions().await.len();
    let apps_before = world.store.list_apps(&tessera_store::PageRequest::first(100)).await.unwrap().items.len();

    let metadata = std::fs::read(super::saml::workspace().join("fixtures/saml/sp-metadata.xml")).unwrap();
    let saml = |extra: &[(&'static str, &'static str)]| {
        let mut fields = vec![("csrf", csrf.clone()), ("label", "Typed SP".to_string())];
        fields.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        fields
    };
    type Case<'a> = (Vec<(&'a str, String)>, Vec<(&'a str, &'a [u8])>, &'a str);
    let refusals: Vec<Case> = vec![
        (saml(&[]), vec![], "Give the service provider"),
        (
            saml(&[("sp_metadata_url", "https://sp.example.com/metadata")]),
            vec![("sp_metadata", &metadata)],
            "one way only",
        ),
        (
            saml(&[
                ("entity_id", "https://sp.example.com/"),
                ("acs_url", "https://sp.example.com/acs"),
                ("certificate", "not a certificate"),
            ]),
            vec![],
            "certificate",
        ),
        (saml(&[("entity_id", "https://sp.example.com/"), ("acs_url", "http://sp.example.com/acs")]), vec![], "acs"),
        (saml(&[("sp_metadata_url", "https://127.0.0.1/metadata")]), vec![], "a loopback address"),
        (saml(&[("sp_metadata_url", "https://169.254.169.254/latest/meta-data/")]), vec![], "link-local"),
        (saml(&[("sp_metadata_url", "https://10.0.0.5/metadata")]), vec![], "a private address"),
        (saml(&[("sp_metadata_url", "https://[::1]/metadata")]), vec![], "a loopback address"),
        (saml(&[("sp_metadata_url", "https://localhost/metadata")]), vec![], "a loopback address"),
        (saml(&[("sp_metadata_url", "http://sp.example.com/metadata")]), vec![], "only https"),
        (saml(&[("sp_metadata_url", "file:///etc/passwd")]), vec![], "only https"),
    ];
    for (fields, files, said) in refusals {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (request, body) = multipart_post("/admin/applications/new/saml", &fields, &files);
        let refused = admin.send(request, body).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{said}: {}", refused.body);
        assert!(refused.body.contains("role=\"alert\"") && refused.body.contains(said), "{said}: {}", refused.body);
    }
    let wsfed_bad = [
        ("csrf", csrf.as_str()),
        ("label", "RP"),
        ("realm", "urn:example:rp"),
        ("reply_urls", "http://rp.example.com/"),
    ];
    let refused = admin.post("/admin/applications/new/wsfed", &wsfed_bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    assert_eq!(world.store.list_apps(&tessera_store::PageRequest::first(100)).await.unwrap().items.len(), apps_before);

    let typed = saml(&[
        ("entity_id", "https://sp.example.com/"),
        ("acs_url", "https://sp.example.com/acs"),
        ("slo_url", "https://sp.example.com/slo"),
    ]);
    let typed: Vec<(&str, &str)> = typed.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (request, body) = multipart_post("/admin/applications/new/saml", &typed, &[]);
    let created = admin.send(request, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let app = world.store.find_app("Typed SP").await.unwrap();
    let tessera_core::AppKind::Saml(sp) = &app.kind else { panic!("{:?}", app.kind) };
    assert_eq!(
        (sp.entity_id.as_str(), sp.acs[0].url.as_str(), sp.sign_requests),
        ("https://sp.example.com/", "https://sp.example.com/acs", false)
    );
    assert_eq!(sp.slo.as_ref().map(|s| s.url.as_str()), Some("https://sp.example.com/slo"));

    let wsfed = [
        ("csrf", csrf.as_str()),
        ("label", "Timesheets"),
        ("realm", "urn:example:timesheets"),
        ("reply_urls", "https://timesheets.example.com/wsfed\r\nhttps://timesheets.example.com/alt\r\n"),
    ];
    let created = admin.post("/admin/applications/new/wsfed", &wsfed).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let app = world.store.find_app("Timesheets").await.unwrap();
    let tessera_core::AppKind::WsFed(rp) = &app.kind else { panic!("{:?}", app.kind) };
    assert_eq!(rp.realm, "urn:example:timesheets");
    assert_eq!(rp.reply_urls.len(), 2);
    let sso = admin.get(&format!("/admin/applications/{}/sso", app.id)).await;
    assert!(sso.body.contains("IdP Entity ID") && sso.body.contains("urn:example:timesheets"), "{}", sso.body);
}

#[tokio::test]
async fn the_sso_tab_edits_what_tokens_carry_and_the_sign_ins_tab_lists_what_users_did() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let csrf = admin.csrf();
    let typed = [
        ("csrf", csrf.as_str()),
        ("label", "Typed SP"),
        ("entity_id", "https://sp.example.com/"),
        ("acs_url", "https://sp.example.com/acs"),
    ];
    let (request, body) = multipart_post("/admin/applications/new/saml", &typed, &[]);
    assert_eq!(admin.send(request, body).await.status, StatusCode::CREATED);
    let app = world.store.find_app("Typed SP").await.unwrap();
    let sso = format!("/admin/applications/{}/sso", app.id);
    let page = admin.get(&sso).await;
    assert!(page.body.contains("SP Entity ID") && page.body.contains("https://sp.example.com/acs"), "{}", page.body);
    assert!(page.body.contains("Additional attributes") && page.body.contains("Name ID source"), "{}", page.body);

    let before = world.audit_actions().await.len();
    let form = |format: &'static str, source: &'static str, attributes: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name_id_format", format.to_string()),
            ("name_id_source", source.to_string()),
            ("attributes", attributes.to_string()),
            ("sign_response", "on".to_string()),
            ("idp_initiated", "on".to_string()),
        ]
    };
    let persistent = tessera_core::app::NAMEID_PERSISTENT;
    for (fields, said) in [
        (form(persistent, "upn", "nonsense"), "NAME=SOURCE"),
        (form(persistent, "password", ""), "is not one of"),
        (form("urn:evil", "upn", ""), "NameID formats offered"),
        (form(persistent, "upn", "mail=email\nmail=upn"), "mail"),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = admin.post(&sso, &fields).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{said}: {}", refused.body);
        assert!(refused.body.contains("role=\"alert\"") && refused.body.contains(said), "{said}: {}", refused.body);
    }
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    let good = form(persistent, "upn", "mail=email\r\ngivenName=first_name");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = admin.post(&sso, &good).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let tessera_core::AppKind::Saml(sp) = world.store.find_app("Typed SP").await.unwrap().kind else { panic!() };
    assert_eq!(
        (sp.name_id_format.as_str(), sp.name_id_source, sp.sign_response),
        (persistent, tessera_core::UserAttribute::Upn, true)
    );
    assert_eq!(sp.attribute_mappings.len(), 2);
    admin.post(&sso, &good).await;
    assert_eq!(world.audit_actions().await.len(), before + 1, "an unchanged save writes nothing");

    // A user opens the bookmark from the portal; its Sign-ins tab says who, when and how.
    let sign_ins = format!("/admin/applications/{}/sign-ins", apps.granted);
    assert!(admin.get(&sign_ins).await.body.contains("Nobody has signed in"));
    let mut user = Browser::new(&world).from("10.0.0.9");
    user.login("alice@contoso.com", super::signin::PASSWORD, "").await;
    let csrf_user = user.csrf();
    user.post("/notice", &[("csrf", &csrf_user), ("continue", "")]).await;
    let launched = user.get(&format!("/launch/{}", apps.granted)).await;
    assert_eq!(launched.location.as_deref(), Some("https://wiki.contoso.com/"));
    let tab = admin.get(&sign_ins).await;
    assert!(
        tab.body.contains("Opened from the User Portal")
            && tab.body.contains("alice@contoso.com")
            && tab.body.contains("10.0.0.9"),
        "{}",
        tab.body
    );
    assert!(
        !admin
            .get(&format!("/admin/applications/{}/sign-ins", apps.not_granted))
            .await
            .body
            .contains("alice@contoso.com")
    );
}

/// Every route of the portal, posted by a signed-in administrator with a forged form token:
/// refused (403, or 405 where the route takes no POST), and nothing written.
#[tokio::test]
async fn every_portal_form_refuses_a_forged_token_from_a_signed_in_administrator() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let before = world.audit_actions().await.len();
    let mut refused = 0;
    for template in tessera_web::admin_portal_paths() {
        let path = template.replace("{app}", &apps.m365).replace("{kind}", "bookmark");
        let fields = [
            ("csrf", "forged"),
            ("label", "Forged"),
            ("url", "https://forged.example/"),
            ("group", "Staff"),
            ("id", apps.granted.as_str()),
            ("count", "1"),
        ];
        let response = admin.post(&path, &fields).await;
        match response.status {
            StatusCode::METHOD_NOT_ALLOWED => {}
            StatusCode::FORBIDDEN => refused += 1,
            other => panic!("{path}: {other}: {}", response.body),
        }
    }
    assert!(refused >= 12, "every form: {refused}");
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    assert_eq!(admin.get("/admin/applications").await.status, StatusCode::OK, "still signed in");
    // With the right token, but no token field, or from another site as the browser says
    // (`Origin`, `Sec-Fetch-Site`): refused the same (SECURITY.md §5 item 28).
    let csrf = admin.csrf();
    let cross_site =
        [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-site")];
    for template in tessera_web::admin_portal_paths() {
        let path = template.replace("{app}", &apps.m365).replace("{kind}", "bookmark");
        let fields = [("label", "Forged"), ("url", "https://forged.example/"), ("group", "Staff"), ("count", "1")];
        let mut answers = vec![admin.post(&path, &fields).await.status];
        for (name, value) in cross_site {
            let mut elsewhere = Browser::new(&world).from("10.0.0.7").header(name, value);
            elsewhere.cookies = admin.cookies.clone();
            let mut with_token = fields.to_vec();
            with_token.push(("csrf", &csrf));
            answers.push(elsewhere.post(&path, &with_token).await.status);
        }
        for status in answers {
            assert!(status == StatusCode::FORBIDDEN || status == StatusCode::METHOD_NOT_ALLOWED, "{path}: {status}");
        }
    }
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    // A text form over 64 KiB is not read.
    let csrf = admin.csrf();
    let huge = "x".repeat(70 * 1024);
    let big =
        admin.post(&format!("/admin/applications/{}/policy", apps.m365), &[("csrf", &csrf), ("networks", &huge)]).await;
    assert_ne!(big.status, StatusCode::OK);
    assert_eq!(world.audit_actions().await.len(), before);
}
