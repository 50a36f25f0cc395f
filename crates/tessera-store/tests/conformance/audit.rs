//! The audit trail.

use super::*;

pub(super) async fn an_apps_sign_ins_are_its_users_events_newest_first(store: Arc<dyn Store>, _raw: Raw) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), None).await.unwrap();
    let other = store.create_app(&actor(), m365("fabrikam.com", "Fabrikam"), None).await.unwrap();
    let user = store.create_user(&actor(), new_user("alice@contoso.com")).await.unwrap();
    let as_user = Actor::user(user.id);
    for (who, action, target) in [
        (&as_user, AuditAction::SamlIssued, app.id),
        (&as_user, AuditAction::SamlIssued, other.id),
        (&actor(), AuditAction::AppUpdate, app.id),
        (&as_user, AuditAction::SigninDenied, app.id),
        (&as_user, AuditAction::WsTrustIssued, app.id),
    ] {
        store.append_audit(who, NewAuditEvent::new(action, "app", target, serde_json::json!({}))).await.unwrap();
    }
    let events = store.app_sign_ins(app.id, 50).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["wstrust.issued", "signin.denied", "saml.issued"]);
    assert_eq!(store.app_sign_ins(app.id, 1).await.unwrap().len(), 1);
    assert!(store.app_sign_ins(AppId::new(), 50).await.unwrap().is_empty());
}

