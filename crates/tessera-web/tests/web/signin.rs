//! Signing in, driven in-process through a small browser (a cookie jar over the router).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tessera_core::app::M365Config;
use tessera_core::policy::AccessPolicy;
use tessera_core::{Actor, AppKind, NewApplication, NewGroup, NewUser, UserState};
use tessera_core::{Clock, ManualClock, SystemClock};
use tessera_store::{AuditQuery, SqliteStore, Store};
use tessera_web::SignInConfig;
use tower::ServiceExt;

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) struct World {
    pub(crate) router: Router,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Arc<tessera_keys::KeyService>,
    _dir: tempfile::TempDir,
}

pub(crate) struct Apps {
    pub(crate) granted: String,
    pub(crate) not_granted: String,
    pub(crate) m365: String,
}

impl World {
    pub(crate) async fn new(config: SignInConfig) -> (World, Apps) {
        World::build(config, "http://127.0.0.1:8080").await
    }

    pub(crate) async fn build(config: SignInConfig, public_url: &str) -> (World, Apps) {
        World::build_with_clock(config, public_url, Arc::new(SystemClock)).await
    }

    /// A world whose every rule and record reads `clock`, which the test moves.
    pub(crate) async fn on_clock(config: SignInConfig, clock: Arc<ManualClock>) -> (World, Apps) {
        World::build_with_clock(config, "http://127.0.0.1:8080", clock).await
    }

    pub(crate) async fn build_with_clock(
        config: SignInConfig,
        public_url: &str,
        clock: Arc<dyn Clock>,
    ) -> (World, Apps) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open_file(&dir.path().join("t.db"), clock.clone()).await.unwrap());
        let keys = Arc::new(tessera_keys::KeyService::open(store.clone(), &[1u8; 32], clock.clone()).await.unwrap());
        let actor = Actor::system();
        for (email, state) in [("alice@contoso.com", UserState::Active), ("sam@contoso.com", UserState::Suspended)] {
            let mut user = NewUser::new(email, None, None, None, None, || format!("id-{email}")).unwrap();
            user.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
            let user = store.create_user(&actor, user).await.unwrap();
            store.set_user_state(&actor, user.id, state).await.unwrap();
        }
        let staff = store.create_group(&actor, NewGroup::new("Staff", None).unwrap()).await.unwrap();
        for email in ["alice@contoso.com", "sam@contoso.com"] {
            let user = store.find_user(email).await.unwrap();
            store.add_member(&actor, staff.id, user.id).await.unwrap();
        }
        let bookmark = |label: &str, url: &str| {
            NewApplication::new(
                "http://127.0.0.1:8080",
                label,
                Some("a description"),
                None,
                true,
                AppKind::Bookmark { url: url.into() },
            )
            .unwrap()
        };
        let granted = store.create_app(&actor, bookmark("Wiki", "https://wiki.contoso.com/"), None).await.unwrap();
        let not_granted =
            store.create_app(&actor, bookmark("Payroll", "https://payroll.contoso.com/"), None).await.unwrap();
        let m365 = contoso_m365();
        let key = keys.new_key(m365.id, "M365", tessera_keys::KeySize::Rsa2048, 30).await.unwrap();
        let m365 = store.create_app(&actor, m365, Some(key)).await.unwrap();
        store.grant(&actor, granted.id, staff.id).await.unwrap();
        store.grant(&actor, m365.id, staff.id).await.unwrap();
        let router = tessera_web::router(
            tessera_web::AppState::new(store.clone(), clock, keys.clone(), public_url, config, None).unwrap(),
        );
        let apps = Apps {
            granted: granted.id.to_string(),
            not_granted: not_granted.id.to_string(),
            m365: m365.id.to_string(),
        };
        (World { router, store, keys, _dir: dir }, apps)
    }

    pub(crate) async fn audit_actions(&self) -> Vec<String> {
        let events = self.store.list_audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
        events.into_iter().map(|e| e.action).collect()
    }
}

/// Tests run behind 127.0.0.1 (the in-process peer), trusted as a proxy so that each test can
/// say which client address a request comes from.
pub(crate) fn config() -> SignInConfig {
    let mut config = SignInConfig { trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()], ..Default::default() };
    config.lockout.unknown_threshold = 3;
    config.lockout.familiar_threshold = 3;
    config.lockout.spray_names = 4;
    config
}

pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
    pub(crate) headers: axum::http::HeaderMap,
}

pub(crate) struct Browser<'w> {
    world: &'w World,
    pub(crate) cookies: HashMap<String, String>,
    ip: String,
    /// The TCP peer the server sees (127.0.0.1, the trusted proxy of `config()`, when unset).
    peer: Option<std::net::SocketAddr>,
    /// Headers sent besides the cookies and `X-Forwarded-For`.
    extra: Vec<(&'static str, String)>,
}

impl<'w> Browser<'w> {
    pub(crate) fn new(world: &'w World) -> Self {
        Browser { world, cookies: HashMap::new(), ip: "10.0.0.1".into(), peer: None, extra: Vec::new() }
    }

    pub(crate) fn from(mut self, ip: &str) -> Self {
        self.ip = ip.into();
        self
    }

