//! One conformance suite, run against SQLite and against a throwaway PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::future::Future;
use std::sync::Arc;

use sqlx::Connection;
use tessera_core::app::{AppKind, M365Config};
use tessera_core::policy::{AccessPolicy, AuthnContext, Factor};
use tessera_core::{
    AccessDecision, Actor, AdminRole, AppId, AuditAction, DenyReason, NewApplication, NewAuditEvent, NewGroup, NewUser,
    UserState,
};
use tessera_store::test_support::ThrowawayPg;
use tessera_store::{
    AppDetails, AuditQuery, KeySlot, Location, NewSigningKey, PageRequest, ParkedRequest, PgStore, Session,
    SqliteStore, Store, StoreError,
};

fn wall_clock() -> Arc<dyn tessera_core::Clock> {
    Arc::new(tessera_core::SystemClock)
}

/// How a test reaches the database behind the store, for checks the store API cannot make.
#[derive(Clone)]
enum Raw {
    Sqlite(String),
    Pg(String),
}

impl Raw {
    async fn execute(&self, sql: &'static str) -> Result<u64, sqlx::Error> {
        match self {
            Raw::Sqlite(url) => {
                let mut c = sqlx::SqliteConnection::connect(url).await?;
                Ok(sqlx::query(sql).execute(&mut c).await?.rows_affected())
            }
            Raw::Pg(url) => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                Ok(sqlx::query(sql).execute(&mut c).await?.rows_affected())
            }
        }
    }

    async fn reopen(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Raw::Sqlite(url) => Arc::new(SqliteStore::connect_url(url, wall_clock()).await?),
            Raw::Pg(url) => Arc::new(PgStore::connect(url, wall_clock()).await?),
        })
    }
}

async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>, Raw) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect_url(&url, wall_clock()).await.unwrap());
    test(store, Raw::Sqlite(url)).await;
}

async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>, Raw) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = ThrowawayPg::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&db.url, wall_clock()).await.unwrap());
    // Run in a task so that a failing test still drops its database.
    let outcome = tokio::spawn(test(store, Raw::Pg(db.url.clone()))).await;
    db.drop_database().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::on_sqlite(super::$name).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::on_postgres(super::$name).await } )*
        }
    };
}

conformance!(
    administrators_round_trip_and_the_last_one_stays,
    concurrent_deletes_never_remove_the_last_administrator,
    roles_scope_applications_and_the_last_full_administrator_keeps_the_role,
    admin_sessions_end_with_their_administrator_and_attempts_are_counted,
    users_round_trip_and_lookup,
    an_import_writes_every_row_or_none,
    users_paginate_in_creation_order,
    duplicate_email_upn_or_immutable_id_writes_nothing,
    concurrent_creates_of_one_email_exactly_one_wins,
    memberships_and_groups,
    access_requires_a_granted_group_and_an_active_user,
    grant_is_the_same_from_either_side,
    set_grants_makes_the_granted_groups_exactly_so_or_changes_nothing,
    m365_domain_and_label_unique,
    app_details_change_with_an_audit_row_and_a_taken_label_is_refused,
    an_apps_sign_ins_are_its_users_events_newest_first,
    idp_path_is_unique_and_settings_change_with_an_audit_row,
    message_ids_are_accepted_once_across_nodes,
    delete_apps_requires_exact_confirm_count_and_is_all_or_nothing,
    audit_records_changes_and_is_append_only,
    schema_newer_than_binary_is_refused,
    api_tokens_lifecycle,
    settings_and_initial_admin,
    signing_keys_are_stored_sealed_and_rotate,
    a_staged_key_is_promoted_and_the_old_certificate_stays_published_for_its_grace_period,
    a_lease_has_one_holder_until_it_expires_or_is_released,
    sessions_rotate_and_are_shared,
    parked_requests_belong_to_one_browser_and_expire,
    totp_steps_and_recovery_codes_are_single_use,
    lockout_counters_familiar_ips_and_spray_counts,
    parallel_attempts_cannot_pass_the_threshold,
    app_policy_and_notice_round_trip,
    concurrent_audit_records_all_commit,
    reads_see_this_process_writes_at_once_and_other_writers_within_a_second,
    wsfed_relying_parties_round_trip,
    one_bad_row_fails_only_its_own_caller_in_a_batch,
);

fn actor() -> Actor {
    Actor::cli("tester")
}

fn new_user(email: &str) -> NewUser {
    NewUser::new(email, None, Some("Ada"), Some("Lovelace"), None, || {
        uuid::Uuid::new_v4().simple().to_string()[..24].to_string()
    })
    .unwrap()
}

fn m365(domain: &str, label: &str) -> NewApplication {
    NewApplication::new("http://127.0.0.1:8080", label, None, None, true, AppKind::M365(M365Config::for_domain(domain)))
        .unwrap()
}

async fn audit_count(store: &Arc<dyn Store>) -> usize {
    store.list_audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap().len()
}