pub(super) async fn audit_records_changes_and_is_append_only(store: Arc<dyn Store>, raw: Raw) {
    let user = store.create_user(&Actor::api_token("robot"), new_user("erin@contoso.com")).await.unwrap();
    let events = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let event = events.iter().find(|e| e.action == "user.create").unwrap();
    assert_eq!(event.actor, "api:robot");
    assert_eq!(event.target_id, user.id.to_string());
    assert_eq!(event.summary["email"], "erin@contoso.com");
    let since = store
        .list_audit(&AuditQuery { since: Some(event.at + 60_000), limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert!(since.is_empty());
    assert!(raw.execute("UPDATE audit_events SET actor = 'forged'").await.is_err(), "audit rows cannot be updated");
    assert!(raw.execute("DELETE FROM audit_events").await.is_err(), "audit rows cannot be deleted");
    assert_eq!(audit_count(&store).await, events.len());
}

pub(super) async fn concurrent_audit_records_all_commit(store: Arc<dyn Store>, _raw: Raw) {
    // Writes from concurrent requests share batches; every caller's row must still land.
    let before = audit_count(&store).await;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let event = tessera_core::NewAuditEvent::new(
                tessera_core::AuditAction::SigninLogout,
                "user",
                n.to_string(),
                serde_json::json!({"n": n}),
            );
            store.append_audit(&actor(), event).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let events = store.list_audit(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(events.len(), before + 200);
    let mut ids: Vec<String> =
        events.iter().filter(|e| e.action == "signin.logout").map(|e| e.target_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "each record once");
}

pub(super) async fn one_bad_row_fails_only_its_own_caller_in_a_batch(store: Arc<dyn Store>, _raw: Raw) {
    // A 10 KB message ID (over PostgreSQL's index row limit as it stands) and an audit target
    // with a NUL (which PostgreSQL's TEXT refuses), sent among ordinary writes (message IDs,
    // audit records, and both together): the ordinary ones must all commit, whatever batch
    // they share.
    let long_id = "x".repeat(10_000);
    let mut tasks = Vec::new();
    for n in 0..40 {
        let store = store.clone();
        let long_id = long_id.clone();
        tasks.push(tokio::spawn(async move {
            let result = match n {
                0 => store.remember_message_id("sp", &long_id, 10_000, 5_000).await,
                1 => {
                    let event = tessera_core::NewAuditEvent::new(
                        tessera_core::AuditAction::SigninFailure,
                        "user",
                        "nul\0byte",
                        serde_json::json!({}),
                    );
                    store.append_audit(&actor(), event).await.map(|()| true)
                }
                n if n % 2 == 0 => store.remember_message_id("sp", &format!("_id{n}"), 10_000, 5_000).await,
                n if n % 4 == 3 => {
                    let claim = tessera_store::MessageClaim {
                        issuer: "sp".into(),
                        message_id: format!("_id{n}"),
                        expires_at: 10_000,
                        now: 5_000,
                    };
                    let event = tessera_core::NewAuditEvent::new(
                        tessera_core::AuditAction::SamlIssued,
                        "app",
                        n.to_string(),
                        serde_json::json!({}),
                    );
                    store.remember_message_id_with_audit(&claim, &actor(), event).await
                }
                n => {
                    let event = tessera_core::NewAuditEvent::new(
                        tessera_core::AuditAction::SigninPassword,
                        "user",
                        n.to_string(),
                        serde_json::json!({}),
                    );
                    store.append_audit(&actor(), event).await.map(|()| true)
                }
            };
            (n, result)
        }));
    }
    for task in tasks {
        match task.await.unwrap() {
            (_, Ok(new)) => assert!(new),
            (1, Err(StoreError::WriteFailed(_))) => {}
            (n, Err(e)) => panic!("write {n} failed with the bad row: {e}"),
        }
    }
    assert!(!store.remember_message_id("sp", &long_id, 10_000, 5_000).await.unwrap(), "the long ID is remembered");
    let events = store.list_audit(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "signin.password").count(), 9);
    assert_eq!(events.iter().filter(|e| e.action == "saml.issued").count(), 10, "each with its message ID");
}

/// A batch whose records cannot all be written fails whole and is rolled back; its writes then
/// go in parts, and the writer connection comes back out of the transaction: later sign-ons and
/// changes (which need that connection) still commit, and the chain is whole. On SQLite the
/// batch opens and ends its transaction with its own statements, so a missed rollback would
/// leave every later write refused.
pub(super) async fn a_batch_that_fails_whole_is_rolled_back_and_written_in_parts(store: Arc<dyn Store>, raw: Raw) {
    match raw {
        Raw::Sqlite(_) => {
            raw.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON audit_events WHEN NEW.target_id = 'poison' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
            )
            .await
            .unwrap();
        }
        _ => {
            raw.execute(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.target_id = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$",
            )
            .await
            .unwrap();
            raw.execute("CREATE TRIGGER poison BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION poison()")
                .await
                .unwrap();
        }
    }
    poisoned_round(&store, 0).await;
    assert_still_writes(&store, 1000).await;
    if matches!(raw, Raw::Sqlite(_)) {
        // RAISE(ROLLBACK) ends SQLite's transaction itself: the writer's own ROLLBACK then
        // fails, and a fresh connection must take the closed one's place.
        raw.execute("DROP TRIGGER poison").await.unwrap();
        raw.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON audit_events WHEN NEW.target_id = 'poison' \
             BEGIN SELECT RAISE(ROLLBACK, 'poisoned'); END",
        )
        .await
        .unwrap();
        poisoned_round(&store, 100).await;
        assert_still_writes(&store, 2000).await;
    }
    let report = store.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.checked as usize, audit_count(&store).await);
}

