//! The PostgreSQL store's connections: a connection is sent out without a ping while it is in
//! steady use, so one the database cut while it sat idle must still be found before a query
//! runs on it.

use std::time::Duration;

use super::*;
use tessera_store::{AuditChain, UserStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_while_idle_are_replaced_before_a_query_uses_them() {
    let Some(db) = ThrowawayPg::create().await else { return };
    let outcome = tokio::spawn(cut_while_idle(db.url.clone())).await;
    db.drop_database().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn cut_while_idle(url: String) {
    let store = Arc::new(PgStore::connect(&url, wall_clock()).await.unwrap());
    store.seal_audit_with(tessera_store::AuditKey::for_tests()).unwrap();
    let user = store.create_user(&actor(), new_user("ada@contoso.com")).await.unwrap();
    // Several connections open at once, then back in the pool.
    let reads = |store: Arc<PgStore>| async move {
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move { store.find_user(&user.id.to_string()).await }));
        }
        let mut failed = Vec::new();
        for task in tasks {
            if let Err(e) = task.await.unwrap() {
                failed.push(e.to_string());
            }
        }
        failed
    };
    assert!(reads(store.clone()).await.is_empty());
    // The database ends every connection but this one (a restart, an administrator, a
    // firewall's idle timeout would do the same); the store's sit idle past the ping's bound.
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(cut.len() >= 2, "the store held {} connections", cut.len());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let failed = reads(store.clone()).await;
    assert!(failed.is_empty(), "reads failed on connections cut while idle: {failed:?}");
    assert_eq!(store.find_user(&user.id.to_string()).await.unwrap().email, "ada@contoso.com");
}
