//! Two PostgreSQL nodes on one database: each keeps the reads a sign-on makes only while it
//! hears the other's writes, and a write on one drops what the other kept; a token is never
//! issued on a kept session that has ended. The nodes share a clock that never moves, so a kept
//! read could live for ever: only PostgreSQL's notice ends it.

use std::time::{Duration, Instant};

use super::*;
use tessera_core::ManualClock;
use tessera_store::{
    AppStore, AuditChain, GrantStore, GroupStore, KeyStore, ReplayStore, SessionStore, SourceStore, TokenRecord,
    TokenRecorded, UserStore,
};

/// Two stores on one fresh database, sharing a clock that stands still.
async fn two_nodes(url: &str) -> (PgStore, PgStore) {
    let clock: Arc<dyn tessera_core::Clock> = Arc::new(ManualClock::at(1_000_000));
    let a = PgStore::connect(url, clock.clone()).await.unwrap();
    a.seal_audit_with(tessera_store::AuditKey::for_tests()).unwrap();
    let b = PgStore::connect(url, clock).await.unwrap();
    b.seal_audit_with(tessera_store::AuditKey::for_tests()).unwrap();
    (a, b)
}

/// Waits up to ten seconds for `done`, checking every 5 ms; how long it took.
async fn within_ten_seconds<F, Fut>(what: &str, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}: not within ten seconds");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// SQL that changes a row without firing the triggers (as a replica applies changes): what a
/// node then reads shows whether it read the database or kept an earlier read.
async fn behind_the_triggers(url: &str, sql: &str) {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("SET session_replication_role = replica").execute(&mut conn).await.unwrap();
    assert_eq!(sqlx::query(sql).execute(&mut conn).await.unwrap().rows_affected(), 1, "{sql}");
}

async fn state_seen(node: &PgStore, session: &str) -> Option<UserState> {
    node.find_session_with_user(session).await.unwrap().map(|(_, user)| user.state)
}