/// Concurrent sign-on writes (some with an ID already recorded, some with no ID at all) are
/// written in batches: a record whose ID was not new is not written, and a batch of IDs that
/// were all recorded already writes nothing. A batch of new IDs commits each ID with its record
/// (on PostgreSQL each row's `xmin` names its transaction; a batch that meets a replayed ID
/// there commits its IDs first and its records in the next round trip).
pub(super) async fn a_batch_commits_its_ids_and_records_together(store: Arc<dyn Store>, raw: Raw) {
    let recorded_before = [3, 11];
    for n in recorded_before {
        assert!(store.remember_message_id("sp", &format!("_batch{n}"), 20_000, 10_000).await.unwrap());
    }
    let before = audit_count(&store).await;
    let mut tasks = Vec::new();
    for n in 0..30usize {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", n.to_string(), serde_json::json!({}));
            match n {
                // No ID to record: the batch's records without one.
                20.. => store.append_audit(&actor(), event).await.map(|()| (n, true)),
                _ => store.remember_message_id_with_audit(&batch_claim(n), &actor(), event).await.map(|new| (n, new)),
            }
        }));
    }
    for task in tasks {
        let (n, new) = task.await.unwrap().unwrap();
        assert_eq!(new, !recorded_before.contains(&n), "sign-on {n}");
    }
    assert_eq!(audit_count(&store).await - before, 28);
    // Every ID already recorded, alone and together.
    let mut tasks = Vec::new();
    for n in [3, 11, 4] {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", "replayed", serde_json::json!({}));
            store.remember_message_id_with_audit(&batch_claim(n), &actor(), event).await
        }));
    }
    for task in tasks {
        assert!(!task.await.unwrap().unwrap(), "a replayed ID was taken");
    }
    assert_eq!(audit_count(&store).await - before, 28);
    let report = store.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
    if let Raw::Pg(url) = &raw {
        let mut tasks = Vec::new();
        for n in 100..120usize {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", n.to_string(), serde_json::json!({}));
                store.remember_message_id_with_audit(&batch_claim(n), &actor(), event).await
            }));
        }
        for task in tasks {
            assert!(task.await.unwrap().unwrap());
        }
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let pairs: Vec<(String, String)> = sqlx::query_as(
            "SELECT r.xmin::text, a.xmin::text FROM message_replay r \
             JOIN audit_events a ON r.message_id = '_batch' || a.target_id WHERE a.action = 'saml.issued' \
             AND a.target_id::int >= 100",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(pairs.len(), 20);
        for (id_written_in, record_written_in) in pairs {
            assert_eq!(id_written_in, record_written_in, "an ID and its record were committed apart");
        }
        // A batch with no record to chain leaves the head alone: it does not wait for another
        // node's transaction that holds it (the statement timeout is 5 s).
        let mut holder = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query("SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE").execute(&mut holder).await.unwrap();
        let alone = store.remember_message_id("sp", "_alone", 20_000, 10_000);
        let taken = tokio::time::timeout(std::time::Duration::from_secs(3), alone).await;
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
        assert!(taken.expect("an ID alone waited on the chain's head").unwrap());
    }
}

fn batch_claim(n: usize) -> tessera_store::MessageClaim {
    tessera_store::MessageClaim {
        issuer: "sp".into(),
        message_id: format!("_batch{n}"),
        expires_at: 20_000,
        now: 10_000,
    }
}

/// Twenty concurrent sign-on writes from `first` on, the eighth with a poisoned record: it
/// fails with the database's message, the others commit with their IDs.
async fn poisoned_round(store: &Arc<dyn Store>, first: usize) {
    use tessera_store::TokenRecorded;
    let before = store.list_audit(&AuditQuery { limit: 10_000, ..AuditQuery::default() }).await.unwrap();
    // A third of the tokens for a live session, a third for one that is gone: the parts-alone
    // path checks sessions as the whole batch does.
    let user = store.create_user(&actor(), new_user(&format!("round{first}@contoso.com"))).await.unwrap();
    let live = format!("live{first}");
    store.create_session(&signed_in_session(&live, user.id)).await.unwrap();
    // One ID recorded before: a batch that holds it and the poisoned record commits its IDs
    // first (PostgreSQL) and fails on its records after.
    let replayed = first + 9;
    assert!(store.remember_message_id("sp", &format!("_batch{replayed}"), 20_000, 10_000).await.unwrap());
    let mut tasks = Vec::new();
    for n in first..first + 20 {
        let store = store.clone();
        let live = live.clone();
        tasks.push(tokio::spawn(async move {
            let target = if n == first + 7 { "poison".to_string() } else { n.to_string() };
            let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", target, serde_json::json!({}));
            let claim = batch_claim(n);
            // The poisoned one's session lives: its record is tried, and fails.
            let session = match n % 3 {
                _ if n == first + 7 => live.as_str(),
                0 => return (n, store.remember_message_id_with_audit(&claim, &actor(), event).await),
                1 => live.as_str(),
                _ => "gone",
            };
            let token = tessera_store::TokenRecord { session, claim: Some(&claim), actor: &actor(), event };
            (n, store.record_token(token).await.map(|recorded| recorded == TokenRecorded::Written))
        }));
    }
    for task in tasks {
        match task.await.unwrap() {
            (n, Err(StoreError::WriteFailed(message))) if n == first + 7 => {
                assert!(message.contains("poisoned"), "{message}")
            }
            (n, other) if n == first + 7 => panic!("the poisoned record was written: {other:?}"),
            (n, result) => assert_eq!(result.unwrap(), n % 3 != 2 && n != replayed, "sign-on {n}"),
        }
    }
    for n in (first..first + 20).filter(|n| *n != first + 7) {
        assert!(!store.remember_message_id("sp", &format!("_batch{n}"), 20_000, 10_000).await.unwrap(), "ID {n} kept");
    }
    let after = store.list_audit(&AuditQuery { limit: 10_000, ..AuditQuery::default() }).await.unwrap();
    let issued = |events: &[tessera_core::AuditEvent]| events.iter().filter(|e| e.action == "saml.issued").count();
    let expected = (first..first + 20).filter(|n| *n != first + 7 && n % 3 != 2 && *n != replayed).count();
    assert_eq!(issued(&after) - issued(&before), expected);
}