async fn users_round_trip_and_lookup(store: Arc<dyn Store>, _raw: Raw) {
    let mut nu = new_user("Alice@Contoso.com");
    nu.upn = "alice.upn@contoso.com".into();
    let alice = store.create_user(&actor(), nu).await.unwrap();
    assert_eq!(alice.email, "Alice@contoso.com");
    assert_eq!(alice.state, UserState::Active);
    for key in [alice.id.to_string(), "alice@CONTOSO.com".into(), "ALICE.UPN@contoso.com".into()] {
        assert_eq!(store.find_user(&key).await.unwrap().id, alice.id, "{key}");
    }
    assert!(matches!(store.find_user("nobody@contoso.com").await, Err(StoreError::NotFound { .. })));
    let suspended = store.set_user_state(&actor(), alice.id, UserState::Suspended).await.unwrap();
    assert_eq!(suspended.state, UserState::Suspended);
    store.set_password(&actor(), alice.id, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").await.unwrap();
    assert!(store.find_user(&alice.email).await.unwrap().password_hash.is_some());
    store.delete_user(&actor(), alice.id).await.unwrap();
    assert!(matches!(store.delete_user(&actor(), alice.id).await, Err(StoreError::NotFound { .. })));
}

async fn users_paginate_in_creation_order(store: Arc<dyn Store>, _raw: Raw) {
    for i in 0..5 {
        store.create_user(&actor(), new_user(&format!("u{i}@contoso.com"))).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = store.list_users(&page).await.unwrap();
        assert!(got.items.len() <= 2);
        seen.extend(got.items.into_iter().map(|u| u.email));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|i| format!("u{i}@contoso.com")).collect();
    assert_eq!(seen, expected);
}

async fn duplicate_email_upn_or_immutable_id_writes_nothing(store: Arc<dyn Store>, _raw: Raw) {
    let first = store.create_user(&actor(), new_user("bob@contoso.com")).await.unwrap();
    let before = audit_count(&store).await;
    let dup_email = store.create_user(&actor(), new_user("BOB@contoso.com")).await;
    assert!(matches!(dup_email, Err(StoreError::Conflict { field: "email", .. })), "{dup_email:?}");
    let mut upn_clash = new_user("other@contoso.com");
    upn_clash.upn = "Bob@Contoso.com".into();
    assert!(matches!(store.create_user(&actor(), upn_clash).await, Err(StoreError::Conflict { .. })));
    let mut id_clash = new_user("third@contoso.com");
    id_clash.immutable_id = first.immutable_id.clone();
    assert!(matches!(
        store.create_user(&actor(), id_clash).await,
        Err(StoreError::Conflict { field: "immutable_id", .. })
    ));
    assert_eq!(store.list_users(&PageRequest::first(100)).await.unwrap().items.len(), 1);
    assert_eq!(audit_count(&store).await, before, "a refused change must not be audited as made");
}

async fn concurrent_creates_of_one_email_exactly_one_wins(store: Arc<dyn Store>, _raw: Raw) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create_user(&actor(), new_user("race@contoso.com")).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { field, .. }) => assert_eq!(field, "email"),
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.list_users(&PageRequest::first(100)).await.unwrap().items.len(), 1);
}

