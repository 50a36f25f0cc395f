//! Directory sources.

use super::*;
use tessera_core::NewDirectorySource;
use tessera_core::sources::{DirectoryKind, PasswordCheck, SourceAttributes, SourceConfig};

pub(super) fn source(name: &str) -> NewDirectorySource {
    let (user_filter, group_filter) = SourceConfig::default_filters(DirectoryKind::Ad);
    let config = SourceConfig {
        kind: DirectoryKind::Ad,
        urls: vec!["ldaps://dc1.corp.test".into(), "ldaps://dc2.corp.test:636".into()],
        bind_dn: "CN=tessera,CN=Users,DC=corp,DC=test".into(),
        base_dn: "DC=corp,DC=test".into(),
        ca_pem: None,
        authenticate: PasswordCheck::Bind,
        user_filter: user_filter.into(),
        group_filter: group_filter.into(),
        insecure_plaintext: false,
        attributes: SourceAttributes::defaults(DirectoryKind::Ad),
    };
    NewDirectorySource::new(name, config).unwrap()
}

pub(super) async fn sources_round_trip_and_a_name_is_taken_once(store: Arc<dyn Store>, _raw: Raw) {
    let corp = store.create_source(&actor(), source("Corp AD"), b"sealed-1").await.unwrap();
    assert_eq!(corp.config.urls.len(), 2);
    for key in [corp.id.to_string(), "corp ad".into(), " CORP AD ".into()] {
        assert_eq!(store.find_source(&key).await.unwrap(), corp, "{key}");
    }
    assert_eq!(store.source_bind_password(corp.id).await.unwrap(), b"sealed-1");
    let before = audit_count(&store).await;
    let taken = store.create_source(&actor(), source("CORP ad"), b"sealed-2").await;
    assert!(matches!(taken, Err(StoreError::Conflict { field: "name", .. })), "{taken:?}");
    assert_eq!(audit_count(&store).await, before, "a refused source is not audited as added");
    let other = store.create_source(&actor(), source("Branch"), b"sealed-3").await.unwrap();
    let names: Vec<String> = store.list_sources().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["Corp AD", "Branch"]);

    assert_eq!(store.remove_source(&actor(), other.id).await.unwrap(), 0);
    assert!(matches!(store.find_source("Branch").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.remove_source(&actor(), other.id).await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.source_bind_password(other.id).await, Err(StoreError::NotFound { .. })));
    let events = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let added = events.iter().find(|e| e.action == "directory.add").unwrap();
    assert_eq!(
        (added.target_kind.as_str(), added.summary["bind_dn"].as_str()),
        ("directory", Some("CN=tessera,CN=Users,DC=corp,DC=test"))
    );
    assert!(!serde_json::to_string(&events).unwrap().contains("sealed"), "no password in the trail");
    let removed = events.iter().find(|e| e.action == "directory.remove").unwrap();
    assert_eq!(removed.summary["name"], "Branch");
}

/// A source's users stay when it goes, as local users (checked through SQL: linking users is
/// the sync's, which writes them through the store).
pub(super) async fn removing_a_source_keeps_its_users(store: Arc<dyn Store>, raw: Raw) {
    let corp = store.create_source(&actor(), source("Corp AD"), b"sealed").await.unwrap();
    let user = alice(&store).await;
    raw.execute("UPDATE users SET source_id = (SELECT id FROM directory_sources), source_anchor = 'anchor-1'")
        .await
        .unwrap();
    assert_eq!(store.remove_source(&actor(), corp.id).await.unwrap(), 1);
    let kept = store.find_user(&user.id.to_string()).await.unwrap();
    assert_eq!((kept.immutable_id, kept.state), (user.immutable_id, UserState::Active));
}

fn synced(email: &str, anchor: &str) -> (String, tessera_core::NewUser) {
    let user = tessera_core::NewUser::new(email, None, Some("Syn"), Some("Ced"), Some(anchor), String::new).unwrap();
    (anchor.to_string(), user)
}

