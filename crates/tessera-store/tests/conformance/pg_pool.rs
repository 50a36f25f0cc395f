//! The PostgreSQL store's connections: one the database has cut is found before a query runs
//! on it, however recently it was used (sqlx's ping before each use, kept for that reason:
//! bench/README.md, sixth look).

use super::*;
use tessera_store::{AuditChain, UserStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_database_cut_are_replaced_before_a_query_uses_them() {
    on_a_fresh_database(cut_under_the_store).await;
}

async fn cut_under_the_store(url: String) {
    let store = Arc::new(PgStore::connect(&url, wall_clock()).await.unwrap());
    store.seal_audit_with(tessera_store::AuditKey::for_tests()).unwrap();
    let user = store.create_user(&actor(), new_user("ada@contoso.com")).await.unwrap();
    // Several connections open at once, then back in the pool.
    let reads = |store: Arc<PgStore>| async move {
        let mut tasks = Vec::new();
        let together = Arc::new(tokio::sync::Barrier::new(12));
        for _ in 0..12 {
            let (store, together) = (store.clone(), together.clone());
            tasks.push(tokio::spawn(async move {
                together.wait().await;
                store.find_user(&user.id.to_string()).await
            }));
        }
        let mut failed = Vec::new();
        for task in tasks {
            if let Err(e) = task.await.unwrap() {
                failed.push(e.to_string());
            }
        }
        failed
    };
    // Reads run together until three of the pool's connections have served one: on a busy
    // machine the tasks of one round can run one after another on a single connection. The
    // store's listening and heartbeat connections are not counted (their last statements
    // are other ones).
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut held = 0;
    for _ in 0..50 {
        assert!(reads(store.clone()).await.is_empty());
        held = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND backend_type = 'client backend' AND usename = current_user \
             AND query LIKE '%FROM users WHERE id = $1'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if held >= 3 {
            break;
        }
    }
    assert!(held >= 3, "reads were served by {held} of the pool's connections, not three");
    // The database ends the store's connections (a restart, an administrator, a failover
    // would do the same), each gone before the call returns; the reads follow at once.
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

/// A batch of sign-on writes is one statement, its own transaction, on a connection the writer
/// keeps from batch to batch (no BEGIN, no COMMIT, no pool pings: bench/README.md, eighth
/// look). Records written meanwhile by another node and by a change on this one move the
/// chain's head under the writer, a replayed ID and an ended session are left out, and a
/// connection the database cut is replaced: every write is answered as it should be, and the
/// chain stays whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_writer_writes_a_batch_in_one_statement_on_a_connection_it_keeps() {
    on_a_fresh_database(one_statement_a_batch).await;
}

async fn one_statement_a_batch(url: String) {
    use tessera_store::{AuditQuery, AuditStore, MessageClaim, ReplayStore, SessionStore, TokenRecord, TokenRecorded};
    let node = |url: String| async move {
        let store = PgStore::connect(&url, wall_clock()).await.unwrap();
        store.seal_audit_with(tessera_store::AuditKey::for_tests()).unwrap();
        store
    };
    let (a, b) = (Arc::new(node(url.clone()).await), Arc::new(node(url.clone()).await));
    let user = a.create_user(&actor(), new_user("ada@contoso.com")).await.unwrap();
    a.create_session(&signed_in_session("kept", user.id)).await.unwrap();
    let claim = |n: usize| MessageClaim {
        issuer: "sp".into(),
        message_id: format!("_one{n}"),
        expires_at: 20_000,
        now: 10_000,
    };
    let token = |store: &Arc<PgStore>, n: usize, session: &'static str| {
        let claim = claim(n);
        let store = store.clone();
        async move {
            let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", n.to_string(), serde_json::json!({}));
            store.record_token(TokenRecord { session, claim: Some(&claim), actor: &actor(), event }).await.unwrap()
        }
    };
    let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
    // The backend whose last statement was a batch, idle outside any transaction.
    let mut writer = async || -> Vec<(i32, f64)> {
        sqlx::query_as(
            "SELECT pid, extract(epoch FROM query_start)::float8 FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'idle' AND xact_start IS NULL \
             AND query LIKE 'WITH %, head AS (SELECT h.seq, h.mac FROM claimed, live, audit_chain_head h%'",
        )
        .fetch_all(&mut watch)
        .await
        .unwrap()
    };
    let mut written = 0;
    assert_eq!(token(&a, 0, "kept").await, TokenRecorded::Written);
    written += 1;
    let first = writer().await;
    assert_eq!(first.len(), 1, "no backend's last statement was the whole batch: {first:?}");
    let mut last = first[0];
    for n in 1..6 {
        // The head moved under A's writer: by B, by a change on A, or not at all.
        match n % 3 {
            0 => assert_eq!(token(&b, 100 + n, "kept").await, TokenRecorded::Written),
            1 => drop(a.create_user(&actor(), new_user(&format!("u{n}@contoso.com"))).await.unwrap()),
            _ => {}
        }
        written += usize::from(n % 3 == 0);
        assert_eq!(token(&a, n, "kept").await, TokenRecorded::Written, "token {n}");
        written += 1;
        let now = writer().await;
        let on_a: Vec<_> = now.iter().filter(|(pid, _)| *pid == last.0).collect();
        assert_eq!(on_a.len(), 1, "A's writer left its connection after token {n}: {now:?}, was {last:?}");
        assert!(on_a[0].1 > last.1, "token {n} was not A's writer's last statement");
        last = *on_a[0];
    }
    // A replayed ID and an ended session are refused, the others in the same batch written.
    let together = [(1, "kept"), (50, "kept"), (51, "gone"), (52, "kept")];
    let tasks: Vec<_> = together.iter().map(|(n, session)| tokio::spawn(token(&a, *n, session))).collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_eq!(
        answers,
        [TokenRecorded::Replayed, TokenRecorded::Written, TokenRecorded::SessionEnded, TokenRecorded::Written]
    );
    written += 2;
    // The database cuts every connection of A's; the next batch still commits.
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    .fetch_all(&mut watch)
    .await
    .unwrap();
    assert!(cut.iter().all(|ended| *ended));
    assert_eq!(token(&a, 60, "kept").await, TokenRecorded::Written);
    assert_eq!(token(&a, 61, "kept").await, TokenRecorded::Written);
    written += 2;
    let issued = a
        .list_audit(&AuditQuery { limit: 1000, ..AuditQuery::default() })
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.action == "saml.issued")
        .count();
    assert_eq!(issued, written);
    let report = a.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
}