/// The writer connection is out of the failed transaction: a sign-on and a change commit.
async fn assert_still_writes(store: &Arc<dyn Store>, n: usize) {
    let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", "after", serde_json::json!({}));
    assert!(store.remember_message_id_with_audit(&batch_claim(n), &actor(), event).await.unwrap());
    store.create_user(&actor(), new_user(&format!("after{n}@contoso.com"))).await.unwrap();
}

pub(super) async fn the_chain_holds_across_batched_and_in_transaction_writes(store: Arc<dyn Store>, _raw: Raw) {
    // Sign-in records (batched) and directory changes (in their own transactions), interleaved.
    let mut tasks = Vec::new();
    for n in 0..60 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            if n % 3 == 0 {
                store.create_user(&actor(), new_user(&format!("u{n}@contoso.com"))).await.map(|_| ())
            } else if n % 3 == 1 {
                let event = NewAuditEvent::new(AuditAction::SigninPassword, "user", n, serde_json::json!({"n": n}));
                store.append_audit(&actor(), event).await
            } else {
                // A summary written member by member, its keys not in order: what is MACed is
                // the text as written, whatever order a reader's `Value` puts them in.
                let mut summary = SummaryWriter::new();
                summary.field("user_id", &format_args!("u{n}")).field("n", &n).field("acs", "https://sp.example/");
                let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", n, summary.finish());
                store.append_audit(&actor(), event).await
            }
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let report = store.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.checked as usize, audit_count(&store).await);
    assert_eq!((report.first_seq, report.last_seq, report.head_seq), (Some(1), Some(60), 60));
    assert_eq!(report.before_chain, 0);
    // From a time on: the records from then, trusting the link before the first.
    let events = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let later = store.verify_audit_chain(Some(events[40].at)).await.unwrap();
    assert!(later.intact(), "{later:?}");
    assert!(later.checked >= 20 && later.checked <= 60, "{later:?}");
    assert_eq!(later.last_seq, Some(60));
}

/// Runs a statement with the append-only triggers out of the way, as someone holding the
/// database's owner role could.
async fn tamper(raw: &Raw, statement: &str) {
    let (off, on) = match raw {
        Raw::Sqlite(_) => (
            "DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete; \
             DROP TRIGGER IF EXISTS audit_events_chained",
            "",
        ),
        _ => ("ALTER TABLE audit_events DISABLE TRIGGER USER", "ALTER TABLE audit_events ENABLE TRIGGER USER"),
    };
    for sql in [off, statement, on].into_iter().filter(|sql| !sql.is_empty()) {
        for one in sql.split(';') {
            raw.execute(one).await.unwrap_or_else(|e| panic!("{one}: {e}"));
        }
    }
}