    /// Connected from `ip` itself, as the server's socket sees it.
    pub(crate) fn peer(mut self, ip: &str) -> Self {
        self.peer = Some(std::net::SocketAddr::new(ip.parse().unwrap(), 50_000));
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Self {
        self.extra.push((name, value.to_string()));
        self
    }

    pub(crate) async fn send(&mut self, request: axum::http::request::Builder, body: Body) -> Response {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = request.header("x-forwarded-for", &self.ip);
        if let Some(peer) = self.peer {
            request = request.extension(axum::extract::ConnectInfo(peer));
        }
        for (name, value) in &self.extra {
            request = request.header(*name, value);
        }
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie.join("; "));
        }
        let response = self.world.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let text = set.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let status = response.status();
        let location = response.headers().get(header::LOCATION).map(|l| l.to_str().unwrap().to_string());
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Response { status, location, body: String::from_utf8_lossy(&bytes).into_owned(), headers }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Response {
        self.send(Request::get(path), Body::empty()).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", form_encode(v))).collect();
        let request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(request, Body::from(body.join("&"))).await
    }

    pub(crate) fn csrf(&self) -> String {
        self.cookies.get("tessera_csrf").cloned().unwrap_or_default()
    }

    pub(crate) async fn login(&mut self, username: &str, password: &str, continue_id: &str) -> Response {
        self.get(&format!("/login?continue={continue_id}")).await;
        let csrf = self.csrf();
        self.post(
            "/login",
            &[("username", username), ("password", password), ("csrf", &csrf), ("continue", continue_id)],
        )
        .await
    }

    /// Signs in and acknowledges the notice: a fully signed-in browser.
    pub(crate) async fn signed_in(world: &'w World, ip: &str) -> Browser<'w> {
        let mut browser = Browser::new(world).from(ip);
        let response = browser.login("alice@contoso.com", PASSWORD, "").await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        if response.location.as_deref() == Some("/notice") {
            let csrf = browser.csrf();
            browser.post("/notice", &[("csrf", &csrf), ("continue", "")]).await;
        }
        browser
    }
}

pub(crate) fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn pages_carry_security_headers_and_need_sign_in() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::new(&world);
    let portal = browser.get("/").await;
    assert_eq!((portal.status, portal.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")));
    let login = browser.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    for (name, expected) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(login.headers.get(name).unwrap(), expected, "{name}");
    }
    let csp = login.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
    assert!(login.headers.get("strict-transport-security").is_none(), "no HSTS on a plain-http deployment");
    let set_cookie = login.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict") && !set_cookie.contains("Secure")
    );
    assert!(login.body.contains("name=\"password\""));
    assert!(!browser.csrf().is_empty(), "the form's CSRF cookie is set");
}

#[tokio::test]
async fn sign_in_notice_portal_and_launch() {
    let (world, apps) = World::new(config()).await;
    let mut browser = Browser::new(&world);
    let first = browser.login("ALICE@contoso.com", PASSWORD, "").await;
    assert_eq!(first.location.as_deref(), Some("/notice"), "the notice comes first, once");
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/notice"), "no portal before the notice");
    let csrf = browser.csrf();
    assert_eq!(browser.post("/notice", &[("csrf", &csrf), ("continue", "")]).await.location.as_deref(), Some("/"));
    let portal = browser.get("/").await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("Wiki") && portal.body.contains("M365"), "{}", portal.body);
    assert!(!portal.body.contains("Payroll"), "an app the user may not use never appears");
    let launch = browser.get(&format!("/launch/{}", apps.granted)).await;
    assert_eq!(launch.location.as_deref(), Some("https://wiki.contoso.com/"));
    let m365 = browser.get(&format!("/launch/{}", apps.m365)).await;
    assert_eq!(
        m365.location.as_deref(),
        Some("https://login.microsoftonline.com/login.srf?wa=wsignin1.0&whr=contoso.com")
    );
    let refused = browser.get(&format!("/launch/{}", apps.not_granted)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("do not have access"), "{}", refused.body);
    assert_eq!(browser.get("/launch/not-an-id").await.status, StatusCode::NOT_FOUND);

    // The notice is not shown again.
    let mut again = Browser::new(&world);
    assert_eq!(again.login("alice@contoso.com", PASSWORD, "").await.location.as_deref(), Some("/"));
    let actions = world.audit_actions().await;
    for action in ["signin.password", "user.notice_acknowledged", "signin.launch", "signin.denied"] {
        assert!(actions.iter().any(|a| a == action), "{action} missing from {actions:?}");
    }
}

#[tokio::test]
async fn every_failure_gets_the_same_answer() {
    let (world, _) = World::new(config()).await;
    let attempt = |username: &'static str, password: &'static str, ip: &'static str| {
        let world = &world;
        async move {
            let mut browser = Browser::new(world).from(ip);
            let response = browser.login(username, password, "").await;
            (response.status, response.body.replace(username, "USER").replace(&browser.csrf(), "CSRF"))
        }
    };
    let wrong = attempt("alice@contoso.com", "wrong password!", "10.9.0.1").await;
    let unknown = attempt("nobody@contoso.com", "wrong password!", "10.9.0.2").await;
    let suspended = attempt("sam@contoso.com", PASSWORD, "10.9.0.3").await;
    for _ in 0..3 {
        attempt("alice@contoso.com", "wrong again!!", "10.9.0.4").await;
    }
    let locked = attempt("alice@contoso.com", PASSWORD, "10.9.0.4").await;
    assert_eq!(wrong.0, StatusCode::OK);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, suspended);
    assert_eq!(wrong, locked, "a locked user with the right password is told nothing more");
    assert!(wrong.1.contains("The email or password is incorrect"));
    assert!(
        world
            .store
            .list_audit(&AuditQuery { limit: 100, ..Default::default() })
            .await
            .unwrap()
            .iter()
            .any(|e| e.summary["reason"] == "locked_out")
    );
}