/// As [`state_seen`], by the read a sign-on that ends in a token makes (which may be kept).
async fn state_kept(node: &PgStore, session: &str) -> Option<UserState> {
    node.find_session_for_token(session).await.unwrap().map(|(_, user)| user.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_drops_what_the_other_kept() {
    on_a_fresh_database(kept_reads_follow_the_other_node).await;
}

async fn kept_reads_follow_the_other_node(url: String) {
    let (a, b) = two_nodes(&url).await;
    within_ten_seconds("both nodes listening", || async { a.keeps_reads() && b.keeps_reads() }).await;

    let user = a.create_user(&actor(), new_user("alice@contoso.com")).await.unwrap();
    let staff = a.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let app = a.create_app(&actor(), m365("contoso.com", "Microsoft 365"), None).await.unwrap();
    a.add_member(&actor(), staff.id, user.id).await.unwrap();
    a.grant(&actor(), app.id, staff.id).await.unwrap();
    a.create_session(&session_of(user.id)).await.unwrap();
    let suspend = format!("UPDATE users SET state = 'suspended' WHERE id = '{}'", user.id);
    let reactivate = suspend.replace("'suspended'", "'active'");

    // B keeps the access decision, and the session with its user (a notice of A's writes above
    // may still come in and drop one once: then B reads and keeps it again).
    assert!(b_keeps_the_decision(&b, &url, user.id, app.id, &suspend, &reactivate).await);
    assert!(b_keeps_the_session(&b, &url, "h1", &suspend, &reactivate).await);
    // The user is suspended now and B, unaware, answers sign-ons from the session; but no token
    // leaves on it: the token's record reads the database. B's other reads of the session do.
    assert_eq!(state_seen(&b, "h1").await, Some(UserState::Suspended), "B's pages read the database");
    assert_eq!(token_on(&b, "h1").await, TokenRecorded::SessionEnded, "the user suspended a moment ago");
    behind_the_triggers(&url, &reactivate).await;
    assert_eq!(token_on(&b, "h1").await, TokenRecorded::Written);

    // Sign-out everywhere on A: no token on the session on any node at once, nor a page, and B
    // drops the session it kept when A's notice comes.
    assert!(state_kept(&b, "h1").await.is_some(), "B keeps the session (as its pages last read it)");
    assert_eq!(a.end_user_sessions(&actor(), user.id).await.unwrap(), 1);
    assert_eq!(token_on(&b, "h1").await, TokenRecorded::SessionEnded, "signed out on every node at once");
    assert_eq!(state_seen(&b, "h1").await, None, "B's pages see the sign-out at once");
    let took = within_ten_seconds("B drops the session", || async { state_kept(&b, "h1").await.is_none() }).await;
    eprintln!("B dropped the session signed out on A within {took:?}");
    // A revoked grant on A: B denies.
    assert!(b.check_access(user.id, app.id).await.unwrap().is_allowed());
    a.revoke(&actor(), app.id, staff.id).await.unwrap();
    let took = within_ten_seconds("B denies after the revocation", || async {
        !b.check_access(user.id, app.id).await.unwrap().is_allowed()
    })
    .await;
    eprintln!("B heard A's revocation within {took:?}");
    // SQL by hand notifies too: B reads the renamed application.
    assert_eq!(b.find_app_by_idp_path("contoso.com").await.unwrap().label, "Microsoft 365");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let rename = format!("UPDATE apps SET label = 'Renamed' WHERE id = '{}'", app.id);
    sqlx::query(&rename).execute(&mut conn).await.unwrap();
    within_ten_seconds("B reads the new label", || async {
        b.find_app_by_idp_path("contoso.com").await.unwrap().label == "Renamed"
    })
    .await;
    // So does a new signing certificate, which the kept application carries.
    assert_eq!(b.find_app_by_idp_path("contoso.com").await.unwrap().certificates.current, None);
    a.replace_current_key(&actor(), app.id, fake_key(7)).await.unwrap();
    within_ten_seconds("B reads the new certificate", || async {
        b.find_app_by_idp_path("contoso.com").await.unwrap().certificates.current.is_some()
    })
    .await;
    a.stage_key(&actor(), app.id, fake_key(8)).await.unwrap();
    within_ten_seconds("B reads the staged certificate", || async {
        b.find_app_by_idp_path("contoso.com").await.unwrap().certificates.next.is_some()
    })
    .await;

    // B loses its listening connection while it keeps a decision that a change behind the
    // triggers has made stale: once it listens again, it has forgotten what it kept.
    a.grant(&actor(), app.id, staff.id).await.unwrap();
    within_ten_seconds("B allows after the grant", || async {
        b.check_access(user.id, app.id).await.unwrap().is_allowed()
    })
    .await;
    assert!(b_keeps_the_decision(&b, &url, user.id, app.id, &suspend, &reactivate).await);
    behind_the_triggers(&url, &suspend).await;
    let before = b.times_listened();
    let listeners = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND query LIKE 'LISTEN %'";
    let ended: Vec<bool> = sqlx::query_scalar(listeners).fetch_all(&mut conn).await.unwrap();
    assert_eq!(ended, vec![true, true], "each node's listening connection ended");
    within_ten_seconds("B listens again", || async { b.times_listened() > before && b.keeps_reads() }).await;
    assert!(!b.check_access(user.id, app.id).await.unwrap().is_allowed(), "nothing kept from before the loss");
    // And hears A's writes as before.
    behind_the_triggers(&url, &reactivate).await;
    assert!(!b.check_access(user.id, app.id).await.unwrap().is_allowed(), "kept: no notice for that change");
    a.grant(&actor(), app.id, staff.id).await.unwrap();
    a.revoke(&actor(), app.id, staff.id).await.unwrap();
    a.grant(&actor(), app.id, staff.id).await.unwrap();
    within_ten_seconds("B allows after the grant", || async {
        b.check_access(user.id, app.id).await.unwrap().is_allowed()
    })
    .await;

    // The directory source that keeps the user's password (each WS-Fed and WS-Trust token asks
    // it, for the password-expiry claims): B keeps it, and drops it when A removes the source.
    let corp = a.create_source(&actor(), super::sources::source("Corp AD"), b"sealed").await.unwrap();
    let linked = |anchor: &str| Some((corp.id, anchor.to_string()));
    let link = |anchor: &str| {
        format!("UPDATE users SET source_id = '{}', source_anchor = '{anchor}' WHERE id = '{}'", corp.id, user.id)
    };
    sqlx::query(&link("YW5jaG9y")).execute(&mut conn).await.unwrap();
    within_ten_seconds("B reads the user's source", || async {
        b.user_source(user.id).await.unwrap() == linked("YW5jaG9y")
    })
    .await;
    // Kept: a change behind the triggers is not seen. A late notice of an earlier write may drop
    // what B kept in between (B then reads the change): the first anchor is put back in the open,
    // B hears it, and it tries again.
    let mut kept = false;
    for _ in 0..20 {
        behind_the_triggers(&url, &link("b3RoZXI=")).await;
        if b.user_source(user.id).await.unwrap() == linked("YW5jaG9y") {
            kept = true;
            break;
        }
        sqlx::query(&link("YW5jaG9y")).execute(&mut conn).await.unwrap();
        within_ten_seconds("B reads the first anchor", || async {
            b.user_source(user.id).await.unwrap() == linked("YW5jaG9y")
        })
        .await;
    }
    assert!(kept, "B keeps the user's source");
    assert_eq!(a.remove_source(&actor(), corp.id).await.unwrap(), 1);
    within_ten_seconds("B hears that the source was removed", || async {
        b.user_source(user.id).await.unwrap().is_none()
    })
    .await;
}

fn session_of(user: tessera_core::UserId) -> Session {
    Session {
        id_hash: "h1".into(),
        user_id: user,
        authn: AuthnContext::default().with(Factor::Password, 5),
        complete: true,
        created_at: 1_000_000,
        last_seen_at: 1_000_000,
        expires_at: 2_000_000,
    }
}

/// A suspension, a sign-out or the user's deletion in flight when a token's record checks its
/// session: the check waits for it (without a deadlock: both lock the user first) and sees it
/// once it commits. (Reading the rows as the statement's snapshot had
/// them, it would record the token after the suspension had committed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_record_waits_for_a_suspension_or_sign_out_in_flight() {
    on_a_fresh_database(changes_in_flight).await;
}

async fn changes_in_flight(url: String) {
    let (a, _) = two_nodes(&url).await;
    let a = Arc::new(a);
    let user = a.create_user(&actor(), new_user("alice@contoso.com")).await.unwrap();
    a.create_session(&session_of(user.id)).await.unwrap();
    let suspend = format!("UPDATE users SET state = 'suspended' WHERE id = '{}'", user.id);
    let reactivate = suspend.replace("'suspended'", "'active'");
    let delete_user = format!("DELETE FROM users WHERE id = '{}'", user.id);
    let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
    for change in [suspend.as_str(), "DELETE FROM sessions WHERE id_hash = 'h1'", delete_user.as_str()] {
        a.create_session(&session_of(user.id)).await.ok();
        assert_eq!(token_on(&a, "h1").await, TokenRecorded::Written);
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        sqlx::query(change).execute(&mut *tx).await.unwrap();
        let node = a.clone();
        let token = tokio::spawn(async move { token_on(&node, "h1").await });
        // Until the record's check waits on a row the change holds (not finished at once, as a
        // read of the statement's snapshot would).
        let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                       AND wait_event_type = 'Lock'";
        let started = Instant::now();
        while sqlx::query_scalar::<_, i64>(waiting).fetch_one(&mut watch).await.unwrap() == 0 {
            assert!(!token.is_finished(), "{change}: the record's check did not wait for the change in flight");
            assert!(started.elapsed() < Duration::from_secs(10), "{change}: nothing waits on the change");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tx.commit().await.unwrap();
        assert_eq!(token.await.unwrap(), TokenRecorded::SessionEnded, "{change}");
        sqlx::query(&reactivate).execute(&mut conn).await.unwrap();
    }
}

/// A token's record for `session`, written on `node`: whether it was.
async fn token_on(node: &PgStore, session: &str) -> TokenRecorded {
    let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", "kept", serde_json::json!({}));
    node.record_token(TokenRecord { session, claim: None, actor: &actor(), event }).await.unwrap()
}

/// Whether B keeps `session` with its user for sign-ons: B reads it, the user is suspended
/// behind the triggers, and B's sign-on read still sees the user active. A late notice of an earlier write may drop what
/// B kept in between: the user is made active again in the open, B hears it, and tries again.
/// Leaves the user suspended (behind the triggers) and B keeping the session as active.
async fn b_keeps_the_session(b: &PgStore, url: &str, session: &str, suspend: &str, reactivate: &str) -> bool {
    for _ in 0..20 {
        assert_eq!(state_kept(b, session).await, Some(UserState::Active));
        behind_the_triggers(url, suspend).await;
        if state_kept(b, session).await == Some(UserState::Active) {
            return true;
        }
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(reactivate).execute(&mut conn).await.unwrap();
        within_ten_seconds("B sees the user active", || async {
            state_kept(b, session).await == Some(UserState::Active)
        })
        .await;
    }
    false
}

/// Whether B, allowed `user` on `app`, keeps that decision: B reads it, the user is suspended
/// behind the triggers, and B still allows. A late notice of an earlier write may drop the
/// decision in between (B then reads the suspension and keeps that): the user is made active
/// again in the open, B hears it, and tries again. Leaves the user active, and B allowing.
async fn b_keeps_the_decision(
    b: &PgStore,
    url: &str,
    user: tessera_core::UserId,
    app: tessera_core::AppId,
    suspend: &str,
    reactivate: &str,
) -> bool {
    for _ in 0..20 {
        assert!(b.check_access(user, app).await.unwrap().is_allowed());
        behind_the_triggers(url, suspend).await;
        let kept = b.check_access(user, app).await.unwrap().is_allowed();
        if kept {
            behind_the_triggers(url, reactivate).await;
            return true;
        }
        // B read the suspension (and keeps that now): made active again in the open, so that
        // its notice drops what B kept, and B allows again before the next try.
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(reactivate).execute(&mut conn).await.unwrap();
        within_ten_seconds("B allows again", || async { b.check_access(user, app).await.unwrap().is_allowed() }).await;
    }
    false
}

/// A database without migration 0016's triggers, or with one disabled (by hand here), tells a
/// node nothing or not everything: that node keeps no reads, and sees another's writes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_a_database_without_the_triggers_keeps_no_reads() {
    on_a_fresh_database(without_triggers).await;
}

async fn without_triggers(url: String) {
    let first = PgStore::connect(&url, wall_clock()).await.unwrap();
    first.seal_audit_with(tessera_store::AuditKey::for_tests()).unwrap();
    let user = first.create_user(&actor(), new_user("alice@contoso.com")).await.unwrap();
    let staff = first.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let app = first.create_app(&actor(), m365("contoso.com", "Microsoft 365"), None).await.unwrap();
    first.add_member(&actor(), staff.id, user.id).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE grants DISABLE TRIGGER grants_read_cache").execute(&mut conn).await.unwrap();
    let node = PgStore::connect(&url, Arc::new(ManualClock::at(1_000_000))).await.unwrap();
    node.seal_audit_with(tessera_store::AuditKey::for_tests()).unwrap();
    // Time to listen (milliseconds where the triggers are whole): still not keeping reads after
    // it, the node has decided not to.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!node.keeps_reads(), "a disabled trigger would leave it deaf to grants");
    assert!(!node.check_access(user.id, app.id).await.unwrap().is_allowed());
    first.grant(&actor(), app.id, staff.id).await.unwrap();
    assert!(node.check_access(user.id, app.id).await.unwrap().is_allowed(), "read from the database at once");
    // Without the function (and so every trigger) at all, the same.
    sqlx::query("DROP FUNCTION tessera_reads_changed() CASCADE").execute(&mut conn).await.unwrap();
    let later = PgStore::connect(&url, Arc::new(ManualClock::at(1_000_000))).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!later.keeps_reads());
    assert!(later.check_access(user.id, app.id).await.unwrap().is_allowed());
    first.revoke(&actor(), app.id, staff.id).await.unwrap();
    assert!(!later.check_access(user.id, app.id).await.unwrap().is_allowed());
}