async fn administrators_round_trip_and_the_last_one_stays(store: Arc<dyn Store>, _raw: Raw) {
    assert!(store.create_initial_admin("admin", "$argon2id$first").await.unwrap());
    let first = store.find_admin("ADMIN").await.unwrap();
    assert!(first.must_change_password);
    let erin = store.create_admin(&actor(), "Erin", "$argon2id$erin", AdminRole::Admin, &[]).await.unwrap();
    assert!(!erin.must_change_password, "a password set by add is the admin's own");
    let audit_before = store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap().len();
    for taken in ["erin", " ERIN ", "admin"] {
        assert!(matches!(
            store.create_admin(&actor(), taken, "$argon2id$x", AdminRole::Admin, &[]).await,
            Err(StoreError::Conflict { field: "username", .. })
        ));
    }
    assert!(matches!(
        store.create_admin(&actor(), "", "$argon2id$x", AdminRole::Admin, &[]).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(store.find_admin("nobody").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.set_admin_password(&actor(), "nobody", "h", false).await, Err(StoreError::NotFound { .. })));
    let audit_after = store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap().len();
    assert_eq!(audit_before, audit_after, "refusals write nothing");
    assert_eq!(store.find_admin(&erin.id).await.unwrap().username, "Erin");
    let names: Vec<String> = store.list_admins().await.unwrap().into_iter().map(|a| a.username).collect();
    assert_eq!(names, ["admin", "Erin"]);

    let changed = store.set_admin_password(&actor(), "admin", "$argon2id$new", false).await.unwrap();
    assert_eq!((changed.password_hash.as_str(), changed.must_change_password), ("$argon2id$new", false));
    assert_eq!(store.delete_admin(&actor(), "admin").await.unwrap().id, first.id);
    assert!(
        matches!(store.delete_admin(&actor(), "erin").await, Err(StoreError::Conflict { .. })),
        "the last one stays"
    );
    assert_eq!(store.list_admins().await.unwrap().len(), 1);
    let actions: Vec<String> = store
        .list_audit(&AuditQuery { limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("admin."))
        .collect();
    assert_eq!(actions, ["admin.create", "admin.create", "admin.password_set", "admin.delete"]);

    // A name that is another administrator's id names that administrator by id, never both.
    let mimic = store.create_admin(&actor(), &erin.id, "$argon2id$mimic", AdminRole::Admin, &[]).await.unwrap();
    assert_eq!(store.find_admin(&erin.id).await.unwrap().username, "Erin");
    store.set_admin_password(&actor(), &erin.id, "$argon2id$erin2", false).await.unwrap();
    assert_eq!(store.find_admin(&mimic.id).await.unwrap().password_hash, "$argon2id$mimic", "only one changed");
    assert_eq!(store.delete_admin(&actor(), &erin.id).await.unwrap().id, erin.id);
    assert_eq!(store.find_admin(&mimic.id).await.unwrap().username, erin.id);
}

async fn roles_scope_applications_and_the_last_full_administrator_keeps_the_role(store: Arc<dyn Store>, _raw: Raw) {
    let (contoso, fabrikam) = (
        store.create_app(&actor(), m365("contoso.com", "Contoso 365"), None).await.unwrap(),
        store.create_app(&actor(), m365("fabrikam.com", "Fabrikam 365"), None).await.unwrap(),
    );
    let boss = store.create_admin(&actor(), "boss", "$argon2id$x", AdminRole::Admin, &[]).await.unwrap();
    let ann = store
        .create_admin(&actor(), "ann", "$argon2id$x", AdminRole::AppAdmin, &[contoso.id, contoso.id])
        .await
        .unwrap();
    assert_eq!(ann.role, AdminRole::AppAdmin);
    assert_eq!(store.admin_apps(&ann.id).await.unwrap(), [contoso.id]);
    let audit = |store: Arc<dyn Store>| async move {
        store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap().len()
    };
    let before = audit(store.clone()).await;
    // An application that is not there: nothing is written, the administrator neither.
    assert!(matches!(
        store.create_admin(&actor(), "ghost", "$argon2id$x", AdminRole::AppAdmin, &[AppId::new()]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.find_admin("ghost").await.is_err());
    assert!(matches!(
        store.set_admin_role(&actor(), "ann", AdminRole::AppAdmin, &[fabrikam.id, AppId::new()]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.admin_apps(&ann.id).await.unwrap(), [contoso.id], "a refused change keeps the old scope");
    // The last full administrator keeps the role.
    assert!(matches!(
        store.set_admin_role(&actor(), "boss", AdminRole::Auditor, &[]).await,
        Err(StoreError::Conflict { field: "role", .. })
    ));
    assert_eq!(audit(store.clone()).await, before, "refusals write nothing");

    let moved = store.set_admin_role(&actor(), "ann", AdminRole::AppAdmin, &[fabrikam.id]).await.unwrap();
    assert_eq!((moved.role, store.admin_apps(&ann.id).await.unwrap()), (AdminRole::AppAdmin, vec![fabrikam.id]));
    store.set_admin_role(&actor(), "ann", AdminRole::Admin, &[]).await.unwrap();
    assert!(store.admin_apps(&ann.id).await.unwrap().is_empty(), "a full administrator keeps no list");
    // With two full administrators, one may step down, then the other is the last.
    store.set_admin_role(&actor(), "boss", AdminRole::Auditor, &[]).await.unwrap();
    assert_eq!(store.find_admin("boss").await.unwrap().role, AdminRole::Auditor);
    assert!(matches!(store.delete_admin(&actor(), "ann").await, Err(StoreError::Conflict { .. })));
    assert!(matches!(
        store.set_admin_role(&actor(), "ann", AdminRole::AppAdmin, &[contoso.id]).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.delete_admin(&actor(), &boss.id).await.unwrap().id, boss.id, "an auditor may go");
    let last: Vec<_> = store
        .list_audit(&AuditQuery { limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "admin.role_set")
        .collect();
    assert_eq!(last.len(), 3);
    assert_eq!(last[0].summary["from"], "app-admin");
    assert_eq!(last[0].summary["apps"][0], fabrikam.id.to_string());

    // A deleted application leaves every scope that held it.
    store.set_admin_role(&actor(), "ann", AdminRole::Admin, &[]).await.unwrap();
    let cleo = store
        .create_admin(&actor(), "cleo", "$argon2id$x", AdminRole::AppAdmin, &[contoso.id, fabrikam.id])
        .await
        .unwrap();
    let token = store.create_api_token(&actor(), "ci", "hash-ci", AdminRole::AppAdmin, &[fabrikam.id]).await.unwrap();
    assert_eq!(store.find_api_token("hash-ci").await.unwrap().unwrap().role, AdminRole::AppAdmin);
    store.delete_apps(&actor(), &[fabrikam.id], 1).await.unwrap();
    assert_eq!(store.admin_apps(&cleo.id).await.unwrap(), [contoso.id]);
    assert!(store.api_token_apps(&token.id).await.unwrap().is_empty());
    let auditor =
        store.create_api_token(&actor(), "reader", "hash-r", AdminRole::Auditor, &[contoso.id]).await.unwrap();
    assert!(store.api_token_apps(&auditor.id).await.unwrap().is_empty(), "only an app-admin keeps a list");
}

async fn an_import_writes_every_row_or_none(store: Arc<dyn Store>, _raw: Raw) {
    use tessera_core::import::ImportRow;
    store
        .create_user(
            &actor(),
            NewUser::new("old@contoso.com", None, None, None, Some("old-anchor"), String::new).unwrap(),
        )
        .await
        .unwrap();
    store.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let row = |line: usize, email: &str, anchor: &str, groups: &[&str]| ImportRow {
        line,
        user: NewUser::new(email, None, None, None, Some(anchor), String::new).unwrap(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        generated_anchor: false,
    };
    let good = [row(2, "a@contoso.com", "a1", &["staff", "Finance"]), row(3, "b@contoso.com", "b1", &["FINANCE"])];
    let audit = || async { store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap().len() };
    let before = audit().await;

    let preview = store.import_users(&actor(), &good, true).await.unwrap();
    assert_eq!((preview.users, preview.memberships, preview.written), (2, 3, false));
    assert_eq!(preview.new_groups, ["Finance"]);
    assert!(store.find_user("a@contoso.com").await.is_err() && store.find_group("Finance").await.is_err());

    let clashing =
        [row(2, "c@contoso.com", "old-anchor", &["New"]), row(3, "OLD@contoso.com", "c2", &[]), good[0].clone()];
    let refused = store.import_users(&actor(), &clashing, false).await.unwrap();
    assert!(!refused.written);
    let lines: Vec<usize> = refused.clashes.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [2, 3]);
    assert!(store.find_user("a@contoso.com").await.is_err() && store.find_group("New").await.is_err());
    assert_eq!(audit().await, before, "a preview and a refusal write nothing");

    let done = store.import_users(&actor(), &good, false).await.unwrap();
    assert!(done.written && done.clashes.is_empty());
    let finance = store.find_group("finance").await.unwrap();
    let members: Vec<String> = store.group_members(finance.id).await.unwrap().into_iter().map(|u| u.email).collect();
    assert_eq!(members.len(), 2, "{members:?}");
    let staff = store.find_group("Staff").await.unwrap();
    assert_eq!(store.group_members(staff.id).await.unwrap().len(), 1);
    // Two users, one new group, three memberships: each with its audit row.
    assert_eq!(audit().await, before + 2 + 1 + 3);
}

async fn concurrent_deletes_never_remove_the_last_administrator(store: Arc<dyn Store>, _raw: Raw) {
    for round in 0..5 {
        let names = [format!("a{round}"), format!("b{round}")];
        for name in &names {
            store.create_admin(&actor(), name, "$argon2id$x", AdminRole::Admin, &[]).await.unwrap();
        }
        let others: Vec<String> =
            store.list_admins().await.unwrap().into_iter().map(|a| a.username).filter(|n| !names.contains(n)).collect();
        for other in others {
            store.delete_admin(&actor(), &other).await.unwrap();
        }
        let tasks: Vec<_> = names
            .iter()
            .map(|name| {
                let (store, name) = (store.clone(), name.clone());
                tokio::spawn(async move { store.delete_admin(&actor(), &name).await })
            })
            .collect();
        let mut deleted = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => deleted += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        assert_eq!(deleted, 1, "round {round}");
        assert_eq!(store.list_admins().await.unwrap().len(), 1, "round {round}");
    }
}

async fn admin_sessions_end_with_their_administrator_and_attempts_are_counted(store: Arc<dyn Store>, _raw: Raw) {
    let erin = store.create_admin(&actor(), "erin", "$argon2id$erin", AdminRole::Admin, &[]).await.unwrap();
    store.create_admin(&actor(), "frank", "$argon2id$frank", AdminRole::Admin, &[]).await.unwrap();
    store.create_admin_session("hash-0", &erin.id, false, 1_000).await.unwrap();
    assert!(!store.admin_session("hash-0").await.unwrap().unwrap().complete);
    assert!(store.complete_admin_session("hash-0", "hash-1").await.unwrap());
    assert!(!store.complete_admin_session("hash-0", "hash-9").await.unwrap(), "the old id is gone");
    assert!(store.admin_session("hash-0").await.unwrap().is_none());
    let session = store.admin_session("hash-1").await.unwrap().unwrap();
    assert_eq!((session.admin.username.as_str(), session.created_at, session.last_seen_at), ("erin", 1_000, 1_000));
    assert!(session.complete);
    store.touch_admin_session("hash-1", 5_000).await.unwrap();
    store.touch_admin_session("hash-1", 4_000).await.unwrap();
    assert_eq!(store.admin_session("hash-1").await.unwrap().unwrap().last_seen_at, 5_000, "never moves back");
    assert!(store.admin_session("hash-2").await.unwrap().is_none());
    assert!(store.create_admin_session("hash-3", "no-such-admin", true, 1_000).await.is_err());
    store.set_admin_password(&actor(), "erin", "$argon2id$new", false).await.unwrap();
    assert!(store.admin_session("hash-1").await.unwrap().is_none(), "a new password ends the sessions");
    store.create_admin_session("hash-1", &erin.id, true, 1_000).await.unwrap();
    store.delete_admin_session("hash-1").await.unwrap();
    assert!(store.admin_session("hash-1").await.unwrap().is_none());
    store.create_admin_session("hash-4", &erin.id, true, 1_000).await.unwrap();
    store.put_pending_admin_totp(&erin.id, b"sealed", 1_000).await.unwrap();
    assert!(!store.use_admin_totp_step(&erin.id, 5).await.unwrap(), "a pending secret accepts no code");
    assert!(store.confirm_admin_totp(&actor(), &erin.id, 5).await.unwrap());
    assert!(!store.confirm_admin_totp(&actor(), &erin.id, 6).await.unwrap(), "nothing pending any more");
    store.put_pending_admin_totp(&erin.id, b"other", 2_000).await.unwrap();
    let totp = store.admin_totp(&erin.id).await.unwrap().unwrap();
    assert_eq!(
        (totp.sealed_secret.as_slice(), totp.confirmed, totp.last_step),
        (b"sealed".as_slice(), true, 5),
        "a confirmed secret stays"
    );
    assert!(!store.use_admin_totp_step(&erin.id, 5).await.unwrap(), "each step once");
    assert!(store.use_admin_totp_step(&erin.id, 6).await.unwrap());
    // A lost authenticator: removed, and the sessions made with it end.
    store.create_admin_session("hash-5", &erin.id, true, 1_000).await.unwrap();
    assert!(store.reset_admin_totp(&actor(), &erin.id).await.unwrap());
    assert!(store.admin_totp(&erin.id).await.unwrap().is_none());
    assert!(store.admin_session("hash-5").await.unwrap().is_none(), "its sessions ended");
    assert!(!store.reset_admin_totp(&actor(), &erin.id).await.unwrap(), "nothing left to reset");
    store.create_admin_session("hash-4", &erin.id, true, 1_000).await.unwrap();
    store.put_pending_admin_totp(&erin.id, b"again", 3_000).await.unwrap();
    store.delete_admin(&actor(), "erin").await.unwrap();
    assert!(store.admin_session("hash-4").await.unwrap().is_none(), "a deleted administrator's session is gone");
    assert!(store.admin_totp(&erin.id).await.unwrap().is_none());

    let frank = store.find_admin("frank").await.unwrap();
    for n in 0..3 {
        assert!(store.reserve_admin_attempt(&frank.id, 3, 60_000, 10_000 + n).await.unwrap());
    }
    assert!(!store.reserve_admin_attempt(&frank.id, 3, 60_000, 20_000).await.unwrap(), "locked");
    assert!(store.reserve_admin_attempt(&frank.id, 3, 60_000, 80_000).await.unwrap(), "one attempt per window");
    store.clear_admin_failures(&frank.id).await.unwrap();
    assert!(store.reserve_admin_attempt(&frank.id, 3, 60_000, 80_001).await.unwrap());
}

async fn memberships_and_groups(store: Arc<dyn Store>, _raw: Raw) {
    let user = store.create_user(&actor(), new_user("carol@contoso.com")).await.unwrap();
    let group = store.create_group(&actor(), NewGroup::new("Sales", Some("the sales team")).unwrap()).await.unwrap();
    assert!(matches!(
        store.create_group(&actor(), NewGroup::new("sales", None).unwrap()).await,
        Err(StoreError::Conflict { field: "name", .. })
    ));
    assert_eq!(store.find_group("SALES").await.unwrap().id, group.id);
    assert!(store.add_member(&actor(), group.id, user.id).await.unwrap());
    assert!(!store.add_member(&actor(), group.id, user.id).await.unwrap(), "second add is a no-op");
    assert_eq!(store.group_members(group.id).await.unwrap()[0].id, user.id);
    assert_eq!(store.groups_of_user(user.id).await.unwrap()[0].id, group.id);
    assert!(store.remove_member(&actor(), group.id, user.id).await.unwrap());
    assert!(!store.remove_member(&actor(), group.id, user.id).await.unwrap());
    store.add_member(&actor(), group.id, user.id).await.unwrap();
    store.delete_user(&actor(), user.id).await.unwrap();
    assert!(store.group_members(group.id).await.unwrap().is_empty(), "deleting a user drops its memberships");
    store.delete_group(&actor(), group.id).await.unwrap();
    assert!(matches!(store.find_group("Sales").await, Err(StoreError::NotFound { .. })));
}

async fn access_requires_a_granted_group_and_an_active_user(store: Arc<dyn Store>, _raw: Raw) {
    let user = store.create_user(&actor(), new_user("dave@contoso.com")).await.unwrap();
    let staff = store.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let other = store.create_group(&actor(), NewGroup::new("Other", None).unwrap()).await.unwrap();
    let app = store.create_app(&actor(), m365("contoso.com", "Microsoft 365"), None).await.unwrap();
    store.add_member(&actor(), staff.id, user.id).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Denied(DenyReason::NoGrantedGroup));
    store.grant(&actor(), app.id, other.id).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Denied(DenyReason::NoGrantedGroup));
    store.grant(&actor(), app.id, staff.id).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Allowed { via: vec![staff.id] });
    store.set_user_state(&actor(), user.id, UserState::Suspended).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Denied(DenyReason::UserSuspended));
    store.set_user_state(&actor(), user.id, UserState::Active).await.unwrap();
    store.revoke(&actor(), app.id, staff.id).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Denied(DenyReason::NoGrantedGroup));
    store.grant(&actor(), app.id, staff.id).await.unwrap();
    store.remove_member(&actor(), staff.id, user.id).await.unwrap();
    assert!(!store.check_access(user.id, app.id).await.unwrap().is_allowed());
}

async fn grant_is_the_same_from_either_side(store: Arc<dyn Store>, _raw: Raw) {
    let group = store.create_group(&actor(), NewGroup::new("Engineering", None).unwrap()).await.unwrap();
    let app = store.create_app(&actor(), m365("fabrikam.com", "Fabrikam 365"), None).await.unwrap();
    assert!(store.grant(&actor(), app.id, group.id).await.unwrap());
    assert!(!store.grant(&actor(), app.id, group.id).await.unwrap(), "granting twice writes one grant");
    assert_eq!(store.granted_groups(app.id).await.unwrap().len(), 1);
    assert_eq!(store.apps_of_group(group.id).await.unwrap()[0].id, app.id);
    store.delete_group(&actor(), group.id).await.unwrap();
    assert!(store.granted_groups(app.id).await.unwrap().is_empty(), "deleting a group drops its grants");
}

async fn set_grants_makes_the_granted_groups_exactly_so_or_changes_nothing(store: Arc<dyn Store>, _raw: Raw) {
    let staff = store.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let sales = store.create_group(&actor(), NewGroup::new("Sales", None).unwrap()).await.unwrap();
    let app = store.create_app(&actor(), m365("fabrikam.com", "Fabrikam 365"), None).await.unwrap();
    assert_eq!(store.set_grants(&actor(), app.id, &[staff.id, sales.id]).await.unwrap(), (2, 0));
    let before = audit_count(&store).await;
    let ghost = tessera_core::GroupId::new();
    assert!(matches!(store.set_grants(&actor(), app.id, &[staff.id, ghost]).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.granted_groups(app.id).await.unwrap().len(), 2, "a bad set changes nothing");
    assert_eq!(audit_count(&store).await, before);
    assert_eq!(store.set_grants(&actor(), app.id, &[sales.id, sales.id]).await.unwrap(), (0, 1));
    let names: Vec<String> = store.granted_groups(app.id).await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["Sales"]);
    assert_eq!(store.set_grants(&actor(), app.id, &[sales.id]).await.unwrap(), (0, 0), "the same set writes nothing");
    assert_eq!(audit_count(&store).await, before + 1);
    assert!(matches!(store.set_grants(&actor(), AppId::new(), &[]).await, Err(StoreError::NotFound { .. })));

    // From the group's side (its Groups Configuration panel), the same rule.
    let other = store.create_app(&actor(), m365("contoso.com", "Contoso 365"), None).await.unwrap();
    let before = audit_count(&store).await;
    assert!(matches!(
        store.set_group_apps(&actor(), staff.id, &[other.id, AppId::new()]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.set_group_apps(&actor(), tessera_core::GroupId::new(), &[]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(audit_count(&store).await, before, "a bad set changes nothing");
    assert_eq!(store.set_group_apps(&actor(), sales.id, &[other.id]).await.unwrap(), (1, 1));
    let apps: Vec<AppId> = store.apps_of_group(sales.id).await.unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(apps, [other.id]);
    assert!(store.granted_groups(app.id).await.unwrap().is_empty());
    assert_eq!(audit_count(&store).await, before + 2);
}

async fn m365_domain_and_label_unique(store: Arc<dyn Store>, _raw: Raw) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), None).await.unwrap();
    assert_eq!(app.kind.m365_domain(), Some("contoso.com"));
    assert_eq!(app.issuer.as_deref(), Some("http://127.0.0.1:8080/m365/contoso.com"));
    let before = audit_count(&store).await;
    assert!(matches!(
        store.create_app(&actor(), m365("CONTOSO.com", "Another"), None).await,
        Err(StoreError::Conflict { field: "domain", .. })
    ));
    assert!(matches!(
        store.create_app(&actor(), m365("other.com", "m365"), None).await,
        Err(StoreError::Conflict { field: "label", .. })
    ));
    assert_eq!(audit_count(&store).await, before);
    assert_eq!(store.list_apps(&PageRequest::first(10)).await.unwrap().items.len(), 1);
    assert_eq!(store.find_app("m365").await.unwrap().id, app.id);
    let found = store.find_app(&app.id.to_string()).await.unwrap();
    assert_eq!(found.kind.m365_domain(), Some("contoso.com"));
    assert_eq!(found.kind.m365_idp_path(), Some("contoso.com"), "the IdP path defaults to the domain");
    assert_eq!(store.find_app_by_idp_path("CONTOSO.com").await.unwrap().id, app.id);
}

async fn an_apps_sign_ins_are_its_users_events_newest_first(store: Arc<dyn Store>, _raw: Raw) {
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

async fn app_details_change_with_an_audit_row_and_a_taken_label_is_refused(store: Arc<dyn Store>, _raw: Raw) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), None).await.unwrap();
    store.create_app(&actor(), m365("fabrikam.com", "Fabrikam"), None).await.unwrap();
    let before = audit_count(&store).await;
    let details =
        |label, description, portal_image| AppDetails { label, description, portal_image, show_in_portal: true };
    for (change, field) in [
        (details("fabrikam", "", None), "label"),
        (details("", "", None), "label"),
        (details("M365", "bad\u{7}", None), "description"),
        (details("M365", "", Some("data:image/svg+xml;base64,AAAA")), "portal_image"),
        (details("M365", "", Some("https://images.example/tile.png")), "portal_image"),
    ] {
        let (label, description) = (change.label, change.description);
        let refused = store.update_app_details(&actor(), app.id, &change).await;
        assert!(
            matches!(&refused, Err(StoreError::Conflict { field: f, .. }) if *f == field)
                || matches!(&refused, Err(StoreError::Invalid(e)) if e.field() == field),
            "{label:?} {description:?}: {refused:?}"
        );
    }
    assert_eq!(audit_count(&store).await, before, "refusals write nothing");
    let change = AppDetails {
        label: " Mail ",
        description: "Mail and Office",
        portal_image: Some("data:image/png;base64,iVBORw0KGgo="),
        show_in_portal: false,
    };
    let changed = store.update_app_details(&actor(), app.id, &change).await.unwrap();
    assert_eq!(
        (changed.label.as_str(), changed.description.as_str(), changed.portal_image.as_deref(), changed.show_in_portal),
        ("Mail", "Mail and Office", Some("data:image/png;base64,iVBORw0KGgo="), false)
    );
    assert_eq!(store.find_app("mail").await.unwrap().id, app.id);
    assert_eq!(audit_count(&store).await, before + 1);
}

async fn idp_path_is_unique_and_settings_change_with_an_audit_row(store: Arc<dyn Store>, _raw: Raw) {
    let mut config = M365Config::for_domain("fabrikam.com");
    config.idp_path = Some("fab-sso".into());
    let new = NewApplication::new("http://127.0.0.1:8080", "Fab", None, None, true, AppKind::M365(config)).unwrap();
    let app = store.create_app(&actor(), new, None).await.unwrap();
    assert_eq!(store.find_app_by_idp_path("fab-sso").await.unwrap().id, app.id);
    assert!(matches!(store.find_app_by_idp_path("fabrikam.com").await, Err(StoreError::NotFound { .. })));
    let mut clash = M365Config::for_domain("other.com");
    clash.idp_path = Some("FAB-SSO".into());
    let clash = NewApplication::new("http://127.0.0.1:8080", "Other", None, None, true, AppKind::M365(clash)).unwrap();
    assert!(matches!(
        store.create_app(&actor(), clash, None).await,
        Err(StoreError::Conflict { field: "idp_path", .. })
    ));
    // Settings change; the path and domain cannot.
    let change = tessera_core::SettingsChange {
        attributes: Some(vec![tessera_core::AttributeMapping::parse("displayName=display_name").unwrap()]),
        ..Default::default()
    };
    let before = audit_count(&store).await;
    let updated = store.update_app_kind(&actor(), app.id, &change.apply(&app.kind).unwrap()).await.unwrap();
    match &updated.kind {
        AppKind::M365(c) => assert_eq!(c.attributes.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(audit_count(&store).await, before + 1);
    let mut moved = match &app.kind {
        AppKind::M365(c) => c.clone(),
        _ => unreachable!(),
    };
    moved.idp_path = Some("elsewhere".into());
    assert!(matches!(
        store.update_app_kind(&actor(), app.id, &AppKind::M365(moved)).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(audit_count(&store).await, before + 1, "a refused change writes nothing");
}

async fn message_ids_are_accepted_once_across_nodes(store: Arc<dyn Store>, _raw: Raw) {
    assert!(store.remember_message_id("sp", "_a", 2_000, 1_000).await.unwrap());
    assert!(!store.remember_message_id("sp", "_a", 2_000, 1_500).await.unwrap(), "a replay");
    assert!(store.remember_message_id("other-sp", "_a", 2_000, 1_500).await.unwrap(), "keyed by issuer");
    // Once expired, the row is cleared and the ID is new again.
    assert!(store.remember_message_id("sp", "_a", 4_000, 3_000).await.unwrap());
    // Racing nodes: exactly one of 8 parallel attempts wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.remember_message_id("sp", "_race", 10_000, 5_000).await.unwrap() }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
}

async fn delete_apps_requires_exact_confirm_count_and_is_all_or_nothing(store: Arc<dyn Store>, _raw: Raw) {
    let a = store.create_app(&actor(), m365("a.example.com", "A"), None).await.unwrap();
    let b = store.create_app(&actor(), m365("b.example.com", "B"), None).await.unwrap();
    let group = store.create_group(&actor(), NewGroup::new("G", None).unwrap()).await.unwrap();
    store.grant(&actor(), a.id, group.id).await.unwrap();
    assert!(matches!(
        store.delete_apps(&actor(), &[a.id, b.id], 1).await,
        Err(StoreError::ConfirmCount { expected: 2, given: 1 })
    ));
    let ghost = tessera_core::AppId::new();
    assert!(matches!(store.delete_apps(&actor(), &[a.id, ghost], 2).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.list_apps(&PageRequest::first(10)).await.unwrap().items.len(), 2, "nothing deleted");
    assert_eq!(store.delete_apps(&actor(), &[a.id, b.id], 2).await.unwrap(), 2);
    assert!(store.list_apps(&PageRequest::first(10)).await.unwrap().items.is_empty());
    assert!(store.apps_of_group(group.id).await.unwrap().is_empty(), "grants go with the app");
}

async fn audit_records_changes_and_is_append_only(store: Arc<dyn Store>, raw: Raw) {
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

async fn schema_newer_than_binary_is_refused(_store: Arc<dyn Store>, raw: Raw) {
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

/// Runs a future to completion from synchronous code inside the runtime.
fn futures_lite_block<F: Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

async fn api_tokens_lifecycle(store: Arc<dyn Store>, _raw: Raw) {
    let token = store.create_api_token(&actor(), "deploy", "hash-1", AdminRole::Admin, &[]).await.unwrap();
    assert!(matches!(
        store.create_api_token(&actor(), "DEPLOY", "hash-2", AdminRole::Admin, &[]).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.find_api_token("hash-1").await.unwrap().unwrap().id, token.id);
    assert!(store.find_api_token("hash-x").await.unwrap().is_none());
    store.revoke_api_token(&actor(), "deploy").await.unwrap();
    assert!(store.find_api_token("hash-1").await.unwrap().is_none(), "revoked tokens stop working");
    assert!(matches!(store.revoke_api_token(&actor(), "deploy").await, Err(StoreError::NotFound { .. })));
    store.create_api_token(&actor(), "deploy", "hash-3", AdminRole::Admin, &[]).await.unwrap();
    assert_eq!(store.list_api_tokens().await.unwrap().len(), 2);
}

async fn settings_and_initial_admin(store: Arc<dyn Store>, _raw: Raw) {
    assert_eq!(store.get_setting("public_url").await.unwrap(), None);
    store.set_setting("public_url", "https://a.example").await.unwrap();
    store.set_setting("public_url", "https://b.example").await.unwrap();
    assert_eq!(store.get_setting("public_url").await.unwrap().as_deref(), Some("https://b.example"));
    assert!(store.create_initial_admin("admin", "$argon2id$x").await.unwrap());
    assert!(
        !store.create_initial_admin("admin", "$argon2id$y").await.unwrap(),
        "only the first start creates an admin"
    );
    store.ping().await.unwrap();
}

fn fake_key(marker: u8) -> NewSigningKey {
    NewSigningKey {
        id: uuid::Uuid::now_v7().to_string(),
        bits: 2048,
        sealed_private_key: vec![1, marker, 3],
        certificate_der: vec![0x30, marker],
        not_after: 4_000_000_000_000,
        thumbprint: format!("thumb-{marker}"),
    }
}

async fn signing_keys_are_stored_sealed_and_rotate(store: Arc<dyn Store>, _raw: Raw) {
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

async fn a_staged_key_is_promoted_and_the_old_certificate_stays_published_for_its_grace_period(
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

async fn a_lease_has_one_holder_until_it_expires_or_is_released(store: Arc<dyn Store>, _raw: Raw) {
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

async fn alice(store: &Arc<dyn Store>) -> tessera_core::User {
    store.create_user(&actor(), new_user("alice@contoso.com")).await.unwrap()
}

async fn sessions_rotate_and_are_shared(store: Arc<dyn Store>, _raw: Raw) {
    let user = alice(&store).await;
    let authn = AuthnContext::default().with(Factor::Password, 5);
    let session = Session {
        id_hash: "h1".into(),
        user_id: user.id,
        authn: authn.clone(),
        complete: false,
        created_at: 5,
        last_seen_at: 5,
        expires_at: 1_000,
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(store.find_session("h1").await.unwrap().unwrap(), session);
    let (joined, owner) = store.find_session_with_user("h1").await.unwrap().unwrap();
    assert_eq!((joined, owner.id, owner.created_at), (session.clone(), user.id, user.created_at));
    assert!(store.find_session_with_user("nope").await.unwrap().is_none());
    store.touch_session("h1", 9).await.unwrap();
    assert_eq!(store.find_session("h1").await.unwrap().unwrap().last_seen_at, 9);
    let upgraded = Session { id_hash: "h2".into(), authn: authn.with(Factor::Totp, 7), complete: true, ..session };
    store.rotate_session("h1", &upgraded).await.unwrap();
    assert!(store.find_session("h1").await.unwrap().is_none(), "the old id dies with the rotation");
    assert!(store.find_session("h2").await.unwrap().unwrap().authn.mfa_done());
    store.delete_session("h2").await.unwrap();
    assert!(store.find_session("h2").await.unwrap().is_none());

    // Sign out everywhere: every session of the user ends, as read through the cache too.
    for id in ["h3", "h4"] {
        store.create_session(&Session { id_hash: id.into(), ..upgraded.clone() }).await.unwrap();
        assert!(store.find_session_with_user(id).await.unwrap().is_some());
    }
    assert_eq!(store.end_user_sessions(&actor(), user.id).await.unwrap(), 2);
    for id in ["h3", "h4"] {
        assert!(store.find_session_with_user(id).await.unwrap().is_none(), "{id}");
    }
    assert_eq!(store.end_user_sessions(&actor(), user.id).await.unwrap(), 0);
}

async fn parked_requests_belong_to_one_browser_and_expire(store: Arc<dyn Store>, _raw: Raw) {
    let parked = ParkedRequest {
        id: "p1".into(),
        browser_hash: "b1".into(),
        kind: "launch".into(),
        payload: serde_json::json!({"app": "x"}),
        created_at: 100,
        expires_at: 200,
    };
    store.park_request(&parked).await.unwrap();
    assert!(store.take_parked_request("p1", "b2", 150).await.unwrap().is_none(), "another browser");
    assert_eq!(store.take_parked_request("p1", "b1", 150).await.unwrap(), Some(parked.clone()));
    assert!(store.take_parked_request("p1", "b1", 150).await.unwrap().is_none(), "taken once");
    store.park_request(&ParkedRequest { id: "p2".into(), ..parked }).await.unwrap();
    assert!(store.take_parked_request("p2", "b1", 201).await.unwrap().is_none(), "expired");
}

async fn totp_steps_and_recovery_codes_are_single_use(store: Arc<dyn Store>, _raw: Raw) {
    let user = alice(&store).await;
    store.put_pending_totp(user.id, b"sealed", 1).await.unwrap();
    assert!(!store.totp_credential(user.id).await.unwrap().unwrap().confirmed);
    assert!(!store.use_totp_step(user.id, 10).await.unwrap(), "an unconfirmed secret accepts nothing");
    assert!(store.confirm_totp(&actor(), user.id, 10, &["r1".into(), "r2".into()]).await.unwrap());
    assert!(!store.confirm_totp(&actor(), user.id, 11, &[]).await.unwrap(), "confirmed once");
    assert!(!store.use_totp_step(user.id, 10).await.unwrap(), "the enrolment step is used");
    assert!(store.use_totp_step(user.id, 11).await.unwrap());
    assert!(!store.use_totp_step(user.id, 11).await.unwrap());
    assert!(store.use_recovery_code(user.id, "r1").await.unwrap());
    assert!(!store.use_recovery_code(user.id, "r1").await.unwrap());
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 1);
    store.put_pending_totp(user.id, b"other", 2).await.unwrap();
    assert_eq!(
        store.totp_credential(user.id).await.unwrap().unwrap().sealed_secret,
        b"sealed",
        "a confirmed secret stays"
    );
    assert!(store.reset_mfa(&actor(), user.id).await.unwrap());
    assert!(store.totp_credential(user.id).await.unwrap().is_none());
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 0);
    assert!(!store.reset_mfa(&actor(), user.id).await.unwrap());
}

async fn lockout_counters_familiar_ips_and_spray_counts(store: Arc<dyn Store>, _raw: Raw) {
    let user = alice(&store).await;
    let window = 1_000;
    for at in [10, 20, 30] {
        assert!(store.reserve_attempt(user.id, Location::Unknown, 3, window, at).await.unwrap());
    }
    assert!(
        !store.reserve_attempt(user.id, Location::Unknown, 3, window, 40).await.unwrap(),
        "locked at the threshold"
    );
    let counter = store.lockout_counter(user.id, Location::Unknown).await.unwrap().unwrap();
    assert_eq!((counter.failures, counter.last_failure_at), (3, 30), "a refused reservation changes nothing");
    assert!(
        store.reserve_attempt(user.id, Location::Familiar, 3, window, 40).await.unwrap(),
        "other locations are apart"
    );
    assert!(
        store.reserve_attempt(user.id, Location::Unknown, 3, window, 1_030).await.unwrap(),
        "one attempt after the window"
    );
    assert!(
        !store.reserve_attempt(user.id, Location::Unknown, 3, window, 1_031).await.unwrap(),
        "and the window restarts"
    );
    assert!(store.reserve_attempt(user.id, Location::SecondFactor, 3, window, 50).await.unwrap());

    store.record_failed_attempt("192.0.2.1", "k-alice", 10).await.unwrap();
    store.record_failed_attempt("192.0.2.1", "k-alice", 20).await.unwrap();
    store.record_failed_attempt("192.0.2.1", "k-nobody", 30).await.unwrap();
    store.record_failed_attempt("192.0.2.1", "k-mfa", 40).await.unwrap();
    assert_eq!(store.failed_names_from_ip("192.0.2.1", 0).await.unwrap(), 3);
    assert_eq!(store.failed_names_from_ip("192.0.2.1", 25).await.unwrap(), 2);

    store.record_password_success(user.id).await.unwrap();
    assert!(store.lockout_counter(user.id, Location::Unknown).await.unwrap().is_none(), "a right password resets");
    assert!(
        store.lockout_counter(user.id, Location::SecondFactor).await.unwrap().is_some(),
        "but not the second-factor counter"
    );
    store.clear_second_factor_failures(user.id).await.unwrap();
    assert!(store.lockout_counter(user.id, Location::SecondFactor).await.unwrap().is_none());
    for i in 0..25 {
        store.learn_familiar_ip(user.id, &format!("10.0.0.{i}"), 100 + i).await.unwrap();
    }
    let familiar = store.familiar_ips(user.id).await.unwrap();
    assert_eq!(familiar.len(), tessera_store::MAX_FAMILIAR_IPS);
    assert_eq!(familiar[0], "10.0.0.24");
    assert!(!familiar.contains(&"10.0.0.0".to_string()), "the oldest go first");
}

/// Many parallel attempts against one counter: exactly `threshold` get through.
async fn parallel_attempts_cannot_pass_the_threshold(store: Arc<dyn Store>, _raw: Raw) {
    let user = alice(&store).await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.reserve_attempt(user.id, Location::Unknown, 5, 60_000, 1_000).await })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            granted += 1;
        }
    }
    assert_eq!(granted, 5);
}

async fn app_policy_and_notice_round_trip(store: Arc<dyn Store>, _raw: Raw) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), None).await.unwrap();
    assert_eq!(app.policy, AccessPolicy::default());
    let policy = AccessPolicy {
        require_mfa: true,
        allowed_networks: vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()],
    };
    store.set_app_policy(&actor(), app.id, &policy).await.unwrap();
    assert_eq!(store.find_app("M365").await.unwrap().policy, policy);
    assert!(matches!(
        store.set_app_policy(&actor(), tessera_core::AppId::new(), &policy).await,
        Err(StoreError::NotFound { .. })
    ));
    let user = alice(&store).await;
    assert_eq!(user.notice_acknowledged_at, None);
    store.acknowledge_notice(&actor(), user.id, 77).await.unwrap();
    store.acknowledge_notice(&actor(), user.id, 88).await.unwrap();
    assert_eq!(
        store.find_user("alice@contoso.com").await.unwrap().notice_acknowledged_at,
        Some(77),
        "the first acknowledgement stands"
    );
    let events = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "user.notice_acknowledged").count(), 1, "audited with the change");
}

async fn concurrent_audit_records_all_commit(store: Arc<dyn Store>, _raw: Raw) {
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

async fn reads_see_this_process_writes_at_once_and_other_writers_within_a_second(store: Arc<dyn Store>, raw: Raw) {
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

async fn wsfed_relying_parties_round_trip(store: Arc<dyn Store>, _raw: Raw) {
    let config =
        tessera_core::WsFedRpConfig::new("urn:contoso:wiki", &["https://wiki.contoso.test/wsfed".into()], Vec::new());
    let new = NewApplication::new("https://idp.example.com", "Wiki", None, None, true, AppKind::WsFed(config.clone()))
        .unwrap();
    let app = store.create_app(&actor(), new, None).await.unwrap();
    let found = store.find_app("Wiki").await.unwrap();
    assert_eq!(found.kind, AppKind::WsFed(config.validate().unwrap()));
    assert_eq!(found.issuer, Some(format!("https://idp.example.com/apps/{}", app.id)));
    let change =
        tessera_core::SettingsChange { name_id_source: Some(tessera_core::UserAttribute::Upn), ..Default::default() };
    let updated = store.update_app_kind(&actor(), app.id, &change.apply(&found.kind).unwrap()).await.unwrap();
    assert!(matches!(updated.kind, AppKind::WsFed(c) if c.name_id_source == tessera_core::UserAttribute::Upn));
}

async fn one_bad_row_fails_only_its_own_caller_in_a_batch(store: Arc<dyn Store>, _raw: Raw) {
    // A 10 KB message ID (over PostgreSQL's index row limit as it stands) and an audit target
    // with a NUL (which PostgreSQL's TEXT refuses), sent among ordinary writes: the ordinary
    // ones must all commit, whatever batch they share.
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
    assert_eq!(events.iter().filter(|e| e.action == "signin.password").count(), 19);
}

/// A statement PostgreSQL cannot finish (here: waiting on a lock another session holds) ends
/// at the store's statement timeout with an error, rather than holding its request forever;
/// the store serves again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statements_end_at_the_statement_timeout() {
    let Some(db) = ThrowawayPg::create().await else { return };
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&db.url, wall_clock()).await.unwrap());
    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE").execute(&mut holder).await.unwrap();
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), store.find_user("alice@contoso.com")).await;
    let waited = started.elapsed();
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let after = store.find_user("alice@contoso.com").await;
    db.drop_database().await;
    match outcome {
        Ok(Err(e @ StoreError::Database(_))) => assert!(e.to_string().contains("statement timeout"), "{e}"),
        other => panic!("expected the statement timeout, got {other:?} after {waited:?}"),
    }
    assert!(matches!(after, Err(StoreError::NotFound { .. })), "{after:?}");
}
