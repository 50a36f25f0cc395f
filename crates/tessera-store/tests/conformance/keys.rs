//! Signing keys and the staged rollover.

use super::*;

pub(super) async fn signing_keys_are_stored_sealed_and_rotate(store: Arc<dyn Store>, _raw: Raw) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), Some(fake_key(1))).await.unwrap();
    assert_eq!(app.certificates.current.as_deref(), Some(&[0x30, 1][..]));
    assert_eq!(app.certificates.next, None);
    let stored = store.signing_key(app.id, KeySlot::Current).await.unwrap().unwrap();
    assert_eq!(stored.sealed_private_key, vec![1, 1, 3]);
    assert_eq!(stored.bits, 2048);
    let rotated = store.replace_current_key(&actor(), app.id, fake_key(2)).await.unwrap();
    assert_ne!(rotated.id, stored.id);
    let app = store.find_app("M365").await.unwrap();
    assert_eq!(app.certificates.current.as_deref(), Some(&[0x30, 2][..]), "the new key is in use at once");
    let listed = store.list_apps(&PageRequest::first(10)).await.unwrap();
    assert_eq!(listed.items[0].certificates.current.as_deref(), Some(&[0x30, 2][..]));
    let events = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let rotation = events.iter().find(|e| e.action == "app.cert_rotate").unwrap();
    assert_eq!(rotation.summary["new_certificate_sha256"], "thumb-2");
    assert!(rotation.summary["old_certificate_sha256"].is_string());
    let ghost = tessera_core::AppId::new();
    assert!(matches!(store.replace_current_key(&actor(), ghost, fake_key(3)).await, Err(StoreError::NotFound { .. })));
    store.delete_apps(&actor(), &[app.id], 1).await.unwrap();
    assert!(store.signing_key(app.id, KeySlot::Current).await.unwrap().is_none(), "keys go with their app");
}

pub(super) async fn a_staged_key_is_promoted_and_the_old_certificate_stays_published_for_its_grace_period(
    store: Arc<dyn Store>,
    _raw: Raw,
) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), Some(fake_key(1))).await.unwrap();
    let refused = store.promote_key(&actor(), app.id, i64::MAX).await.unwrap_err();
    assert!(refused.to_string().contains("no certificate is staged"), "{refused}");
    store.stage_key(&actor(), app.id, fake_key(2)).await.unwrap();
    let app_now = store.find_app("M365").await.unwrap();
    assert_eq!(app_now.certificates.current.as_deref(), Some(&[0x30, 1][..]), "staged is not signing");
    assert_eq!(app_now.certificates.next.as_deref(), Some(&[0x30, 2][..]), "staged is published as next");
    assert!(store.stage_key(&actor(), app.id, fake_key(3)).await.unwrap_err().to_string().contains("staged already"));

    let far = 4_000_000_000_000;
    let promoted = store.promote_key(&actor(), app.id, far).await.unwrap();
    assert_eq!((promoted.slot, promoted.certificate_der.as_slice()), (KeySlot::Current, &[0x30, 2][..]));
    assert!(store.signing_key(app.id, KeySlot::Next).await.unwrap().is_none());
    let app_now = store.find_app("M365").await.unwrap();
    assert_eq!(app_now.certificates.current.as_deref(), Some(&[0x30, 2][..]));
    assert_eq!(app_now.certificates.next.as_deref(), Some(&[0x30, 1][..]), "the old one is published as next");
    let previous = store.previous_certificate(app.id).await.unwrap().unwrap();
    assert_eq!((previous.certificate_der.as_slice(), previous.published_until), (&[0x30, 1][..], far));
    // Staging waits for the grace period; a clear that is not due yet clears nothing.
    assert!(store.stage_key(&actor(), app.id, fake_key(4)).await.unwrap_err().to_string().contains("until"));
    assert!(!store.clear_previous_certificate(&actor(), app.id, true).await.unwrap());
    assert!(store.clear_previous_certificate(&actor(), app.id, false).await.unwrap());
    assert!(!store.clear_previous_certificate(&actor(), app.id, false).await.unwrap(), "cleared once");
    assert_eq!(store.find_app("M365").await.unwrap().certificates.next, None);

    // A grace period already over is cleared when due; a rotation drops a previous one at once.
    store.stage_key(&actor(), app.id, fake_key(5)).await.unwrap();
    store.promote_key(&actor(), app.id, 1).await.unwrap();
    assert_eq!(
        store.find_app("M365").await.unwrap().certificates.next,
        None,
        "past its grace period it is no longer published, cleared or not"
    );
    assert!(store.clear_previous_certificate(&actor(), app.id, true).await.unwrap());
    store.stage_key(&actor(), app.id, fake_key(6)).await.unwrap();
    store.promote_key(&actor(), app.id, far).await.unwrap();
    store.replace_current_key(&actor(), app.id, fake_key(7)).await.unwrap();
    assert!(store.previous_certificate(app.id).await.unwrap().is_none());
    let events = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!((count("app.cert_stage"), count("app.cert_promote"), count("app.cert_clear_previous")), (3, 3, 2));
    let promote = events.iter().find(|e| e.action == "app.cert_promote").unwrap();
    assert!(
        promote.summary["old_certificate_sha256"].is_string() && promote.summary["new_certificate_sha256"].is_string()
    );
    store.delete_apps(&actor(), &[app.id], 1).await.unwrap();
    assert!(store.previous_certificate(app.id).await.unwrap().is_none(), "gone with its app");
}