#[tokio::test]
async fn a_sign_in_past_the_password_gate_is_told_to_retry_and_nothing_is_written() {
    use std::time::Duration;
    use tessera_auth::gate::{GateLimits, PasswordGate};
    let gate = PasswordGate::new(GateLimits { concurrent: 1, ahead: 0, queue: 0, wait: Duration::from_millis(1) });
    let config = SignInConfig { password_gate: gate.clone(), ..config() };
    let (world, _) = World::build(config, "http://127.0.0.1:8080").await;
    let before = world.audit_actions().await.len();
    let taken = gate.turn().await.unwrap();
    let mut browser = Browser::new(&world);
    let busy = browser.login("alice@contoso.com", PASSWORD, "").await;
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE, "{}", busy.body);
    assert_eq!(busy.headers[header::RETRY_AFTER], "2");
    assert!(busy.body.contains("Try again in a few seconds"), "{}", busy.body);
    assert!(busy.headers.get(header::SET_COOKIE).is_none_or(|c| !c.to_str().unwrap().starts_with("tessera_session")));
    assert_eq!(world.audit_actions().await.len(), before, "no failure recorded, nothing counted");
    drop(taken);
    let signed_in = browser.login("alice@contoso.com", PASSWORD, "").await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
}

#[tokio::test]
async fn forms_without_our_csrf_token_are_refused() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::new(&world);
    browser.get("/login").await;
    let fields = [("username", "alice@contoso.com"), ("password", PASSWORD)];
    let missing = browser.post("/login", &fields).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let wrong = browser.post("/login", &[fields[0], fields[1], ("csrf", "forged")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let csrf = browser.csrf();
    let foreign = browser
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("origin", "https://evil.example"),
            Body::from(format!("username=alice%40contoso.com&password=correct+horse+battery&csrf={csrf}")),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    let cross_site = browser
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site"),
            Body::from(format!("username=alice%40contoso.com&password=correct+horse+battery&csrf={csrf}")),
        )
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key("tessera_session"), "no session was made");
    assert!(!world.audit_actions().await.iter().any(|a| a == "signin.password"));
    // What Chromium sends for our own form under `Referrer-Policy: no-referrer`.
    let own_form = browser
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("origin", "null")
                .header("sec-fetch-site", "same-origin"),
            Body::from(format!("username=alice%40contoso.com&password=correct+horse+battery&csrf={csrf}")),
        )
        .await;
    assert_eq!(own_form.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_planted_session_id_is_replaced_at_sign_in() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::new(&world);
    browser.cookies.insert("tessera_session".into(), "planted-by-attacker".into());
    browser.login("alice@contoso.com", PASSWORD, "").await;
    let issued = browser.cookies.get("tessera_session").cloned().unwrap();
    assert_ne!(issued, "planted-by-attacker");
    let mut attacker = Browser::new(&world);
    attacker.cookies.insert("tessera_session".into(), "planted-by-attacker".into());
    assert_eq!(attacker.get("/").await.location.as_deref(), Some("/login"));
}

#[tokio::test]
async fn smart_lockout_spares_familiar_locations() {
    let (world, _) = World::new(config()).await;
    // Alice signs in from the office once: 10.0.0.1 becomes familiar.
    Browser::signed_in(&world, "10.0.0.1").await;
    // An attacker fails three times from elsewhere: the unknown counter reaches the threshold.
    for _ in 0..3 {
        let mut attacker = Browser::new(&world).from("198.51.100.66");
        attacker.login("alice@contoso.com", "guess guess guess", "").await;
    }
    let mut attacker = Browser::new(&world).from("198.51.100.66");
    assert_eq!(
        attacker.login("alice@contoso.com", PASSWORD, "").await.status,
        StatusCode::OK,
        "locked for unknown locations"
    );
    // Not only the status: no session was made (SECURITY.md §5 item 25).
    assert!(!attacker.cookies.contains_key("tessera_session"), "{:?}", attacker.cookies);
    assert_eq!(attacker.get("/").await.location.as_deref(), Some("/login"), "not signed in");
    // A forwarded header naming the familiar address does not help from the attacker's host:
    // every presented address must be familiar.
    let mut spoofer = Browser::new(&world).from("10.0.0.1, 198.51.100.66");
    assert_eq!(spoofer.login("alice@contoso.com", PASSWORD, "").await.status, StatusCode::OK);
    assert!(!spoofer.cookies.contains_key("tessera_session"), "no session for the spoofer either");
    // Alice still gets in from the office.
    let mut alice = Browser::new(&world).from("10.0.0.1");
    assert_eq!(alice.login("alice@contoso.com", PASSWORD, "").await.status, StatusCode::SEE_OTHER);
}

