//! The certificate page's staged rollover and the Microsoft 365 pages, in-process: stage,
//! promote with a grace period, stop publishing the old certificate, each refusal changing
//! nothing; the Federation tab only on a connector and without credentials saying what to do;
//! the credentials page never showing a secret; a failed automatic step warned about on the
//! SSO Applications list.

use axum::http::StatusCode;
use tessera_store::KeySlot;

use super::admin_portal::{ONE_TIME, signed_in_admin};
use super::roles::administrator;
use super::signin::{World, config};

#[tokio::test]
async fn the_certificate_page_stages_promotes_and_clears_and_refusals_change_nothing() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.7").await;
    let csrf = admin.csrf();
    let page = format!("/admin/applications/{}/regenerate", apps.m365);
    let before = world.store.find_app(&apps.m365).await.unwrap();

    let shown = admin.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains("Signing now") && shown.body.contains("Stage next certificate"), "{}", shown.body);
    let actions = world.audit_actions().await.len();
    for (fields, said) in [
        (vec![("action", "promote"), ("grace_days", "14")], "no staged certificate"),
        (vec![("action", "explode")], "choose stage, promote"),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        let refused = admin.post(&page, &fields).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(refused.body.contains("role=\"alert\"") && refused.body.contains(said), "{}", refused.body);
    }
    assert_eq!(world.audit_actions().await.len(), actions, "nothing written");

    let staged = admin.post(&page, &[("action", "stage"), ("csrf", &csrf)]).await;
    assert_eq!(staged.status, StatusCode::OK, "{}", staged.body);
    assert!(staged.body.contains("Staged: published, signs once promoted"), "{}", staged.body);
    let next = world.store.signing_key(before.id, KeySlot::Next).await.unwrap().expect("staged");
    let again = admin.post(&page, &[("action", "stage"), ("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("staged already"));
    for grace in ["abc", "91", "-1"] {
        let refused = admin.post(&page, &[("action", "promote"), ("grace_days", grace), ("csrf", &csrf)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{grace}: {}", refused.body);
    }
    assert_eq!(world.store.find_app(&apps.m365).await.unwrap().certificates.current, before.certificates.current);

    // Without Graph credentials nothing can be asked: promote goes ahead (CONTRACT: "as far as
    // stored Graph credentials tell").
    let promoted = admin.post(&page, &[("action", "promote"), ("grace_days", "14"), ("csrf", &csrf)]).await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert!(promoted.body.contains("Previous: still published as next") && promoted.body.contains("published until"));
    let app = world.store.find_app(&apps.m365).await.unwrap();
    assert_eq!(app.certificates.current.as_deref(), Some(next.certificate_der.as_slice()));
    assert_eq!(app.certificates.next, before.certificates.current, "the old certificate stays published");
    let cleared = admin.post(&page, &[("action", "clear"), ("csrf", &csrf)]).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(world.store.find_app(&apps.m365).await.unwrap().certificates.next, None);
    let actions = world.audit_actions().await;
    assert!(
        ["app.cert_stage", "app.cert_promote", "app.cert_clear_previous"]
            .iter()
            .all(|a| actions.iter().any(|b| b == a))
    );

    // A bookmark has no certificate, and no Federation tab.
    assert_eq!(
        admin.get(&format!("/admin/applications/{}/regenerate", apps.granted)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.get(&format!("/admin/applications/{}/federation", apps.granted)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_microsoft_365_pages_keep_the_secret_and_a_failed_rollover_step_is_warned_about() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(ONE_TIME).unwrap();
    world.store.create_initial_admin("admin", &hash).await.unwrap();
    let mut admin = signed_in_admin(&world, "10.0.0.8").await;
    let csrf = admin.csrf();

    let tab = admin.get(&format!("/admin/applications/{}/federation", apps.m365)).await;
    assert_eq!(tab.status, StatusCode::OK);
    assert!(
        tab.body.contains("None are stored yet") && tab.body.contains("href=\"/admin/microsoft-365\""),
        "{}",
        tab.body
    );

    let secret = "s3cret~never.shown";
    for (tenant, client, secret_field, pem, said) in [
        ("bad tenant!", "app", secret, "", "tenant"),
        ("contoso.onmicrosoft.com", "", secret, "", "client"),
        ("contoso.onmicrosoft.com", "app", secret, "-----BEGIN CERTIFICATE-----", "not both"),
        ("contoso.onmicrosoft.com", "app", "", "", "not both"),
        ("contoso.onmicrosoft.com", "app", "", "not a pem", "PEM"),
    ] {
        let fields = [
            ("action", "set"),
            ("tenant", tenant),
            ("client_id", client),
            ("client_secret", secret_field),
            ("client_certificate", pem),
            ("csrf", csrf.as_str()),
        ];
        let refused = admin.post("/admin/microsoft-365", &fields).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{said}: {}", refused.body);
        assert!(refused.body.contains("role=\"alert\"") && !refused.body.contains(secret), "{said}: {}", refused.body);
        assert!(refused.body.contains("No Graph credentials are stored"));
    }
    let stored = admin
        .post(
            "/admin/microsoft-365",
            &[
                ("action", "set"),
                ("tenant", "contoso.onmicrosoft.com"),
                ("client_id", "app"),
                ("client_secret", secret),
                ("client_certificate", ""),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    assert!(stored.body.contains("Stored the secret") && !stored.body.contains(secret));
    assert!(!admin.get("/admin/microsoft-365").await.body.contains(secret));
    let forgotten = admin.post("/admin/microsoft-365", &[("action", "delete"), ("csrf", &csrf)]).await;
    assert!(forgotten.body.contains("forgotten"), "{}", forgotten.body);

    let app = world.store.find_app(&apps.m365).await.unwrap();
    let warning = r#"{"step":"push","error":"Graph answered 403","at":"2027-01-01T00:00:00Z"}"#;
    world.store.set_setting(&format!("rollover_warning:{}", app.id), warning).await.unwrap();
    let list = admin.get("/admin/applications").await;
    assert!(
        list.body.contains("role=\"alert\"") && list.body.contains("failed at its push step: Graph answered 403"),
        "{}",
        list.body
    );
    let page = admin.get(&format!("/admin/applications/{}/regenerate", apps.m365)).await;
    assert!(page.body.contains("The automatic rollover failed at its push step"), "{}", page.body);
}

#[tokio::test]
async fn an_application_administrator_reads_the_federation_tab_and_changes_no_domain() {
    let (world, apps) = World::new(config()).await;
    let mut ann = administrator(&world, "ann", tessera_core::AdminRole::AppAdmin, &[&apps.m365]).await;
    let csrf = ann.csrf();
    let tab = ann.get(&format!("/admin/applications/{}/federation", apps.m365)).await;
    assert_eq!(tab.status, StatusCode::OK, "{}", tab.body);
    let before = world.audit_actions().await.len();
    for action in ["preview-enable", "enable", "preview-disable", "disable"] {
        let fields = [("action", action), ("protocol", "wsfed"), ("mfa", "accept"), ("csrf", csrf.as_str())];
        let refused = ann.post(&format!("/admin/applications/{}/federation", apps.m365), &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{action}: {}", refused.body);
    }
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");
    // Her own connector's certificate is hers to roll over.
    let staged = ann
        .post(&format!("/admin/applications/{}/regenerate", apps.m365), &[("action", "stage"), ("csrf", &csrf)])
        .await;
    assert_eq!(staged.status, StatusCode::OK, "{}", staged.body);
}
