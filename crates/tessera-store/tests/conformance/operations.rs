//! Schema versions, leases, and what several nodes see of each other.

use super::*;

pub(super) async fn schema_newer_than_binary_is_refused(_store: Arc<dyn Store>, raw: Raw) {
    raw.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'from the future', TRUE, X'00', 0)",
    )
    .await
    .or_else(|_| {
        // PostgreSQL spells a bytea literal differently.
        futures_lite_block(raw.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99999, 'from the future', TRUE, '\\x00'::bytea, 0)",
        ))
    })
    .unwrap();
    match raw.reopen().await {
        Err(StoreError::SchemaTooNew { database: 99999, binary }) => assert!(binary >= 1),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

pub(super) async fn a_lease_has_one_holder_until_it_expires_or_is_released(store: Arc<dyn Store>, _raw: Raw) {
    let takes = (0..8).map(|n| {
        let store = store.clone();
        tokio::spawn(async move { store.take_lease("job", &format!("node{n}"), 60_000).await.unwrap() })
    });
    let mut taken = 0;
    for take in takes {
        taken += usize::from(take.await.unwrap());
    }
    assert_eq!(taken, 1, "one holder at a time");
    store.release_lease("job", "nobody").await.unwrap();
    assert!(!store.take_lease("job", "late", 60_000).await.unwrap(), "only its holder releases it");
    for n in 0..8 {
        store.release_lease("job", &format!("node{n}")).await.unwrap();
    }
    assert!(store.take_lease("job", "late", -1).await.unwrap(), "free once released");
    assert!(store.take_lease("job", "other", 60_000).await.unwrap(), "an expired lease is taken over");
    assert!(store.take_lease("job", "other", 60_000).await.unwrap(), "its holder renews it");
}

pub(super) async fn reads_see_this_process_writes_at_once_and_other_writers_within_a_second(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    let user = alice(&store).await;
    let staff = store.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), None).await.unwrap();
    store.add_member(&actor(), staff.id, user.id).await.unwrap();
    store.grant(&actor(), app.id, staff.id).await.unwrap();
    let session = Session {
        id_hash: "live".into(),
        user_id: user.id,
        authn: AuthnContext::default().with(Factor::Password, 5),
        complete: true,
        created_at: 5,
        last_seen_at: 5,
        expires_at: i64::MAX,
    };
    store.create_session(&session).await.unwrap();
    // Read twice, so that a cache (SQLite keeps one) holds each answer.
    for _ in 0..2 {
        assert!(store.find_session_with_user("live").await.unwrap().is_some());
        assert!(store.check_access(user.id, app.id).await.unwrap().is_allowed());
        assert_eq!(store.find_app_by_idp_path("contoso.com").await.unwrap().id, app.id);
    }
    // This process's own writes are seen by the next read.
    store.revoke(&actor(), app.id, staff.id).await.unwrap();
    assert!(!store.check_access(user.id, app.id).await.unwrap().is_allowed());
    store.delete_session("live").await.unwrap();
    assert!(store.find_session_with_user("live").await.unwrap().is_none(), "a sign-out is immediate");
    store.grant(&actor(), app.id, staff.id).await.unwrap();
    assert!(store.check_access(user.id, app.id).await.unwrap().is_allowed());
    // Another process (a management command) writing behind the store's back is seen within a
    // second (CONTRACT.md): poll, with slack for a loaded machine.
    raw.execute("UPDATE users SET state = 'suspended'").await.unwrap();
    let started = std::time::Instant::now();
    while store.check_access(user.id, app.id).await.unwrap().is_allowed() {
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "the suspension was never seen");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
