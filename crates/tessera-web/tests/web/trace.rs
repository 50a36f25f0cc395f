//! Sign-in traces, in-process: an SP-initiated Microsoft 365 sign-in (a wrong password, then the
//! right one) shows on its application's Sign-ins tab with a trace of the decoded request and
//! each decision; with tracing on, the token sent is kept without its signature value (and so
//! no longer verifies); a refused sign-in's trace says why; and no password is stored anywhere.

use axum::http::StatusCode;
use base64::Engine;
use tessera_core::{Actor, AdminRole};

use super::admin_portal::{OWN, admin_login};
use super::saml::{b64, entra_request, field, new_id, redirect_query};
use super::signin::{Browser, PASSWORD, World, between, config};

const WRONG: &str = "Spring2026!-not-hers";

#[tokio::test]
async fn a_sign_in_has_a_trace_and_keeps_its_token_only_while_tracing_is_on() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(OWN).unwrap();
    world.store.create_admin(&Actor::system(), "boss", &hash, AdminRole::Admin, &[]).await.unwrap();
    let mut boss = Browser::new(&world).from("10.0.0.40");
    assert_eq!(admin_login(&mut boss, "boss", OWN).await.location.as_deref(), Some("/admin/applications"));
    let csrf = boss.csrf();
    let tab = format!("/admin/applications/{}/sign-ins", apps.m365);
    let tracing = format!("/admin/applications/{}/tracing", apps.m365);
    for (minutes, days) in [("0", "7"), ("60", "0"), ("many", "7"), ("100000", "7")] {
        let refused =
            boss.post(&tracing, &[("csrf", &csrf), ("tracing", "on"), ("minutes", minutes), ("keep_days", days)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{minutes} {days}: {}", refused.body);
    }
    let on = boss.post(&tracing, &[("csrf", &csrf), ("tracing", "on"), ("minutes", "60"), ("keep_days", "7")]).await;
    assert!(on.body.contains("Tracing is on until"), "{}", on.body);

    // Entra sends Alice here; she types a wrong password, then hers.
    let mut alice = Browser::new(&world).from("10.0.0.5");
    let request_id = new_id();
    let query = redirect_query(&entra_request(&request_id, "", ""));
    let parked = alice.get(&format!("/m365/contoso.com/saml/sso?{query}")).await;
    let login = parked.location.clone().unwrap();
    let continue_id = login.split("continue=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let failed = alice.login("alice@contoso.com", WRONG, &continue_id).await;
    assert_eq!(failed.status, StatusCode::OK, "the form again");
    let signed_in = alice.login("alice@contoso.com", PASSWORD, &continue_id).await;
    let mut next = signed_in.location.clone().unwrap();
    if next == "/notice" || next.starts_with("/notice") {
        let csrf = alice.csrf();
        next = alice.post("/notice", &[("csrf", &csrf), ("continue", &continue_id)]).await.location.unwrap();
    }
    let page = alice.get(&next).await;
    let token = field(&page, "SAMLResponse").unwrap_or_else(|| panic!("no SAMLResponse: {}", page.body));
    let sent = String::from_utf8(b64().decode(token).unwrap()).unwrap();

    let list = boss.get(&tab).await;
    assert!(list.body.contains("SAML token issued"), "{}", list.body);
    let trace = between(&list.body, &format!("{tab}/"), "\"").to_string();
    let page = boss.get(&format!("{tab}/{trace}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for expected in [
        request_id.as_str(),
        "urn:federation:MicrosoftOnline",
        "HTTP-Redirect",
        "Password refused: wrong password.",
        "Password accepted.",
        "Policy and authorization allowed it; SAML token issued",
        "alice@contoso.com",
        "Kept while tracing was on, without its signature value.",
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    // The kept token: the one sent, but without a signature value, so it verifies no more.
    let kept = world.store.sign_in_token(&trace, i64::MAX / 2).await.unwrap();
    assert!(kept.is_none(), "expired tokens are not shown");
    let kept = world.store.sign_in_token(&trace, 0).await.unwrap().expect("kept");
    let value = between(&sent, "SignatureValue>", "<").to_string();
    assert!(value.len() > 100, "{sent}");
    assert!(!kept.token.contains(&value) && kept.token.contains("SignatureValue></"), "{}", kept.token);
    assert_eq!(kept.token.replace("SignatureValue></", &format!("SignatureValue>{value}</")), sent);

    // Another application's trace is not found under this one.
    let elsewhere = boss.get(&format!("/admin/applications/{}/sign-ins/{trace}", apps.granted)).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    for bad in ["nothing", "0123456789abcdef0123456789abcdef", "../../etc/passwd"] {
        assert_eq!(boss.get(&format!("{tab}/{bad}")).await.status, StatusCode::NOT_FOUND, "{bad}");
    }

    // Tracing off: the next sign-in has its trace, but no token is kept.
    let off = boss.post(&tracing, &[("csrf", &csrf), ("tracing", "off")]).await;
    assert!(off.body.contains("Tracing is off."), "{}", off.body);
    let again =
        alice.get(&format!("/m365/contoso.com/saml/sso?{}", redirect_query(&entra_request(&new_id(), "", "")))).await;
    assert!(field(&again, "SAMLResponse").is_some(), "{}", again.body);
    let list = boss.get(&tab).await;
    let newest = between(&list.body, &format!("{tab}/"), "\"").to_string();
    assert_ne!(newest, trace);
    assert!(world.store.sign_in_token(&newest, 0).await.unwrap().is_none());
    assert!(boss.get(&format!("{tab}/{newest}")).await.body.contains("Not kept"));

    // A refused sign-in says why.
    alice.get(&format!("/launch/{}", apps.not_granted)).await;
    let payroll = format!("/admin/applications/{}/sign-ins", apps.not_granted);
    let list = boss.get(&payroll).await;
    let refused = between(&list.body, &format!("{payroll}/"), "\"").to_string();
    let page = boss.get(&format!("{payroll}/{refused}")).await;
    assert!(page.body.contains("Refused by policy or authorization: no granted group."), "{}", page.body);

    // No password was written anywhere: the audit trail, kept tokens, settings.
    let events =
        world.store.list_audit(&tessera_store::AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    let trail = serde_json::to_string(&events.iter().map(|e| &e.summary).collect::<Vec<_>>()).unwrap();
    for secret in [PASSWORD, WRONG, OWN] {
        assert!(!trail.contains(secret) && !kept.token.contains(secret), "{secret} was written");
    }
    let switches = world.store.get_setting("sign_in_tracing").await.unwrap().unwrap();
    assert!(!switches.contains(PASSWORD));
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).filter(|a| *a == "trace.set").collect();
    assert_eq!(actions.len(), 2, "on and off are audited");
}