/// SECURITY.md §5 item 26: with no proxy trusted, `X-Forwarded-For` and
/// `x-ms-forwarded-client-ip` from the peer are ignored for familiarity, lockout and the spray
/// counter: an attacker naming Alice's office counts as the stranger it is, and rotating the
/// headers does not spread a spray over many addresses.
#[tokio::test]
async fn forwarded_addresses_from_an_untrusted_peer_change_no_lockout_or_spray_key() {
    let (world, _) = World::new(SignInConfig { trusted_proxies: Vec::new(), ..config() }).await;
    // Alice signs in from the office (the socket's address; no header).
    let mut office = Browser::new(&world).peer("10.0.0.1").from("10.0.0.1");
    assert_eq!(office.login("alice@contoso.com", PASSWORD, "").await.status, StatusCode::SEE_OTHER);
    // An attacker elsewhere claims the office in both headers and fails three times: the
    // failures are a stranger's, so Alice's familiar location is untouched.
    let spoofing = |world| {
        Browser::new(world).peer("198.51.100.66").from("10.0.0.1").header("x-ms-forwarded-client-ip", "10.0.0.1")
    };
    for _ in 0..3 {
        spoofing(&world).login("alice@contoso.com", "guess guess guess", "").await;
    }
    let mut attacker = spoofing(&world);
    assert_eq!(attacker.login("alice@contoso.com", PASSWORD, "").await.status, StatusCode::OK, "locked for strangers");
    assert!(!attacker.cookies.contains_key("tessera_session"));
    let mut alice = Browser::new(&world).peer("10.0.0.1").from("10.0.0.1");
    assert_eq!(
        alice.login("alice@contoso.com", PASSWORD, "").await.status,
        StatusCode::SEE_OTHER,
        "the office is spared"
    );
    // One host spraying four names under four made-up addresses is still one address.
    for (n, name) in ["a@contoso.com", "b@contoso.com", "c@contoso.com", "d@contoso.com"].iter().enumerate() {
        let made_up = format!("203.0.113.{n}");
        Browser::new(&world)
            .peer("192.0.2.50")
            .from(&made_up)
            .header("x-ms-forwarded-client-ip", &made_up)
            .login(name, "Winter2026!", "")
            .await;
    }
    let mut sprayer = Browser::new(&world).peer("192.0.2.50").from("203.0.113.99");
    assert_eq!(sprayer.login("alice@contoso.com", PASSWORD, "").await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn password_spraying_is_throttled_per_address() {
    let (world, _) = World::new(config()).await;
    for name in ["a@contoso.com", "b@contoso.com", "c@contoso.com", "d@contoso.com"] {
        Browser::new(&world).from("192.0.2.50").login(name, "Winter2026!", "").await;
    }
    let mut sprayer = Browser::new(&world).from("192.0.2.50");
    let throttled = sprayer.login("alice@contoso.com", PASSWORD, "").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(world.audit_actions().await.iter().any(|a| a == "signin.throttled"));
    // Alice elsewhere is unaffected.
    let mut alice = Browser::new(&world).from("10.0.0.1");
    assert_eq!(alice.login("alice@contoso.com", PASSWORD, "").await.status, StatusCode::SEE_OTHER);
}

pub(crate) fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

pub(crate) fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap() + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

pub(crate) fn now_seconds() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn totp_enrolment_sign_in_replay_and_recovery_codes() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    let enroll = browser.get("/mfa/totp").await;
    assert_eq!(enroll.status, StatusCode::OK);
    assert!(enroll.body.contains("<svg") && enroll.body.contains("otpauth://totp/Tessera:alice@contoso.com"));
    let secret = base32_decode(between(&enroll.body, "<code id=\"secret\">", "</code>"));
    let csrf = browser.csrf();
    let bad = browser.post("/mfa/totp", &[("csrf", &csrf), ("code", "000000"), ("continue", "")]).await;
    assert!(bad.body.contains("not right"), "a wrong code does not enrol");
    let step = tessera_auth::totp::step_at(now_seconds());
    let code = format!("{:06}", tessera_auth::totp::code_at(&secret, step));
    let done = browser.post("/mfa/totp", &[("csrf", &csrf), ("code", &code), ("continue", "")]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let codes: Vec<String> = done
        .body
        .match_indices("<li><code>")
        .map(|(i, _)| between(&done.body[i..], "<li><code>", "</code>").to_string())
        .collect();
    assert_eq!(codes.len(), 10);

    // Next sign-in asks for the second factor.
    let mut next = Browser::new(&world).from("10.0.0.1");
    let after_password = next.login("alice@contoso.com", PASSWORD, "").await;
    assert_eq!(after_password.location.as_deref(), Some("/login/mfa"));
    assert_eq!(next.get("/").await.location.as_deref(), Some("/login/mfa"), "half signed-in is not signed in");
    let csrf = next.csrf();
    let replay = next.post("/login/mfa", &[("csrf", &csrf), ("code", &code), ("continue", "")]).await;
    assert!(replay.body.contains("not right"), "a code is good once");
    let fresh = format!("{:06}", tessera_auth::totp::code_at(&secret, step + 1));
    let session_before = next.cookies.get("tessera_session").cloned();
    let ok = next.post("/login/mfa", &[("csrf", &csrf), ("code", &fresh), ("continue", "")]).await;
    assert_eq!(ok.location.as_deref(), Some("/"), "{}", ok.body);
    assert_ne!(next.cookies.get("tessera_session").cloned(), session_before, "a new session id after MFA");
    // The half-signed-in id it replaced opens nothing now (SECURITY.md §5 item 29).
    let mut fixated = Browser::new(&world).from("10.0.0.1");
    fixated.cookies.insert("tessera_session".into(), session_before.unwrap());
    assert_eq!(fixated.get("/").await.location.as_deref(), Some("/login"), "nor is it half signed-in still");

    // A recovery code works once.
    for expected in [Some("/"), None] {
        let mut lost_phone = Browser::new(&world).from("10.0.0.1");
        lost_phone.login("alice@contoso.com", PASSWORD, "").await;
        let csrf = lost_phone.csrf();
        let response = lost_phone
            .post("/login/mfa", &[("csrf", &csrf), ("code", &codes[0].to_uppercase()), ("continue", "")])
            .await;
        assert_eq!(response.location.as_deref(), expected);
    }
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    assert_eq!(world.store.recovery_codes_left(alice.id).await.unwrap(), 9);
    let actions = world.audit_actions().await;
    assert!(actions.iter().any(|a| a == "user.mfa_enroll") && actions.iter().any(|a| a == "signin.mfa_failure"));

    // An administrator's reset: the next sign-in needs the password only.
    assert!(world.store.reset_mfa(&Actor::system(), alice.id).await.unwrap());
    let mut after_reset = Browser::new(&world).from("10.0.0.1");
    assert_eq!(after_reset.login("alice@contoso.com", PASSWORD, "").await.location.as_deref(), Some("/"));
}

#[tokio::test]
async fn app_policy_requires_mfa_and_networks() {
    let (world, apps) = World::new(config()).await;
    let app: tessera_core::AppId = apps.granted.parse().unwrap();
    let policy =
        AccessPolicy { require_mfa: true, allowed_networks: vec!["10.0.0.0/8".parse().unwrap()], ..Default::default() };
    world.store.set_app_policy(&Actor::system(), app, &policy).await.unwrap();

    let mut outside = Browser::signed_in(&world, "203.0.113.5").await;
    let denied = outside.get(&format!("/launch/{}", apps.granted)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("network you are on"), "{}", denied.body);

    let mut inside = Browser::signed_in(&world, "10.1.2.3").await;
    let step_up = inside.get(&format!("/launch/{}", apps.granted)).await;
    let location = step_up.location.unwrap();
    assert!(location.starts_with("/mfa/totp?continue="), "{location}");
    let actions = world.audit_actions().await;
    assert!(actions.iter().any(|a| a == "signin.denied"));
}

#[tokio::test]
async fn parked_requests_resume_only_in_their_browser() {
    let (world, apps) = World::new(config()).await;
    let mut browser = Browser::new(&world);
    let parked = browser.get(&format!("/launch/{}", apps.granted)).await;
    let location = parked.location.unwrap();
    // The notice sits between sign-in and the parked request, carrying its id.
    let mut first = Browser::new(&world);
    let parked_first = first.get(&format!("/launch/{}", apps.granted)).await.location.unwrap();
    let first_id = parked_first.strip_prefix("/login?continue=").unwrap().to_string();
    let first_login = first.login("alice@contoso.com", PASSWORD, &first_id).await;
    assert_eq!(first_login.location, Some(format!("/notice?continue={first_id}")));
    let csrf = first.csrf();
    let after_notice = first.post("/notice", &[("csrf", &csrf), ("continue", &first_id)]).await;
    assert_eq!(after_notice.location, Some(format!("/resume/{first_id}")));
    let id = location.strip_prefix("/login?continue=").unwrap().to_string();
    assert!(browser.cookies.contains_key("tessera_browser"));

    // Another browser that learns the id cannot use it.
    let mut other = Browser::signed_in(&world, "10.0.0.2").await;
    let stolen = other.get(&format!("/resume/{id}")).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);

    // (The other browser's sign-in acknowledged Alice's notice already.)
    let after_login = browser.login("alice@contoso.com", PASSWORD, &id).await;
    assert_eq!(after_login.location, Some(format!("/resume/{id}")));
    // The application is on another site: a page opens it (browsers apply the sign-in form's
    // `form-action 'self'` to the redirects after it, so a redirect there would be blocked).
    let resumed = browser.get(&format!("/resume/{id}")).await;
    assert_eq!(resumed.status, StatusCode::OK);
    assert!(resumed.body.contains("<meta http-equiv=\"refresh\" content=\"0; url=https://wiki.contoso.com/\">"));
    assert!(resumed.body.contains("href=\"https://wiki.contoso.com/\""), "{}", resumed.body);
    assert_eq!(browser.get(&format!("/resume/{id}")).await.status, StatusCode::BAD_REQUEST, "used once");
    // A continue value is an id, never a URL.
    let mut sneaky = Browser::signed_in(&world, "10.0.0.3").await;
    let open_redirect = sneaky.login("alice@contoso.com", PASSWORD, "https://evil.example/").await;
    assert_eq!(open_redirect.location.as_deref(), Some("/"));
}

#[tokio::test]
async fn expired_parked_requests_do_not_resume() {
    let clock = Arc::new(ManualClock::at(SystemClock.now_millis()));
    let ttl = 10 * 60_000;
    let (world, apps) = World::on_clock(SignInConfig { parked_ttl_ms: ttl, ..config() }, clock.clone()).await;
    let mut browser = Browser::new(&world);
    let park = |location: Option<String>| location.unwrap().strip_prefix("/login?continue=").unwrap().to_string();
    let late = park(browser.get(&format!("/launch/{}", apps.granted)).await.location);
    clock.advance(60_000);
    let in_time = park(browser.get(&format!("/launch/{}", apps.granted)).await.location);
    browser.login("alice@contoso.com", PASSWORD, &late).await;
    let csrf = browser.csrf();
    browser.post("/notice", &[("csrf", &csrf), ("continue", &late)]).await;

    clock.advance(ttl - 60_000 + 1);
    let gone = browser.get(&format!("/resume/{late}")).await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST, "parked a TTL and a millisecond ago");
    let resumed = browser.get(&format!("/resume/{in_time}")).await;
    assert_eq!(resumed.status, StatusCode::OK, "a minute short of its TTL: {}", resumed.body);
    assert!(resumed.body.contains("href=\"https://wiki.contoso.com/\""), "the page that opens it: {}", resumed.body);
}

