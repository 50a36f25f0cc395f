//! Administrators, their roles, sessions and API tokens; settings.

use super::*;

pub(super) async fn administrators_round_trip_and_the_last_one_stays(store: Arc<dyn Store>, _raw: Raw) {
    assert!(store.create_initial_admin("admin", "$argon2id$first").await.unwrap());
    let first = store.find_admin("ADMIN").await.unwrap();
    assert!(first.must_change_password);
    let erin = store.create_admin(&actor(), "Erin", "$argon2id$erin", AdminRole::Admin, &[]).await.unwrap();
    assert!(!erin.must_change_password, "a password set by add is the admin's own");
    let audit_before = store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap().len();
    for taken in ["erin", " ERIN ", "admin"] {
        assert!(matches!(
            store.create_admin(&actor(), taken, "$argon2id$x", AdminRole::Admin, &[]).await,
            Err(StoreError::Conflict { field: "username", .. })
        ));
    }
    assert!(matches!(
        store.create_admin(&actor(), "", "$argon2id$x", AdminRole::Admin, &[]).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(store.find_admin("nobody").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.set_admin_password(&actor(), "nobody", "h", false).await, Err(StoreError::NotFound { .. })));
    let audit_after = store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap().len();
    assert_eq!(audit_before, audit_after, "refusals write nothing");
    assert_eq!(store.find_admin(&erin.id).await.unwrap().username, "Erin");
    let names: Vec<String> = store.list_admins().await.unwrap().into_iter().map(|a| a.username).collect();
    assert_eq!(names, ["admin", "Erin"]);

    let changed = store.set_admin_password(&actor(), "admin", "$argon2id$new", false).await.unwrap();
    assert_eq!((changed.password_hash.as_str(), changed.must_change_password), ("$argon2id$new", false));
    assert_eq!(store.delete_admin(&actor(), "admin").await.unwrap().id, first.id);
    assert!(
        matches!(store.delete_admin(&actor(), "erin").await, Err(StoreError::Conflict { .. })),
        "the last one stays"
    );
    assert_eq!(store.list_admins().await.unwrap().len(), 1);
    let actions: Vec<String> = store
        .list_audit(&AuditQuery { limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("admin."))
        .collect();
    assert_eq!(actions, ["admin.create", "admin.create", "admin.password_set", "admin.delete"]);

    // A name that is another administrator's id names that administrator by id, never both.
    let mimic = store.create_admin(&actor(), &erin.id, "$argon2id$mimic", AdminRole::Admin, &[]).await.unwrap();
    assert_eq!(store.find_admin(&erin.id).await.unwrap().username, "Erin");
    store.set_admin_password(&actor(), &erin.id, "$argon2id$erin2", false).await.unwrap();
    assert_eq!(store.find_admin(&mimic.id).await.unwrap().password_hash, "$argon2id$mimic", "only one changed");
    assert_eq!(store.delete_admin(&actor(), &erin.id).await.unwrap().id, erin.id);
    assert_eq!(store.find_admin(&mimic.id).await.unwrap().username, erin.id);
}

pub(super) async fn roles_scope_applications_and_the_last_full_administrator_keeps_the_role(
    store: Arc<dyn Store>,
    _raw: Raw,
) {
    let (contoso, fabrikam) = (
        store.create_app(&actor(), m365("contoso.com", "Contoso 365"), None).await.unwrap(),
        store.create_app(&actor(), m365("fabrikam.com", "Fabrikam 365"), None).await.unwrap(),
    );
    let boss = store.create_admin(&actor(), "boss", "$argon2id$x", AdminRole::Admin, &[]).await.unwrap();
    let ann = store
        .create_admin(&actor(), "ann", "$argon2id$x", AdminRole::AppAdmin, &[contoso.id, contoso.id])
        .await
        .unwrap();
    assert_eq!(ann.role, AdminRole::AppAdmin);
    assert_eq!(store.admin_apps(&ann.id).await.unwrap(), [contoso.id]);
    let audit = |store: Arc<dyn Store>| async move {
        store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap().len()
    };
    let before = audit(store.clone()).await;
    // An application that is not there: nothing is written, the administrator neither.
    assert!(matches!(
        store.create_admin(&actor(), "ghost", "$argon2id$x", AdminRole::AppAdmin, &[AppId::new()]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.find_admin("ghost").await.is_err());
    assert!(matches!(
        store.set_admin_role(&actor(), "ann", AdminRole::AppAdmin, &[fabrikam.id, AppId::new()]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.admin_apps(&ann.id).await.unwrap(), [contoso.id], "a refused change keeps the old scope");
    // The last full administrator keeps the role.
    assert!(matches!(
        store.set_admin_role(&actor(), "boss", AdminRole::Auditor, &[]).await,
        Err(StoreError::Conflict { field: "role", .. })
    ));
    assert_eq!(audit(store.clone()).await, before, "refusals write nothing");

    let moved = store.set_admin_role(&actor(), "ann", AdminRole::AppAdmin, &[fabrikam.id]).await.unwrap();
    assert_eq!((moved.role, store.admin_apps(&ann.id).await.unwrap()), (AdminRole::AppAdmin, vec![fabrikam.id]));
    store.set_admin_role(&actor(), "ann", AdminRole::Admin, &[]).await.unwrap();
    assert!(store.admin_apps(&ann.id).await.unwrap().is_empty(), "a full administrator keeps no list");
    // With two full administrators, one may step down, then the other is the last.
    store.set_admin_role(&actor(), "boss", AdminRole::Auditor, &[]).await.unwrap();
    assert_eq!(store.find_admin("boss").await.unwrap().role, AdminRole::Auditor);
    assert!(matches!(store.delete_admin(&actor(), "ann").await, Err(StoreError::Conflict { .. })));
    assert!(matches!(
        store.set_admin_role(&actor(), "ann", AdminRole::AppAdmin, &[contoso.id]).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.delete_admin(&actor(), &boss.id).await.unwrap().id, boss.id, "an auditor may go");
    let last: Vec<_> = store
        .list_audit(&AuditQuery { limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "admin.role_set")
        .collect();
    assert_eq!(last.len(), 3);
    assert_eq!(last[0].summary["from"], "app-admin");
    assert_eq!(last[0].summary["apps"][0], fabrikam.id.to_string());

    // A deleted application leaves every scope that held it.
    store.set_admin_role(&actor(), "ann", AdminRole::Admin, &[]).await.unwrap();
    let cleo = store
        .create_admin(&actor(), "cleo", "$argon2id$x", AdminRole::AppAdmin, &[contoso.id, fabrikam.id])
        .await
        .unwrap();
    let token = store.create_api_token(&actor(), "ci", "hash-ci", AdminRole::AppAdmin, &[fabrikam.id]).await.unwrap();
    assert_eq!(store.find_api_token("hash-ci").await.unwrap().unwrap().role, AdminRole::AppAdmin);
    store.delete_apps(&actor(), &[fabrikam.id], 1).await.unwrap();
    assert_eq!(store.admin_apps(&cleo.id).await.unwrap(), [contoso.id]);
    assert!(store.api_token_apps(&token.id).await.unwrap().is_empty());
    let auditor =
        store.create_api_token(&actor(), "reader", "hash-r", AdminRole::Auditor, &[contoso.id]).await.unwrap();
    assert!(store.api_token_apps(&auditor.id).await.unwrap().is_empty(), "only an app-admin keeps a list");
}

pub(super) async fn concurrent_deletes_never_remove_the_last_administrator(store: Arc<dyn Store>, _raw: Raw) {
    for round in 0..5 {
        let names = [format!("a{round}"), format!("b{round}")];
        for name in &names {
            store.create_admin(&actor(), name, "$argon2id$x", AdminRole::Admin, &[]).await.unwrap();
        }
        let others: Vec<String> =
            store.list_admins().await.unwrap().into_iter().map(|a| a.username).filter(|n| !names.contains(n)).collect();
        for other in others {
            store.delete_admin(&actor(), &other).await.unwrap();
        }
        let tasks: Vec<_> = names
            .iter()
            .map(|name| {
                let (store, name) = (store.clone(), name.clone());
                tokio::spawn(async move { store.delete_admin(&actor(), &name).await })
            })
            .collect();
        let mut deleted = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => deleted += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        assert_eq!(deleted, 1, "round {round}");
        assert_eq!(store.list_admins().await.unwrap().len(), 1, "round {round}");
    }
}

pub(super) async fn admin_sessions_end_with_their_administrator_and_attempts_are_counted(
    store: Arc<dyn Store>,
    _raw: Raw,
) {
    let erin = store.create_admin(&actor(), "erin", "$argon2id$erin", AdminRole::Admin, &[]).await.unwrap();
    store.create_admin(&actor(), "frank", "$argon2id$frank", AdminRole::Admin, &[]).await.unwrap();
    store.create_admin_session("hash-0", &erin.id, false, 1_000).await.unwrap();
    assert!(!store.admin_session("hash-0").await.unwrap().unwrap().complete);
    assert!(store.complete_admin_session("hash-0", "hash-1").await.unwrap());
    assert!(!store.complete_admin_session("hash-0", "hash-9").await.unwrap(), "the old id is gone");
    assert!(store.admin_session("hash-0").await.unwrap().is_none());
    let session = store.admin_session("hash-1").await.unwrap().unwrap();
    assert_eq!((session.admin.username.as_str(), session.created_at, session.last_seen_at), ("erin", 1_000, 1_000));
    assert!(session.complete);
    store.touch_admin_session("hash-1", 5_000).await.unwrap();
    store.touch_admin_session("hash-1", 4_000).await.unwrap();
    assert_eq!(store.admin_session("hash-1").await.unwrap().unwrap().last_seen_at, 5_000, "never moves back");
    assert!(store.admin_session("hash-2").await.unwrap().is_none());
    assert!(store.create_admin_session("hash-3", "no-such-admin", true, 1_000).await.is_err());
    store.set_admin_password(&actor(), "erin", "$argon2id$new", false).await.unwrap();
    assert!(store.admin_session("hash-1").await.unwrap().is_none(), "a new password ends the sessions");
    store.create_admin_session("hash-1", &erin.id, true, 1_000).await.unwrap();
    store.delete_admin_session("hash-1").await.unwrap();
    assert!(store.admin_session("hash-1").await.unwrap().is_none());
    store.create_admin_session("hash-4", &erin.id, true, 1_000).await.unwrap();
    store.put_pending_admin_totp(&erin.id, b"sealed", 1_000).await.unwrap();
    assert!(!store.use_admin_totp_step(&erin.id, 5).await.unwrap(), "a pending secret accepts no code");
    assert!(store.confirm_admin_totp(&actor(), &erin.id, 5).await.unwrap());
    assert!(!store.confirm_admin_totp(&actor(), &erin.id, 6).await.unwrap(), "nothing pending any more");
    store.put_pending_admin_totp(&erin.id, b"other", 2_000).await.unwrap();
    let totp = store.admin_totp(&erin.id).await.unwrap().unwrap();
    assert_eq!(
        (totp.sealed_secret.as_slice(), totp.confirmed, totp.last_step),
        (b"sealed".as_slice(), true, 5),
        "a confirmed secret stays"
    );
    assert!(!store.use_admin_totp_step(&erin.id, 5).await.unwrap(), "each step once");
    assert!(store.use_admin_totp_step(&erin.id, 6).await.unwrap());
    // A lost authenticator: removed, and the sessions made with it end.
    store.create_admin_session("hash-5", &erin.id, true, 1_000).await.unwrap();
    assert!(store.reset_admin_mfa(&actor(), &erin.id).await.unwrap());
    assert!(store.admin_totp(&erin.id).await.unwrap().is_none());
    assert!(store.admin_session("hash-5").await.unwrap().is_none(), "its sessions ended");
    assert!(!store.reset_admin_mfa(&actor(), &erin.id).await.unwrap(), "nothing left to reset");
    // Passkeys: named one of a kind, credential IDs one of a kind, the counter forward only,
    // and a reset takes them (ending the sessions again).
    let passkey = |name: &str, credential: u8| AdminPasskey {
        admin_id: erin.id.clone(),
        name: name.into(),
        credential_id: vec![credential; 16],
        user_handle: vec![9; 16],
        passkey_json: "{}".into(),
        sign_count: 0,
        created_at: 10,
        last_used_at: None,
    };
    store.add_admin_passkey(&actor(), &passkey("Key", 1)).await.unwrap();
    let conflict = |result: Result<(), StoreError>| match result {
        Err(StoreError::Conflict { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(conflict(store.add_admin_passkey(&actor(), &passkey("Key", 2)).await), "name");
    assert_eq!(conflict(store.add_admin_passkey(&actor(), &passkey("Other", 1)).await), "credential_id");
    assert!(store.admin_passkey_used(&[1; 16], 3, "{\"n\":3}", 20).await.unwrap());
    assert!(!store.admin_passkey_used(&[1; 16], 3, "{}", 21).await.unwrap(), "the counter moves forward only");
    assert!(!store.admin_passkey_used(&[7; 16], 9, "{}", 21).await.unwrap(), "no such passkey");
    let kept = store.admin_passkeys(&erin.id).await.unwrap();
    assert_eq!(
        (kept.len(), kept[0].sign_count, kept[0].last_used_at, kept[0].passkey_json.as_str()),
        (1, 3, Some(20), "{\"n\":3}")
    );
    store.create_admin_session("hash-6", &erin.id, true, 1_000).await.unwrap();
    assert!(store.reset_admin_mfa(&actor(), &erin.id).await.unwrap(), "passkeys alone are something to reset");
    assert!(store.admin_passkeys(&erin.id).await.unwrap().is_empty());
    assert!(store.admin_session("hash-6").await.unwrap().is_none(), "its sessions ended");
    store.add_admin_passkey(&actor(), &passkey("Key", 1)).await.unwrap();
    store.create_admin_session("hash-4", &erin.id, true, 1_000).await.unwrap();
    store.put_pending_admin_totp(&erin.id, b"again", 3_000).await.unwrap();
    store.delete_admin(&actor(), "erin").await.unwrap();
    assert!(store.admin_session("hash-4").await.unwrap().is_none(), "a deleted administrator's session is gone");
    assert!(store.admin_totp(&erin.id).await.unwrap().is_none());
    assert!(store.admin_passkeys(&erin.id).await.unwrap().is_empty(), "nor their passkeys");

    let frank = store.find_admin("frank").await.unwrap();
    for n in 0..3 {
        assert!(store.reserve_admin_attempt(&frank.id, 3, 60_000, 10_000 + n).await.unwrap());
    }
    assert!(!store.reserve_admin_attempt(&frank.id, 3, 60_000, 20_000).await.unwrap(), "locked");
    assert!(store.reserve_admin_attempt(&frank.id, 3, 60_000, 80_000).await.unwrap(), "one attempt per window");
    store.clear_admin_failures(&frank.id).await.unwrap();
    assert!(store.reserve_admin_attempt(&frank.id, 3, 60_000, 80_001).await.unwrap());
}

pub(super) async fn api_tokens_lifecycle(store: Arc<dyn Store>, _raw: Raw) {
    let token = store.create_api_token(&actor(), "deploy", "hash-1", AdminRole::Admin, &[]).await.unwrap();
    assert!(matches!(
        store.create_api_token(&actor(), "DEPLOY", "hash-2", AdminRole::Admin, &[]).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.find_api_token("hash-1").await.unwrap().unwrap().id, token.id);
    assert!(store.find_api_token("hash-x").await.unwrap().is_none());
    store.revoke_api_token(&actor(), "deploy").await.unwrap();
    assert!(store.find_api_token("hash-1").await.unwrap().is_none(), "revoked tokens stop working");
    assert!(matches!(store.revoke_api_token(&actor(), "deploy").await, Err(StoreError::NotFound { .. })));
    store.create_api_token(&actor(), "deploy", "hash-3", AdminRole::Admin, &[]).await.unwrap();
    assert_eq!(store.list_api_tokens().await.unwrap().len(), 2);
}

pub(super) async fn settings_and_initial_admin(store: Arc<dyn Store>, _raw: Raw) {
    assert_eq!(store.get_setting("public_url").await.unwrap(), None);
    store.set_setting("public_url", "https://a.example").await.unwrap();
    store.set_setting("public_url", "https://b.example").await.unwrap();
    assert_eq!(store.get_setting("public_url").await.unwrap().as_deref(), Some("https://b.example"));
    assert!(store.create_initial_admin("admin", "$argon2id$x").await.unwrap());
    assert!(
        !store.create_initial_admin("admin", "$argon2id$y").await.unwrap(),
        "only the first start creates an admin"
    );
    store.ping().await.unwrap();
}
