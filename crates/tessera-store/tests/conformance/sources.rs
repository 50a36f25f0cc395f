//! Directory sources.

use super::*;
use tessera_core::NewDirectorySource;
use tessera_core::sources::{DirectoryKind, PasswordCheck, SourceAttributes, SourceConfig};

fn source(name: &str) -> NewDirectorySource {
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