#[tokio::test]
async fn sessions_end_on_logout_suspension_and_timeouts() {
    let (world, _) = World::new(config()).await;
    let mut browser = Browser::signed_in(&world, "10.0.0.1").await;
    assert_eq!(browser.get("/").await.status, StatusCode::OK);
    let csrf = browser.csrf();
    assert_eq!(browser.post("/logout", &[("csrf", &csrf)]).await.location.as_deref(), Some("/login"));
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/login"));

    let mut again = Browser::signed_in(&world, "10.0.0.1").await;
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    world.store.set_user_state(&Actor::system(), alice.id, UserState::Suspended).await.unwrap();
    assert_eq!(again.get("/").await.location.as_deref(), Some("/login"), "suspension ends the session");
    world.store.set_user_state(&Actor::system(), alice.id, UserState::Active).await.unwrap();

    let clock = Arc::new(ManualClock::at(SystemClock.now_millis()));
    let session = tessera_auth::session::SessionPolicy { idle_timeout_ms: 15 * 60_000, absolute_timeout_ms: 3_600_000 };
    let (idle_world, _) = World::on_clock(SignInConfig { session, ..config() }, clock.clone()).await;
    let mut idle = Browser::signed_in(&idle_world, "10.0.0.1").await;
    clock.advance(15 * 60_000 - 1);
    assert_eq!(idle.get("/").await.status, StatusCode::OK, "a millisecond short of the idle timeout");
    clock.advance(15 * 60_000);
    assert_eq!(idle.get("/").await.location.as_deref(), Some("/login"), "an idle session ends");

    let mut busy = Browser::signed_in(&idle_world, "10.0.0.1").await;
    for _ in 0..5 {
        clock.advance(10 * 60_000);
        assert_eq!(busy.get("/").await.status, StatusCode::OK, "in use, within the absolute timeout");
    }
    clock.advance(10 * 60_000);
    assert_eq!(busy.get("/").await.location.as_deref(), Some("/login"), "the absolute timeout ends a busy session");
}