/// A listening connection that goes silent (its server process stopped here with SIGSTOP: no
/// reset, no error, nothing passed on) is found by the heartbeat: the node turns its cache off,
/// listens on a new connection, and hears writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_listening_connection_is_given_up_and_listened_afresh() {
    on_a_fresh_database(silent_listener).await;
}

async fn silent_listener(url: String) {
    let (a, b) = two_nodes(&url).await;
    within_ten_seconds("B listening", || async { b.keeps_reads() }).await;
    let user = a.create_user(&actor(), new_user("alice@contoso.com")).await.unwrap();
    let staff = a.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let app = a.create_app(&actor(), m365("contoso.com", "Microsoft 365"), None).await.unwrap();
    a.add_member(&actor(), staff.id, user.id).await.unwrap();
    drop(a);
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    // Only B listens now (A's task ended with A).
    let listening = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'";
    within_ten_seconds("A's listener ends with A", || async {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar::<_, i32>(listening).fetch_all(&mut conn).await.unwrap().len() == 1
    })
    .await;
    let pid: i32 = sqlx::query_scalar(listening).fetch_one(&mut conn).await.unwrap();
    let before = b.times_listened();
    let Some(_stopped) = Stopped::stop(pid) else { return };
    let took =
        within_ten_seconds("B listens afresh", || async { b.times_listened() > before && b.keeps_reads() }).await;
    eprintln!("B gave up its silent connection and listened again within {took:?}");
    // And hears writes on the new one: a grant by hand.
    assert!(!b.check_access(user.id, app.id).await.unwrap().is_allowed());
    let grant = format!("INSERT INTO grants (app_id, group_id, created_at) VALUES ('{}', '{}', 0)", app.id, staff.id);
    sqlx::query(&grant).execute(&mut conn).await.unwrap();
    within_ten_seconds("B allows after the grant", || async {
        b.check_access(user.id, app.id).await.unwrap().is_allowed()
    })
    .await;
}