pub(super) async fn tampering_breaks_the_chain_at_its_first_broken_link(store: Arc<dyn Store>, raw: Raw) {
    for n in 1..=6 {
        let event = NewAuditEvent::new(AuditAction::AppUpdate, "app", n, serde_json::json!({"n": n}));
        store.append_audit(&actor(), event).await.unwrap();
    }
    let first_break = |report: tessera_store::ChainReport| report.broken.map(|b| (b.seq, b.problem));
    use tessera_store::BreakKind::{Altered, Missing, OutsideChain, Truncated};
    assert_eq!(first_break(store.verify_audit_chain(None).await.unwrap()), None);

    // One record edited, then put back.
    tamper(&raw, "UPDATE audit_events SET summary = '{\"n\":99}' WHERE chain_seq = 3").await;
    assert_eq!(first_break(store.verify_audit_chain(None).await.unwrap()), Some((3, Altered)));
    tamper(&raw, "UPDATE audit_events SET summary = '{\"n\":3}' WHERE chain_seq = 3").await;
    assert_eq!(first_break(store.verify_audit_chain(None).await.unwrap()), None);

    // Records 4 and 5 swapped in the chain, then put back. (An id moved out of order is found
    // too, see the walk's own tests; PostgreSQL's identity column cannot be updated.)
    let swap = "UPDATE audit_events SET chain_seq = -chain_seq WHERE chain_seq IN (4, 5); \
                UPDATE audit_events SET chain_seq = 5 WHERE chain_seq = -4; \
                UPDATE audit_events SET chain_seq = 4 WHERE chain_seq = -5";
    tamper(&raw, swap).await;
    assert_eq!(first_break(store.verify_audit_chain(None).await.unwrap()), Some((4, Altered)));
    tamper(&raw, swap).await;
    assert_eq!(first_break(store.verify_audit_chain(None).await.unwrap()), None);

    // A record slipped in without a link, or at a place below the chain's first (the insert
    // trigger out of the way too), then removed.
    for forged in [
        "INSERT INTO audit_events (at, actor, action, target_kind, target_id, summary) \
         VALUES (1, 'cli:root', 'user.create', 'user', 'x', '{}')",
        "INSERT INTO audit_events (at, actor, action, target_kind, target_id, summary, chain_seq, chain_mac) \
         VALUES (1, 'cli:root', 'user.create', 'user', 'x', '{}', -1, 'made up')",
    ] {
        tamper(&raw, forged).await;
        assert_eq!(first_break(store.verify_audit_chain(None).await.unwrap()), Some((7, OutsideChain)), "{forged}");
        tamper(&raw, "DELETE FROM audit_events WHERE chain_seq IS NULL OR chain_seq < 1").await;
    }

    // The last record deleted: the chain ends before its head.
    tamper(&raw, "DELETE FROM audit_events WHERE chain_seq = 6").await;
    assert_eq!(first_break(store.verify_audit_chain(None).await.unwrap()), Some((6, Truncated)));

    // A record in the middle deleted: its place is missing, the first break whatever follows.
    tamper(&raw, "DELETE FROM audit_events WHERE chain_seq = 2").await;
    assert_eq!(first_break(store.verify_audit_chain(None).await.unwrap()), Some((2, Missing)));
    // The append-only triggers are back where they were taken out for a moment (PostgreSQL).
    if matches!(raw, Raw::Pg(_)) {
        assert!(raw.execute("DELETE FROM audit_events").await.is_err());
    }
}

pub(super) async fn records_from_before_the_chain_are_counted_and_a_long_chain_is_walked_page_by_page(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    // Three records as a Tessera before the chain wrote them.
    for n in 1..=3 {
        let old = format!(
            "INSERT INTO audit_events (at, actor, action, target_kind, target_id, summary) \
             VALUES ({n}, 'cli:root', 'user.create', 'user', 'old{n}', '{{}}')"
        );
        tamper(&raw, &old).await;
    }
    // More than a page (1,000) of chained records, batched from many tasks at once.
    let mut tasks = Vec::new();
    for n in 0..1_100 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", n, serde_json::json!({"n": n}));
            store.append_audit(&actor(), event).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let report = store.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!((report.checked, report.before_chain, report.last_seq), (1_100, 3, Some(1_100)));
    // A record edited past the first page is found there.
    tamper(&raw, "UPDATE audit_events SET summary = '{\"n\":-1}' WHERE chain_seq = 1050").await;
    let report = store.verify_audit_chain(None).await.unwrap();
    assert_eq!(report.broken.map(|b| (b.seq, b.problem)), Some((1050, tessera_store::BreakKind::Altered)));
}