/// Two nodes on one PostgreSQL: a session made through one is honoured by the other, a code
/// used on one is refused on the other, and a session signed out on one gets no token on the
/// other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_on_one_node_is_honoured_by_another() {
    let Some(db) = tessera_store::test_support::ThrowawayPg::create().await else { return };
    let outcome = tokio::spawn(two_nodes(db.url.clone())).await;
    db.drop_database().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The Microsoft 365 connector of contoso.com, labelled M365, not yet stored.
fn contoso_m365() -> NewApplication {
    NewApplication::new(
        "http://127.0.0.1:8080",
        "M365",
        None,
        None,
        true,
        AppKind::M365(M365Config::for_domain("contoso.com")),
    )
    .unwrap()
}

/// A Microsoft 365 connector for contoso.com, granted to Staff, of which Alice is a member.
async fn m365_granted_to_alice(world: &World) {
    let app = contoso_m365();
    let key = world.keys.new_key(app.id, "M365", tessera_keys::KeySize::Rsa2048, 30).await.unwrap();
    let app = world.store.create_app(&Actor::system(), app, Some(key)).await.unwrap();
    let staff = world.store.create_group(&Actor::system(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    world.store.add_member(&Actor::system(), staff.id, alice.id).await.unwrap();
    world.store.grant(&Actor::system(), app.id, staff.id).await.unwrap();
}

async fn two_nodes(url: String) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let node = |store: Arc<dyn Store>, keys: Arc<tessera_keys::KeyService>| {
        let state =
            tessera_web::AppState::new(store, clock.clone(), keys, "http://127.0.0.1:8080", config(), None).unwrap();
        tessera_web::router(state)
    };
    let store_a: Arc<dyn Store> = Arc::new(tessera_store::PgStore::connect(&url, clock.clone()).await.unwrap());
    let store_b: Arc<dyn Store> = Arc::new(tessera_store::PgStore::connect(&url, clock.clone()).await.unwrap());
    let keys_a = Arc::new(tessera_keys::KeyService::open(store_a.clone(), &[2u8; 32], clock.clone()).await.unwrap());
    let keys_b = Arc::new(tessera_keys::KeyService::open(store_b.clone(), &[2u8; 32], clock.clone()).await.unwrap());
    let mut user = NewUser::new("alice@contoso.com", None, None, None, None, || "pg-alice".into()).unwrap();
    user.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
    store_a.create_user(&Actor::system(), user).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = World { router: node(store_a.clone(), keys_a.clone()), store: store_a, keys: keys_a, _dir: dir };
    let b = World {
        router: node(store_b.clone(), keys_b.clone()),
        store: store_b,
        keys: keys_b,
        _dir: tempfile::tempdir().unwrap(),
    };

    let mut on_a = Browser::signed_in(&a, "10.0.0.1").await;
    assert_eq!(on_a.get("/").await.status, StatusCode::OK);
    let mut on_b = Browser::new(&b);
    on_b.cookies = on_a.cookies.clone();
    let portal = on_b.get("/").await;
    assert_eq!(portal.status, StatusCode::OK, "node B honours node A's session");
    assert!(portal.body.contains("alice@contoso.com"));

    // SECURITY.md §5 item 20: a SAML request ID accepted on node A is refused on node B.
    m365_granted_to_alice(&a).await;
    let query = super::saml::redirect_query(&super::saml::entra_request(&super::saml::new_id(), "", ""));
    let first = on_a.get(&format!("/m365/contoso.com/saml/sso?{query}")).await;
    assert!(first.body.contains("name=\"SAMLResponse\""), "{}", first.body);
    let replay = on_b.get(&format!("/m365/contoso.com/saml/sso?{query}")).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("used already"), "{}", replay.body);
    let csrf = on_b.csrf();
    assert_eq!(on_b.post("/logout", &[("csrf", &csrf)]).await.location.as_deref(), Some("/login"));
    assert_eq!(on_a.get("/").await.location.as_deref(), Some("/login"), "signing out on B ends it on A");

    // The same for a LogoutRequest: accepted on A (the session ends on both), refused on B.
    let mut on_a = Browser::signed_in(&a, "10.0.0.1").await;
    let mut on_b = Browser::new(&b);
    on_b.cookies = on_a.cookies.clone();
    let alice = a.store.find_user("alice@contoso.com").await.unwrap();
    let logout = super::saml::logout_request(&super::saml::new_id(), &alice.immutable_id);
    let slo = format!("/m365/contoso.com/saml/slo?{}", super::saml::redirect_query(&logout));
    assert!(on_a.get(&slo).await.location.unwrap_or_default().contains("SAMLResponse="));
    assert_eq!(on_b.get("/").await.location.as_deref(), Some("/login"), "signed out on B too");
    let replay = on_b.get(&slo).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
    assert!(replay.body.contains("used already"), "{}", replay.body);

    // A sign-on on a session ended a moment ago elsewhere: A answers sign-ons from the session
    // it read (for up to a second), builds the token, and the token's record refuses it. The
    // session is deleted behind the triggers (as a replica applies a change), so that no
    // notice drops what A kept and the moment lasts the second; A's pages read the database.
    let behind_the_triggers = ["SET session_replication_role = replica", "DELETE FROM sessions"];
    let sign_on = || {
        let query = super::saml::redirect_query(&super::saml::entra_request(&super::saml::new_id(), "", ""));
        format!("/m365/contoso.com/saml/sso?{query}")
    };
    let mut refused = false;
    for _ in 0..5 {
        let mut on_a = Browser::signed_in(&a, "10.0.0.1").await;
        assert!(on_a.get(&sign_on()).await.body.contains("name=\"SAMLResponse\""), "A reads and keeps the session");
        tessera_store::test_support::run_sql(&url, &behind_the_triggers).await.unwrap();
        assert_eq!(on_a.get("/").await.location.as_deref(), Some("/login"), "A's pages read the database");
        let answer = on_a.get(&sign_on()).await;
        assert!(!answer.body.contains("SAMLResponse"), "a token on a session signed out: {}", answer.body);
        if answer.status == StatusCode::BAD_REQUEST {
            assert!(answer.body.contains("You were signed out"), "{}", answer.body);
            refused = true;
            break;
        }
        // More than the second went by (a slow machine): A read the database, and asks to sign in.
        let to_sign_in = answer.location.as_deref().is_some_and(|to| to.starts_with("/login"));
        assert!(to_sign_in, "{} {}", answer.status, answer.body);
    }
    assert!(refused, "A never answered from the session it kept");
    let recorded = a.store.list_audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    assert!(recorded.iter().any(|e| e.action == "saml.refused" && e.summary["reason"] == "session_ended"));
}

