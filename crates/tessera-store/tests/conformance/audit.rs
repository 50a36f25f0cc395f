//! The audit trail.

use super::*;

pub(super) async fn an_apps_sign_ins_are_its_users_events_newest_first(store: Arc<dyn Store>, _raw: Raw) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), None).await.unwrap();
    let other = store.create_app(&actor(), m365("fabrikam.com", "Fabrikam"), None).await.unwrap();
    let user = store.create_user(&actor(), new_user("alice@contoso.com")).await.unwrap();
    let as_user = Actor::user(user.id);
    for (who, action, target) in [
        (&as_user, AuditAction::SamlIssued, app.id),
        (&as_user, AuditAction::SamlIssued, other.id),
        (&actor(), AuditAction::AppUpdate, app.id),
        (&as_user, AuditAction::SigninDenied, app.id),
        (&as_user, AuditAction::WsTrustIssued, app.id),
    ] {
        store.append_audit(who, NewAuditEvent::new(action, "app", target, serde_json::json!({}))).await.unwrap();
    }
    let events = store.app_sign_ins(app.id, 50).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["wstrust.issued", "signin.denied", "saml.issued"]);
    assert_eq!(store.app_sign_ins(app.id, 1).await.unwrap().len(), 1);
    assert!(store.app_sign_ins(AppId::new(), 50).await.unwrap().is_empty());
}

pub(super) async fn audit_records_changes_and_is_append_only(store: Arc<dyn Store>, raw: Raw) {
    let user = store.create_user(&Actor::api_token("robot"), new_user("erin@contoso.com")).await.unwrap();
    let events = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let event = events.iter().find(|e| e.action == "user.create").unwrap();
    assert_eq!(event.actor, "api:robot");
    assert_eq!(event.target_id, user.id.to_string());
    assert_eq!(event.summary["email"], "erin@contoso.com");
    let since = store
        .list_audit(&AuditQuery { since: Some(event.at + 60_000), limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert!(since.is_empty());
    assert!(raw.execute("UPDATE audit_events SET actor = 'forged'").await.is_err(), "audit rows cannot be updated");
    assert!(raw.execute("DELETE FROM audit_events").await.is_err(), "audit rows cannot be deleted");
    assert_eq!(audit_count(&store).await, events.len());
}

pub(super) async fn concurrent_audit_records_all_commit(store: Arc<dyn Store>, _raw: Raw) {
    // Writes from concurrent requests share batches; every caller's row must still land.
    let before = audit_count(&store).await;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let event = tessera_core::NewAuditEvent::new(
                tessera_core::AuditAction::SigninLogout,
                "user",
                n.to_string(),
                serde_json::json!({"n": n}),
            );
            store.append_audit(&actor(), event).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let events = store.list_audit(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(events.len(), before + 200);
    let mut ids: Vec<String> =
        events.iter().filter(|e| e.action == "signin.logout").map(|e| e.target_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "each record once");
}

pub(super) async fn one_bad_row_fails_only_its_own_caller_in_a_batch(store: Arc<dyn Store>, _raw: Raw) {
    // A 10 KB message ID (over PostgreSQL's index row limit as it stands) and an audit target
    // with a NUL (which PostgreSQL's TEXT refuses), sent among ordinary writes: the ordinary
    // ones must all commit, whatever batch they share.
    let long_id = "x".repeat(10_000);
    let mut tasks = Vec::new();
    for n in 0..40 {
        let store = store.clone();
        let long_id = long_id.clone();
        tasks.push(tokio::spawn(async move {
            let result = match n {
                0 => store.remember_message_id("sp", &long_id, 10_000, 5_000).await,
                1 => {
                    let event = tessera_core::NewAuditEvent::new(
                        tessera_core::AuditAction::SigninFailure,
                        "user",
                        "nul\0byte",
                        serde_json::json!({}),
                    );
                    store.append_audit(&actor(), event).await.map(|()| true)
                }
                n if n % 2 == 0 => store.remember_message_id("sp", &format!("_id{n}"), 10_000, 5_000).await,
                n => {
                    let event = tessera_core::NewAuditEvent::new(
                        tessera_core::AuditAction::SigninPassword,
                        "user",
                        n.to_string(),
                        serde_json::json!({}),
                    );
                    store.append_audit(&actor(), event).await.map(|()| true)
                }
            };
            (n, result)
        }));
    }
    for task in tasks {
        match task.await.unwrap() {
            (_, Ok(new)) => assert!(new),
            (1, Err(StoreError::WriteFailed(_))) => {}
            (n, Err(e)) => panic!("write {n} failed with the bad row: {e}"),
        }
    }
    assert!(!store.remember_message_id("sp", &long_id, 10_000, 5_000).await.unwrap(), "the long ID is remembered");
    let events = store.list_audit(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "signin.password").count(), 19);
}