pub(super) async fn a_sync_applies_whole_and_undoes_only_its_own_suspensions(store: Arc<dyn Store>, _raw: Raw) {
    use tessera_core::sync::{SyncChanges, SyncedFields};
    let corp = store.create_source(&actor(), source("Corp AD"), b"sealed").await.unwrap();
    let local = alice(&store).await;
    let first = SyncChanges {
        create: vec![synced("dan@corp.test", "YW5jaG9yLWRhbg=="), synced("eve@corp.test", "YW5jaG9yLWV2ZQ==")],
        ..Default::default()
    };
    store.apply_sync(&actor(), corp.id, &first, serde_json::json!({"created": 2})).await.unwrap();
    let linked = store.linked_users(corp.id).await.unwrap();
    let anchors: Vec<&str> = linked.iter().map(|l| l.anchor.as_str()).collect();
    assert_eq!(anchors, ["YW5jaG9yLWRhbg==", "YW5jaG9yLWV2ZQ=="]);
    assert_eq!(linked[0].user.immutable_id, "YW5jaG9yLWRhbg==");
    let (dan, eve) = (linked[0].user.clone(), linked[1].user.clone());

    // A clash anywhere in a sync changes nothing of it.
    let users_before = store.list_users(&PageRequest::first(100)).await.unwrap().items;
    let audit_before = audit_count(&store).await;
    let clashing = SyncChanges {
        create: vec![synced("frank@corp.test", "YW5jaG9yLWZyYW5r"), synced("ALICE@contoso.com", "YW5jaG9yLWFsaWNl")],
        suspend: vec![dan.id],
        ..Default::default()
    };
    let refused = store.apply_sync(&actor(), corp.id, &clashing, serde_json::json!({})).await;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
    assert_eq!(store.list_users(&PageRequest::first(100)).await.unwrap().items, users_before);
    assert_eq!(audit_count(&store).await, audit_before);

    // Dan renamed and suspended by the source (his session ends); Eve suspended by an
    // administrator; the local user adopted.
    let session = Session {
        id_hash: "dan-session".into(),
        user_id: dan.id,
        authn: AuthnContext::default(),
        complete: true,
        created_at: 1,
        last_seen_at: 1,
        expires_at: i64::MAX,
    };
    store.create_session(&session).await.unwrap();
    store.set_user_state(&actor(), eve.id, UserState::Suspended).await.unwrap();
    let renamed = SyncedFields {
        email: "daniel@corp.test".into(),
        upn: "daniel@corp.test".into(),
        first_name: "Daniel".into(),
        last_name: "Ced".into(),
    };
    // Read twice first, so that a cache (SQLite keeps one) holds the answer the sync changes.
    for _ in 0..2 {
        assert_eq!(store.user_source(local.id).await.unwrap(), None);
        assert_eq!(store.user_source(dan.id).await.unwrap(), Some((corp.id, "YW5jaG9yLWRhbg==".to_string())));
    }
    let second = SyncChanges {
        update: vec![(dan.id, renamed)],
        suspend: vec![dan.id],
        adopt: vec![(local.id, "YW5jaG9yLWFsaWNl".into())],
        ..Default::default()
    };
    store.apply_sync(&actor(), corp.id, &second, serde_json::json!({})).await.unwrap();
    let dan_now = store.find_user("daniel@corp.test").await.unwrap();
    assert_eq!((dan_now.state, dan_now.immutable_id.as_str()), (UserState::Suspended, "YW5jaG9yLWRhbg=="));
    assert!(store.find_session("dan-session").await.unwrap().is_none(), "a suspended user's sessions end");
    let linked = store.linked_users(corp.id).await.unwrap();
    assert_eq!(linked.len(), 3, "the local user is the source's now");
    assert!(linked.iter().find(|l| l.user.id == dan.id).unwrap().suspended_by_source);
    assert!(!linked.iter().find(|l| l.user.id == eve.id).unwrap().suspended_by_source);
    assert_eq!(store.find_user(&local.id.to_string()).await.unwrap().immutable_id, local.immutable_id);
    assert_eq!(store.user_source(local.id).await.unwrap(), Some((corp.id, "YW5jaG9yLWFsaWNl".to_string())));

    // Reactivation undoes the source's suspension only.
    let third = SyncChanges { reactivate: vec![dan.id, eve.id], ..Default::default() };
    store.apply_sync(&actor(), corp.id, &third, serde_json::json!({})).await.unwrap();
    assert_eq!(store.find_user(&dan.id.to_string()).await.unwrap().state, UserState::Active);
    assert_eq!(store.find_user(&eve.id.to_string()).await.unwrap().state, UserState::Suspended);
    let syncs = store
        .list_audit(&AuditQuery { action: Some("directory.sync".into()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(syncs.len(), 3);
    assert_eq!(syncs[0].summary["created"], 2);
    // Removing the source keeps all three, as local users.
    assert!(store.user_source(dan.id).await.unwrap().is_some());
    assert_eq!(store.remove_source(&actor(), corp.id).await.unwrap(), 3);
    assert_eq!(store.user_source(dan.id).await.unwrap(), None);
}

pub(super) async fn a_sync_makes_groups_and_their_memberships_follow_the_source(store: Arc<dyn Store>, _raw: Raw) {
    use tessera_core::sync::SyncChanges;
    let corp = store.create_source(&actor(), source("Corp AD"), b"sealed").await.unwrap();
    store.create_group(&actor(), NewGroup::new("Local", None).unwrap()).await.unwrap();
    let users = SyncChanges {
        create: vec![synced("dan@corp.test", "dGVzdC1kYW4="), synced("eve@corp.test", "dGVzdC1ldmU=")],
        create_groups: vec![("Z3JvdXAtZW5n".into(), NewGroup::new("Eng", None).unwrap())],
        add_members: vec![
            ("Z3JvdXAtZW5n".into(), "dGVzdC1kYW4=".into()),
            ("Z3JvdXAtZW5n".into(), "dGVzdC1ldmU=".into()),
            ("Z3JvdXAtZW5n".into(), "bm8tc3VjaC11c2Vy".into()),
        ],
        ..Default::default()
    };
    store.apply_sync(&actor(), corp.id, &users, serde_json::json!({})).await.unwrap();
    let groups = store.linked_groups(corp.id).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!((groups[0].group.name.as_str(), groups[0].members.len()), ("Eng", 2), "an unknown anchor is skipped");
    let eng = groups[0].group.id;

    // A clash with a local group's name changes nothing of the sync.
    let before = audit_count(&store).await;
    let clashing = SyncChanges {
        remove_members: vec![("Z3JvdXAtZW5n".into(), "dGVzdC1ldmU=".into())],
        create_groups: vec![("Z3JvdXAtbG9jYWw=".into(), NewGroup::new("LOCAL", None).unwrap())],
        ..Default::default()
    };
    assert!(matches!(
        store.apply_sync(&actor(), corp.id, &clashing, serde_json::json!({})).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(audit_count(&store).await, before);
    assert_eq!(store.group_members(eng).await.unwrap().len(), 2);

    let later = SyncChanges {
        remove_members: vec![("Z3JvdXAtZW5n".into(), "dGVzdC1ldmU=".into())],
        rename_groups: vec![(eng, "Engineering".into())],
        orphan_groups: vec![eng],
        ..Default::default()
    };
    store.apply_sync(&actor(), corp.id, &later, serde_json::json!({})).await.unwrap();
    let groups = store.linked_groups(corp.id).await.unwrap();
    assert_eq!((groups[0].group.name.as_str(), groups[0].orphaned), ("Engineering", true));
    assert_eq!(groups[0].members, ["dGVzdC1kYW4="]);
    let restored = SyncChanges { restore_groups: vec![eng], ..Default::default() };
    store.apply_sync(&actor(), corp.id, &restored, serde_json::json!({})).await.unwrap();
    assert!(!store.linked_groups(corp.id).await.unwrap()[0].orphaned);
}

pub(super) async fn a_sync_saves_its_cursor_with_its_changes(store: Arc<dyn Store>, _raw: Raw) {
    use tessera_core::sync::SyncChanges;
    let corp = store.create_source(&actor(), source("Corp AD"), b"sealed").await.unwrap();
    assert_eq!(store.sync_cursor(corp.id).await.unwrap(), None, "none before a sync");
    let first = SyncChanges {
        create: vec![synced("dan@corp.test", "YW5jaG9yLWRhbg==")],
        cursor: Some(r#"{"marker":"100"}"#.into()),
        ..Default::default()
    };
    store.apply_sync(&actor(), corp.id, &first, serde_json::json!({})).await.unwrap();
    assert_eq!(store.sync_cursor(corp.id).await.unwrap().as_deref(), Some(r#"{"marker":"100"}"#));
    // A sync that clashes saves no cursor either: the next one reads from the same place.
    let clashing = SyncChanges {
        create: vec![synced("DAN@corp.test", "YW5jaG9yLW90aGVy")],
        cursor: Some(r#"{"marker":"200"}"#.into()),
        ..Default::default()
    };
    assert!(store.apply_sync(&actor(), corp.id, &clashing, serde_json::json!({})).await.is_err());
    assert_eq!(store.sync_cursor(corp.id).await.unwrap().as_deref(), Some(r#"{"marker":"100"}"#));
    // No cursor given: the saved one stays.
    store.apply_sync(&actor(), corp.id, &SyncChanges::default(), serde_json::json!({})).await.unwrap();
    assert_eq!(store.sync_cursor(corp.id).await.unwrap().as_deref(), Some(r#"{"marker":"100"}"#));
    let other = store.create_source(&actor(), source("Other"), b"sealed").await.unwrap();
    assert_eq!(store.sync_cursor(other.id).await.unwrap(), None, "each source its own");
    store.remove_source(&actor(), corp.id).await.unwrap();
    assert!(matches!(store.sync_cursor(corp.id).await, Err(StoreError::NotFound { .. })));
}