#[tokio::test]
async fn https_deployments_mark_cookies_secure_and_send_hsts() {
    let (world, _) = World::build(config(), "https://idp.contoso.com").await;
    let mut browser = Browser::new(&world);
    let login = browser.get("/login").await;
    assert!(login.headers.get("strict-transport-security").unwrap().to_str().unwrap().contains("max-age="));
    let response = browser
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("origin", "https://idp.contoso.com"),
            Body::from(format!("username=alice%40contoso.com&password=correct+horse+battery&csrf={}", browser.csrf())),
        )
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    let session = response.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        session.starts_with("tessera_session=") && session.contains("SameSite=None") && session.contains("Secure"),
        "{session}"
    );
}

#[tokio::test]
async fn unreadable_forwarding_and_made_up_apps_write_nothing() {
    let (world, _) = World::new(config()).await;
    let mut behind_proxy = Browser::new(&world).from("203.0.113.9, junk");
    let refused = behind_proxy.login("alice@contoso.com", PASSWORD, "").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "never attributed to the proxy itself");
    let mut anonymous = Browser::new(&world);
    let made_up = anonymous.get(&format!("/launch/{}", tessera_core::AppId::new())).await;
    assert_eq!(made_up.status, StatusCode::NOT_FOUND);
    assert!(!anonymous.cookies.contains_key("tessera_browser"), "nothing was parked");
    assert!(!world.audit_actions().await.iter().any(|a| a.starts_with("signin.")));
}

