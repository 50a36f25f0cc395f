//! The PostgreSQL store's connections: one the database has cut is found before a query runs
//! on it, however recently it was used (sqlx's ping before each use, kept for that reason:
//! bench/README.md, sixth look).

use super::*;
use tessera_store::{AuditChain, UserStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_database_cut_are_replaced_before_a_query_uses_them() {
    let Some(db) = ThrowawayPg::create().await else { return };
    let outcome = tokio::spawn(cut_under_the_store(db.url.clone())).await;
    db.drop_database().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn cut_under_the_store(url: String) {
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
    // The database ends the store's connections (a restart, an administrator, a failover
    // would do the same), each gone before the call returns; the reads follow at once.
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND backend_type = 'client backend' AND usename = current_user",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(cut.len() >= 3 && cut.iter().all(|ended| *ended), "connections ended: {cut:?}");
    let failed = reads(store.clone()).await;
    assert!(failed.is_empty(), "reads failed on connections the database had cut: {failed:?}");
}
