//! The key service over a real store: keys made at app creation sign, the parsed key is
//! reused, rotation switches signers at once, and the master key is checked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::sync::Arc;

use tessera_core::app::M365Config;
use tessera_core::{Actor, AppKind, NewApplication};
use tessera_keys::{KeyError, KeyService, KeySize};
use tessera_store::{SqliteStore, Store};
use tessera_xml::Signer;

fn clock() -> Arc<dyn tessera_core::Clock> {
    Arc::new(tessera_core::SystemClock)
}

async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open_file(&dir.path().join("t.db"), clock()).await.unwrap())
}

fn app() -> NewApplication {
    NewApplication::new(
        "https://idp.example.com",
        "M365",
        None,
        None,
        true,
        AppKind::M365(M365Config::for_domain("contoso.com")),
    )
    .unwrap()
}

#[tokio::test]
async fn signer_is_cached_and_follows_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let keys = KeyService::open(store.clone(), &[3u8; 32], clock()).await.unwrap();
    let new = app();
    let key = keys.new_key(new.id, &new.label, KeySize::Rsa2048, 30).await.unwrap();
    let created = store.create_app(&Actor::system(), new, Some(key)).await.unwrap();

    let first = keys.signer(created.id).await.unwrap();
    assert!(Arc::ptr_eq(&first, &keys.signer(created.id).await.unwrap()), "the parsed key is cached");
    assert_eq!(Some(first.certificate_der()), created.certificates.current.as_deref());
    let signature = first.sign(b"message").unwrap();
    assert_eq!(signature.len(), 256);

    keys.rotate(&Actor::system(), created.id, "M365", KeySize::Rsa2048, 30).await.unwrap();
    let second = keys.signer(created.id).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &second), "rotation takes effect on the next signature");
    assert_ne!(first.certificate_der(), second.certificate_der());
    let app = store.find_app("M365").await.unwrap();
    assert_eq!(app.certificates.current.as_deref(), Some(second.certificate_der()));
}

#[tokio::test]
async fn another_service_on_the_same_database_opens_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let keys = KeyService::open(store.clone(), &[4u8; 32], clock()).await.unwrap();
    let new = app();
    let key = keys.new_key(new.id, &new.label, KeySize::Rsa2048, 30).await.unwrap();
    let created = store.create_app(&Actor::system(), new, Some(key)).await.unwrap();
    // A second node with the same master key.
    let other = KeyService::open(store.clone(), &[4u8; 32], clock()).await.unwrap();
    assert!(other.signer(created.id).await.is_ok());
    // A node with another master key is stopped before it touches anything.
    assert!(matches!(KeyService::open(store.clone(), &[5u8; 32], clock()).await, Err(KeyError::WrongMasterKey)));
}

#[tokio::test]
async fn a_key_moved_to_another_app_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let keys = KeyService::open(store.clone(), &[6u8; 32], clock()).await.unwrap();
    let first = app();
    let key = keys.new_key(first.id, &first.label, KeySize::Rsa2048, 30).await.unwrap();
    let sealed_elsewhere = key.sealed_private_key.clone();
    store.create_app(&Actor::system(), first, Some(key)).await.unwrap();
    // The second app gets the first app's sealed key under its own row: the seal is bound to
    // app and key id, so it is refused instead of signing with another app's key.
    let second = NewApplication::new(
        "https://idp.example.com",
        "Other",
        None,
        None,
        true,
        AppKind::M365(M365Config::for_domain("fabrikam.com")),
    )
    .unwrap();
    let mut key = keys.new_key(second.id, &second.label, KeySize::Rsa2048, 30).await.unwrap();
    key.sealed_private_key = sealed_elsewhere;
    let created = store.create_app(&Actor::system(), second, Some(key)).await.unwrap();
    assert!(matches!(keys.signer(created.id).await, Err(KeyError::Undecryptable(_))));
}

#[tokio::test]
async fn bookmarks_and_unknown_apps_have_no_signer() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let keys = KeyService::open(store.clone(), &[7u8; 32], clock()).await.unwrap();
    assert!(matches!(keys.signer(tessera_core::AppId::new()).await, Err(KeyError::NoKey(_))));
}