/// SECURITY.md §5 item 27: an unknown name and a known name's wrong password take the same
/// time (both verify a hash; the unknown one against a dummy) and say the same thing. Medians
/// over interleaved tries, each from its own address (no spray throttling, whose quick answer
/// is the same for both), against a generous bound: the CI machine runs other tests meanwhile.
#[tokio::test]
async fn an_unknown_name_and_a_wrong_password_take_the_same_time_and_say_the_same() {
    let (world, _) = World::new(config()).await;
    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    let mut said = std::collections::BTreeSet::new();
    for n in 0..40u32 {
        for (net, name, samples) in [(1, "nobody@contoso.com", &mut unknown), (2, "alice@contoso.com", &mut known)] {
            let ip = format!("198.51.{net}.{}", n + 1);
            let mut browser = Browser::new(&world).from(&ip);
            let started = std::time::Instant::now();
            let page = browser.login(name, "not the password at all", "").await;
            samples.push(started.elapsed());
            assert_eq!(page.status, StatusCode::OK);
            let error = page.body.lines().find(|l| l.contains("role=\"alert\"")).unwrap_or_default().to_string();
            said.insert(error);
        }
    }
    assert_eq!(said.len(), 1, "one message for both: {said:?}");
    let median = |samples: &mut Vec<std::time::Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (unknown, known) = (median(&mut unknown), median(&mut known));
    eprintln!("sign-in failure medians: unknown name {unknown:?}, wrong password {known:?}");
    let bound = std::time::Duration::from_millis(5).max(unknown.max(known) / 4);
    assert!(unknown.abs_diff(known) <= bound, "unknown {unknown:?} vs known {known:?} (bound {bound:?})");
}

/// SECURITY.md §5 item 40's clock skew: three nodes on one PostgreSQL, one at the right time,
/// one two minutes ahead and one two minutes behind. A SAML request ID seen on any node is
/// refused on the others, and a user locked out through one node stays locked on the others
/// until the window has passed on all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_lockout_hold_across_nodes_two_minutes_apart() {
    let Some(db) = tessera_store::test_support::ThrowawayPg::create().await else { return };
    let outcome = tokio::spawn(skewed_nodes(db.url.clone())).await;
    db.drop_database().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn skewed_nodes(url: String) {
    let now = now_seconds() * 1000;
    let clocks = [now, now + 120_000, now - 120_000].map(|at| Arc::new(ManualClock::at(at)));
    let mut nodes = Vec::new();
    for clock in &clocks {
        let clock: Arc<dyn Clock> = clock.clone();
        let store: Arc<dyn Store> = Arc::new(tessera_store::PgStore::connect(&url, clock.clone()).await.unwrap());
        let keys = Arc::new(tessera_keys::KeyService::open(store.clone(), &[3u8; 32], clock.clone()).await.unwrap());
        let state =
            tessera_web::AppState::new(store.clone(), clock, keys.clone(), "http://127.0.0.1:8080", config(), None)
                .unwrap();
        let router = tessera_web::router(state);
        nodes.push(World { router, store, keys, _dir: tempfile::tempdir().unwrap() });
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    // Each node says on /readyz how far its clock is from the database's, still ready.
    for (node, said) in [(b, "s ahead of the database's"), (c, "s behind the database's")] {
        let ready = Browser::new(node).get("/readyz").await;
        assert_eq!(ready.status, StatusCode::OK);
        assert!(ready.body.contains("this node's clock is 1") && ready.body.contains(said), "{}", ready.body);
    }
    let mut user = NewUser::new("alice@contoso.com", None, None, None, None, || "skew-alice".into()).unwrap();
    user.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
    a.store.create_user(&Actor::system(), user).await.unwrap();
    m365_granted_to_alice(a).await;

    // Signed in once (the session is the database's), the same browser on each node.
    let on_a = Browser::signed_in(a, "10.0.0.1").await;
    let browser = |node: &'static str| {
        let world = match node {
            "a" => a,
            "b" => b,
            _ => c,
        };
        let mut on = Browser::new(world).from("10.0.0.1");
        on.cookies = on_a.cookies.clone();
        on
    };
    for (first, others) in [("a", ["b", "c"]), ("b", ["c", "a"]), ("c", ["a", "b"])] {
        let query = super::saml::redirect_query(&super::saml::entra_request(&super::saml::new_id(), "", ""));
        let path = format!("/m365/contoso.com/saml/sso?{query}");
        let answer = browser(first).get(&path).await;
        assert!(answer.body.contains("name=\"SAMLResponse\""), "accepted on {first}: {}", answer.body);
        for other in others {
            let replay = browser(other).get(&path).await;
            assert!(
                replay.status == StatusCode::BAD_REQUEST && replay.body.contains("used already"),
                "{first} then {other}"
            );
        }
    }

    // Locked out through the node ahead; the right password from there is refused on the node
    // behind and the one on time, without a session.
    for _ in 0..3 {
        Browser::new(b).from("198.51.100.9").login("alice@contoso.com", "not the password", "").await;
    }
    for node in [c, a, b] {
        let mut attacker = Browser::new(node).from("198.51.100.9");
        let refused = attacker.login("alice@contoso.com", PASSWORD, "").await;
        assert_eq!(refused.status, StatusCode::OK, "locked");
        assert!(!attacker.cookies.contains_key("tessera_session"));
    }
    // The window over on every node (the one behind included): the right password works.
    for clock in &clocks {
        clock.advance(config().lockout.observation_window_ms + 5 * 60_000);
    }
    let mut back = Browser::new(c).from("198.51.100.9");
    assert_eq!(back.login("alice@contoso.com", PASSWORD, "").await.status, StatusCode::SEE_OTHER);
}