pub(super) async fn a_store_without_the_chain_key_audits_nothing(store: Arc<dyn Store>, raw: Raw) {
    let before = audit_count(&store).await;
    let unsealed = raw.reopen_unsealed().await.unwrap();
    let event = NewAuditEvent::new(AuditAction::SigninPassword, "user", "u", serde_json::json!({}));
    let refused = unsealed.append_audit(&actor(), event).await.unwrap_err();
    assert!(refused.to_string().contains("audit trail's key is not loaded"), "{refused}");
    let change = unsealed.create_user(&actor(), new_user("nokey@contoso.com")).await;
    assert!(change.is_err(), "a change whose audit record cannot be written is not made");
    assert!(store.find_user("nokey@contoso.com").await.is_err());
    assert!(unsealed.verify_audit_chain(None).await.is_err());
    // A key is set once: another one is refused.
    let other = tessera_store::AuditKey::new([42; 32]);
    unsealed.seal_audit_with(tessera_store::AuditKey::for_tests()).unwrap();
    assert!(unsealed.seal_audit_with(other).is_err());
    assert_eq!(audit_count(&store).await, before);
}

pub(super) async fn a_long_change_does_not_hold_up_sign_on_records(store: Arc<dyn Store>, raw: Raw) {
    // SQLite has one writer: a change in progress holds every write back there, as it should.
    let Raw::Pg(url) = &raw else { return };
    // Another session inserts b@ and keeps its transaction open: the import below writes a@
    // (and its audit record), then waits on b@'s unique key.
    let mut blocker = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query(
        "INSERT INTO users (id, email, upn, immutable_id, state, created_at, updated_at) \
         VALUES ('01890000-0000-7000-8000-000000000001', 'b@contoso.com', 'b@contoso.com', 'blocker', 'active', 0, 0)",
    )
    .execute(&mut blocker)
    .await
    .unwrap();
    let row = |line: usize, email: &str, anchor: &str| tessera_core::import::ImportRow {
        line,
        user: NewUser::new(email, None, None, None, Some(anchor), String::new).unwrap(),
        groups: Vec::new(),
        generated_anchor: false,
    };
    let importer = store.clone();
    let import = tokio::spawn(async move {
        importer.import_users(&actor(), &[row(2, "a@contoso.com", "a1"), row(3, "b@contoso.com", "b1")], false).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!import.is_finished(), "the import waits on the other session");
    // A sign-on's record meanwhile goes through at once: the import holds no lock on the chain.
    let started = std::time::Instant::now();
    let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", "x", serde_json::json!({}));
    tokio::time::timeout(std::time::Duration::from_secs(2), store.append_audit(&actor(), event))
        .await
        .expect("a sign-on record is not held up by a change in progress")
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let outcome = import.await.unwrap().unwrap();
    assert!(outcome.written, "{outcome:?}");
    let report = store.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
}

/// A rolling upgrade from the release before the chain: while the upgrade is open, the old
/// nodes' records without a link are let in and counted apart, not as breaks; once 0014 closed
/// it (`tessera migrate finish`), those written until then stay counted, and a record without
/// a link is refused, or found outside the chain if slipped in past the trigger.
pub(super) async fn records_of_the_previous_release_during_an_upgrade_are_counted_and_refused_after_it(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    let unlinked = "INSERT INTO audit_events (at, actor, action, target_kind, target_id, summary) \
                    VALUES (1, 'user:old-node', 'saml.issued', 'app', 'a', '{}')";
    store
        .append_audit(&actor(), NewAuditEvent::new(AuditAction::AppUpdate, "app", "a", serde_json::json!({})))
        .await
        .unwrap();
    // A new database is closed: an old node's record is refused.
    assert!(raw.execute(unlinked).await.is_err(), "closed from the start");
    // An upgraded one (0013 on a database with records) is open until 0014.
    raw.execute("UPDATE audit_chain_upgrade SET open = TRUE").await.unwrap();
    raw.execute(unlinked).await.unwrap();
    store
        .append_audit(&actor(), NewAuditEvent::new(AuditAction::AppUpdate, "app", "b", serde_json::json!({})))
        .await
        .unwrap();
    raw.execute(unlinked).await.unwrap();
    let report = store.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!((report.checked, report.during_upgrade, report.upgrade_open), (2, 2, true));
    // 0014, as `migrate finish` applies it.
    // (Its LOCK TABLE, PostgreSQL's alone, keeps inserts out while it runs in its transaction.)
    let finishing = include_str!("../../migrations/postgres/0014_audit_chain_closed.sql");
    let statement: String =
        finishing.lines().filter(|l| !l.starts_with("--") && !l.starts_with("LOCK")).collect::<Vec<_>>().join("\n");
    raw.execute(&statement).await.unwrap();
    let report = store.verify_audit_chain(None).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!((report.during_upgrade, report.upgrade_open), (2, false));
    assert!(raw.execute(unlinked).await.is_err(), "closed after finishing");
    store
        .append_audit(&actor(), NewAuditEvent::new(AuditAction::AppUpdate, "app", "c", serde_json::json!({})))
        .await
        .unwrap();
    // One slipped in past the trigger after the upgrade is a break.
    tamper(&raw, unlinked).await;
    let report = store.verify_audit_chain(None).await.unwrap();
    assert_eq!(report.broken.as_ref().map(|b| b.problem), Some(tessera_store::BreakKind::OutsideChain), "{report:?}");
    assert_eq!(report.during_upgrade, 2);
}

pub(super) async fn a_role_granted_only_select_and_insert_cannot_rewrite_the_trail(store: Arc<dyn Store>, raw: Raw) {
    // PostgreSQL's grants; SQLite has only the triggers (tested above).
    let Raw::Pg(url) = &raw else { return };
    store
        .append_audit(&actor(), NewAuditEvent::new(AuditAction::AppUpdate, "app", "a", serde_json::json!({})))
        .await
        .unwrap();
    let role = format!("tessera_app_{}", uuid::Uuid::new_v4().simple());
    for grant in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        format!("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {role}"),
        format!("REVOKE INSERT, DELETE, TRUNCATE ON audit_chain_head FROM {role}"),
        format!("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_chain_upgrade FROM {role}"),
    ] {
        raw.execute(&grant).await.unwrap_or_else(|e| panic!("{grant}: {e}"));
    }
    let as_app = url.replacen("://root@", &format!("://{role}@"), 1);
    assert_ne!(&as_app, url, "the test database's URL names its user");
    // The store runs as that role: it signs in, audits and changes the directory.
    let app = sealed(PgStore::connect(&as_app, wall_clock()).await.unwrap());
    app.append_audit(&actor(), NewAuditEvent::new(AuditAction::SamlIssued, "app", "a", serde_json::json!({})))
        .await
        .unwrap();
    app.create_user(&actor(), new_user("granted@contoso.com")).await.unwrap();
    assert!(app.verify_audit_chain(None).await.unwrap().intact());
    // And cannot rewrite what it wrote, nor take the triggers out of the way.
    let mut conn = sqlx::PgConnection::connect(&as_app).await.unwrap();
    for tamper in [
        "UPDATE audit_events SET actor = 'forged'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER USER",
        "DROP TRIGGER audit_events_no_update ON audit_events",
        "DELETE FROM audit_chain_head",
        "INSERT INTO audit_events (at, actor, action, target_kind, target_id, summary, chain_seq, chain_mac) \
         VALUES (1, 'cli:root', 'user.create', 'user', 'x', '{}', -1, 'made up')",
        "UPDATE audit_chain_upgrade SET open = TRUE",
        "UPDATE audit_chain_head SET seq = 0",
    ] {
        let refused = sqlx::query(tamper).execute(&mut conn).await;
        let Err(e) = refused else {
            // The head row is the one table the role updates: a rewound head is what the
            // walk finds (a record beyond its head).
            assert!(tamper.starts_with("UPDATE audit_chain_head"), "{tamper} was allowed");
            let report = store.verify_audit_chain(None).await.unwrap();
            assert_eq!(report.broken.map(|b| b.problem), Some(tessera_store::BreakKind::HeadMismatch));
            continue;
        };
        let refused = ["permission denied", "must be owner", "after the head"];
        assert!(refused.iter().any(|r| e.to_string().contains(r)), "{tamper}: {e}");
    }
    drop((conn, app));
    raw.execute(&format!("DROP OWNED BY {role}")).await.unwrap();
    raw.execute(&format!("DROP ROLE {role}")).await.unwrap();
}