/// The writer's own connection is not checked by the pool before each batch: a batch that gets
/// no answer (the route went silent: here, the server process behind it stopped) is given up
/// at its 2 s deadline. What it sent may still commit, so its writes fail (no token goes out)
/// rather than go again (no record twice); the next batch takes a fresh connection. Without
/// the deadline the writer, and every sign-on after it, would wait as long as the kernel keeps
/// the socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_on_a_silent_writer_connection_is_given_up_at_its_deadline() {
    on_a_fresh_database(silent_writer).await;
}

async fn silent_writer(url: String) {
    use std::time::{Duration, Instant};
    use tessera_store::TokenRecorded;
    let store = signed_in_store(&url).await;
    let token = |n: usize| kept_token(&store, "silent", n);
    assert_eq!(token(0).await.unwrap(), TokenRecorded::Written);
    let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
    let pid: i32 = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle' \
         AND query LIKE 'WITH %, head AS (SELECT h.seq, h.mac FROM claimed, live, audit_chain_head h%'",
    )
    .fetch_one(&mut watch)
    .await
    .unwrap();
    let stopped = Stopped::stop(pid);
    if stopped.is_none() {
        return;
    }
    let started = Instant::now();
    let answered = tokio::time::timeout(Duration::from_secs(20), token(1)).await;
    let took = started.elapsed();
    match answered.expect("the batch waited on a silent connection") {
        Err(StoreError::WriteFailed(message)) => assert!(message.contains("did not answer"), "{message}"),
        other => panic!("a batch on a silent connection was answered {other:?}"),
    }
    assert!(took >= Duration::from_millis(1900), "answered in {took:?}: the writer was not on the stopped connection");
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
    drop(stopped);
    // The next batches are on a fresh connection of the writer's own.
    let started = Instant::now();
    assert_eq!(token(2).await.unwrap(), TokenRecorded::Written);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let report = store.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
}

/// A batch that waits on a row lock longer than the writer's own statements may run (here the
/// chain's head, held by another transaction for 2.5 s) is ended by the server with nothing
/// committed, and goes on through the pool, where it waits its turn: the token is written once
/// the lock is released, not refused at the writer's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_kept_waiting_on_a_lock_goes_on_through_the_pool() {
    on_a_fresh_database(waiting_on_a_lock).await;
}

async fn waiting_on_a_lock(url: String) {
    use std::time::{Duration, Instant};
    use tessera_store::TokenRecorded;
    let store = signed_in_store(&url).await;
    let token = |n: usize| kept_token(&store, "locked", n);
    assert_eq!(token(0).await.unwrap(), TokenRecorded::Written);
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE").execute(&mut holder).await.unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    });
    let started = Instant::now();
    assert_eq!(token(1).await.unwrap(), TokenRecorded::Written);
    let took = started.elapsed();
    release.await.unwrap();
    assert!(took >= Duration::from_millis(2400), "written after {took:?}, before the lock was released");
    assert_eq!(token(2).await.unwrap(), TokenRecorded::Written);
    let report = store.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
}

/// A sealed PostgreSQL store with a user signed in: session `kept`.
async fn signed_in_store(url: &str) -> PgStore {
    use tessera_store::SessionStore;
    let store = PgStore::connect(url, wall_clock()).await.unwrap();
    store.seal_audit_with(tessera_store::AuditKey::for_tests()).unwrap();
    let user = store.create_user(&actor(), new_user("ada@contoso.com")).await.unwrap();
    store.create_session(&signed_in_session("kept", user.id)).await.unwrap();
    store
}

/// Token `n`'s record for session `kept`, with its own request ID.
async fn kept_token(store: &PgStore, prefix: &str, n: usize) -> Result<tessera_store::TokenRecorded, StoreError> {
    use tessera_store::{MessageClaim, ReplayStore, TokenRecord};
    let claim =
        MessageClaim { issuer: "sp".into(), message_id: format!("_{prefix}{n}"), expires_at: 20_000, now: 10_000 };
    let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", n.to_string(), serde_json::json!({}));
    store.record_token(TokenRecord { session: "kept", claim: Some(&claim), actor: &actor(), event }).await
}
