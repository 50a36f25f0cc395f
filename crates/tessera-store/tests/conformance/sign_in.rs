//! Sessions, parked requests, second factors, lockout, replay protection.

use super::*;
use tessera_core::UserId;

pub(super) async fn message_ids_are_accepted_once_across_nodes(store: Arc<dyn Store>, _raw: Raw) {
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

/// A sign-on's one write: the request's ID and, only when the ID is new, its audit record. A
/// replay leaves no record, across nodes as alone; a repeat inside one group commit as well.
pub(super) async fn a_message_id_and_its_audit_record_are_written_together(store: Arc<dyn Store>, _raw: Raw) {
    let claim = |id: &str| MessageClaim { issuer: "sp".into(), message_id: id.into(), expires_at: 20_000, now: 10_000 };
    let issued = |n: u64| NewAuditEvent::new(AuditAction::SamlIssued, "app", n, serde_json::json!({"n": n}));
    let before = audit_count(&store).await;
    assert!(store.remember_message_id_with_audit(&claim("_one"), &actor(), issued(1)).await.unwrap());
    assert_eq!(audit_count(&store).await, before + 1);
    assert!(!store.remember_message_id_with_audit(&claim("_one"), &actor(), issued(2)).await.unwrap(), "a replay");
    assert!(!store.remember_message_id("sp", "_one", 20_000, 10_000).await.unwrap(), "the ID is remembered");
    assert!(store.remember_message_id("sp", "_two", 20_000, 10_000).await.unwrap());
    assert!(!store.remember_message_id_with_audit(&claim("_two"), &actor(), issued(3)).await.unwrap());
    assert_eq!(audit_count(&store).await, before + 1, "no record for a replay");
    // Long IDs are kept by their digest, on both paths alike.
    let long = "_".repeat(300);
    assert!(store.remember_message_id_with_audit(&claim(&long), &actor(), issued(4)).await.unwrap());
    assert!(!store.remember_message_id("sp", &long, 20_000, 10_000).await.unwrap());
    // Eight racing sign-ons with one ID: one record.
    let before = audit_count(&store).await;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.remember_message_id_with_audit(&claim("_race"), &actor(), issued(10 + n)).await.unwrap()
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!((wins, audit_count(&store).await), (1, before + 1));
}

/// A token's audit record goes in only while the session it was issued from exists and its
/// user is active (a node may answer from a session it read a moment ago: this is what stops
/// the token when the session ended since). A request's ID is used up either way; a replay is
/// a replay first. Alone and in one group commit alike.
pub(super) async fn a_tokens_record_needs_its_session_alive(store: Arc<dyn Store>, _raw: Raw) {
    use tessera_store::TokenRecorded::{Replayed, SessionEnded, Written};
    let user = alice(&store).await;
    let session = |id: &str| signed_in_session(id, user.id);
    let claim = |id: &str| MessageClaim { issuer: "sp".into(), message_id: id.into(), expires_at: 20_000, now: 10_000 };
    store.create_session(&session("live")).await.unwrap();
    assert_eq!(record_token(&store, "live", Some(claim("_1")), 1).await, Written);
    assert_eq!(record_token(&store, "live", None, 2).await, Written);
    assert_eq!(record_token(&store, "live", Some(claim("_1")), 3).await, Replayed);
    assert_eq!(record_token(&store, "never", None, 4).await, SessionEnded);
    assert_eq!(record_token(&store, "never", Some(claim("_2")), 5).await, SessionEnded);
    assert!(!store.remember_message_id("sp", "_2", 20_000, 10_000).await.unwrap(), "the ID is used up all the same");
    store.delete_session("live").await.unwrap();
    assert_eq!(record_token(&store, "live", None, 6).await, SessionEnded, "signed out");
    store.create_session(&session("again")).await.unwrap();
    store.set_user_state(&actor(), user.id, UserState::Suspended).await.unwrap();
    assert_eq!(record_token(&store, "again", None, 7).await, SessionEnded, "the user suspended");
    store.set_user_state(&actor(), user.id, UserState::Active).await.unwrap();
    assert_eq!(record_token(&store, "again", None, 8).await, Written);
    // Twenty at once, so that batches hold both kinds: every other one for a session gone.
    let mut tasks = Vec::new();
    for n in 100..120u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let (session, claim) = match n % 4 {
                0 => ("again", Some(claim(&format!("_{n}")))),
                1 => ("gone", Some(claim(&format!("_{n}")))),
                2 => ("again", None),
                _ => ("gone", None),
            };
            (n, record_token(&store, session, claim, n).await)
        }));
    }
    for task in tasks {
        let (n, recorded) = task.await.unwrap();
        assert_eq!(recorded, if n % 2 == 0 { Written } else { SessionEnded }, "token {n}");
    }
    let events = store.list_audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    let mut written: Vec<u64> =
        events.iter().filter(|e| e.action == "saml.issued").map(|e| e.target_id.parse().unwrap()).collect();
    written.sort_unstable();
    let expected: Vec<u64> = [1, 2, 8].into_iter().chain((100..120).filter(|n| n % 2 == 0)).collect();
    assert_eq!(written, expected, "records only of tokens whose session lived");
}

async fn record_token(
    store: &Arc<dyn Store>,
    session: &str,
    claim: Option<MessageClaim>,
    n: u64,
) -> tessera_store::TokenRecorded {
    let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", n, serde_json::json!({"n": n}));
    let token = tessera_store::TokenRecord { session, claim: claim.as_ref(), actor: &actor(), event };
    store.record_token(token).await.unwrap()
}

pub(super) async fn sessions_rotate_and_are_shared(store: Arc<dyn Store>, _raw: Raw) {
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

pub(super) async fn parked_requests_belong_to_one_browser_and_expire(store: Arc<dyn Store>, _raw: Raw) {
    let parked = ParkedRequest {
        id: "p1".into(),
        browser_hash: "b1".into(),
        kind: "launch".into(),
        payload: serde_json::json!({"app": "x"}),
        created_at: 100,
        expires_at: 200,
    };
    store.park_request(&parked).await.unwrap();
    // Peeking (the sign-in page naming the application) leaves it in place, for its browser only.
    assert!(store.peek_parked_request("p1", "b2", 150).await.unwrap().is_none(), "another browser peeks");
    assert_eq!(store.peek_parked_request("p1", "b1", 150).await.unwrap(), Some(parked.clone()));
    assert_eq!(store.peek_parked_request("p1", "b1", 150).await.unwrap(), Some(parked.clone()), "still there");
    assert!(store.peek_parked_request("p1", "b1", 201).await.unwrap().is_none(), "not once expired");
    assert!(store.take_parked_request("p1", "b2", 150).await.unwrap().is_none(), "another browser");
    assert_eq!(store.take_parked_request("p1", "b1", 150).await.unwrap(), Some(parked.clone()));
    assert!(store.take_parked_request("p1", "b1", 150).await.unwrap().is_none(), "taken once");
    store.park_request(&ParkedRequest { id: "p2".into(), ..parked }).await.unwrap();
    assert!(store.take_parked_request("p2", "b1", 201).await.unwrap().is_none(), "expired");
}

pub(super) async fn totp_steps_and_recovery_codes_are_single_use(store: Arc<dyn Store>, _raw: Raw) {
    let user = alice(&store).await;
    totp_steps(store.as_ref(), user.id).await;
}

async fn totp_steps(store: &dyn Store, user: UserId) {
    store.put_pending_totp(user, b"sealed", 1).await.unwrap();
    let pending = store.totp_credential(user).await.unwrap().unwrap();
    assert!(!pending.confirmed);
    assert_eq!((pending.name, pending.created_at), (None, 1));
    assert!(!store.use_totp_step(user, 10).await.unwrap(), "an unconfirmed secret accepts nothing");
    assert!(!store.rename_totp(&actor(), user, "Phone").await.unwrap(), "an unconfirmed secret has no name");
    assert!(!store.replace_recovery_codes(&actor(), user, &["x".into()]).await.unwrap(), "nor new codes");
    assert!(store.confirm_totp(&actor(), user, 10, &["r1".into(), "r2".into()]).await.unwrap());
    assert!(!store.confirm_totp(&actor(), user, 11, &[]).await.unwrap(), "confirmed once");
    assert!(!store.use_totp_step(user, 10).await.unwrap(), "the enrolment step is used");
    assert!(store.use_totp_step(user, 11).await.unwrap());
    assert!(!store.use_totp_step(user, 11).await.unwrap());
    assert!(store.use_recovery_code(user, "r1").await.unwrap());
    assert!(!store.use_recovery_code(user, "r1").await.unwrap());
    assert_eq!(store.recovery_codes_left(user).await.unwrap(), 1);
    assert!(store.rename_totp(&actor(), user, "Work phone").await.unwrap());
    assert_eq!(store.totp_credential(user).await.unwrap().unwrap().name.as_deref(), Some("Work phone"));
    assert!(store.replace_recovery_codes(&actor(), user, &["n1".into(), "n2".into(), "n3".into()]).await.unwrap());
    assert!(!store.use_recovery_code(user, "r2").await.unwrap(), "the old codes are gone");
    assert!(store.use_recovery_code(user, "n2").await.unwrap());
    assert_eq!(store.recovery_codes_left(user).await.unwrap(), 2);
    store.put_pending_totp(user, b"other", 2).await.unwrap();
    assert_eq!(
        store.totp_credential(user).await.unwrap().unwrap().sealed_secret,
        b"sealed",
        "a confirmed secret stays"
    );
    assert!(store.reset_mfa(&actor(), user).await.unwrap());
    assert!(store.totp_credential(user).await.unwrap().is_none());
    assert!(!store.rename_totp(&actor(), user, "Phone").await.unwrap(), "nothing to name once removed");
    assert_eq!(store.recovery_codes_left(user).await.unwrap(), 0);
    assert!(!store.reset_mfa(&actor(), user).await.unwrap());
}

fn passkey(user: UserId, name: &str, credential: u8, at: i64) -> PasskeyCredential {
    PasskeyCredential {
        user_id: user,
        name: name.into(),
        credential_id: vec![credential; 16],
        user_handle: vec![7; 16],
        passkey_json: format!("{{\"key\":{credential}}}"),
        sign_count: 0,
        created_at: at,
        last_used_at: None,
    }
}

/// Passkeys: several per user, named one of a kind per user, credential IDs one of a kind
/// across users; found by credential; the counter moves forward only (a counter that stays
/// or goes back is refused and changes nothing; 0 kept at 0 is an authenticator without
/// one); removed by name, by a second-factor reset, and with their user; each enrolment and
/// removal audited.
pub(super) async fn passkeys_are_named_one_of_a_kind_and_their_counters_move_forward_only(
    store: Arc<dyn Store>,
    _raw: Raw,
) {
    let alice = alice(&store).await.id;
    let bob = store.create_user(&actor(), new_user("bob@contoso.com")).await.unwrap().id;
    let audited = |store: Arc<dyn Store>| async move {
        let events = store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap();
        events
            .iter()
            .filter(|e| e.summary["factor"] == "passkey")
            .map(|e| (e.action.clone(), e.summary["name"].clone(), e.summary["removed"].clone()))
            .collect::<Vec<_>>()
    };

    assert!(store.passkeys(alice).await.unwrap().is_empty());
    store.add_passkey(&actor(), &passkey(alice, "Laptop", 1, 20)).await.unwrap();
    store.add_passkey(&actor(), &passkey(alice, "YubiKey", 2, 10)).await.unwrap();
    store.add_passkey(&actor(), &passkey(bob, "Laptop", 3, 30)).await.unwrap();
    let names: Vec<String> = store.passkeys(alice).await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["YubiKey", "Laptop"], "oldest first");
    assert_eq!(store.passkey_by_credential(&[3; 16]).await.unwrap().unwrap().user_id, bob);
    assert!(store.passkey_by_credential(&[9; 16]).await.unwrap().is_none());

    // Bad input changes nothing.
    let same_name = store.add_passkey(&actor(), &passkey(alice, "Laptop", 4, 40)).await.unwrap_err();
    assert!(matches!(same_name, StoreError::Conflict { field: "name", .. }), "{same_name:?}");
    let same_credential = store.add_passkey(&actor(), &passkey(alice, "Phone", 3, 40)).await.unwrap_err();
    assert!(matches!(same_credential, StoreError::Conflict { field: "credential_id", .. }), "{same_credential:?}");
    assert!(store.add_passkey(&actor(), &passkey(UserId::new(), "Ghost", 5, 40)).await.is_err(), "no such user");
    assert_eq!(store.passkeys(alice).await.unwrap().len(), 2);
    assert!(store.passkey_by_credential(&[4; 16]).await.unwrap().is_none());

    // The counter: forward only.
    assert!(store.passkey_used(&[1; 16], 5, "{\"counter\":5}", 100).await.unwrap());
    let used = store.passkey_by_credential(&[1; 16]).await.unwrap().unwrap();
    assert_eq!((used.sign_count, used.passkey_json.as_str(), used.last_used_at), (5, "{\"counter\":5}", Some(100)));
    for stale in [5, 4, 0] {
        assert!(!store.passkey_used(&[1; 16], stale, "{\"counter\":0}", 200).await.unwrap(), "{stale}");
    }
    assert_eq!(
        store.passkey_by_credential(&[1; 16]).await.unwrap().unwrap(),
        used,
        "a refused counter changes nothing"
    );
    assert!(store.passkey_used(&[1; 16], 6, "{\"counter\":6}", 300).await.unwrap());
    // An authenticator that keeps no counter (synced passkeys): 0 stays 0, every time.
    assert!(store.passkey_used(&[2; 16], 0, "{}", 110).await.unwrap());
    assert!(store.passkey_used(&[2; 16], 0, "{}", 120).await.unwrap());
    assert!(!store.passkey_used(&[9; 16], 1, "{}", 120).await.unwrap(), "no such passkey");

    // Removal: by name, only the user's own.
    assert!(!store.remove_passkey(&actor(), bob, "YubiKey").await.unwrap());
    assert!(store.remove_passkey(&actor(), alice, "YubiKey").await.unwrap());
    assert!(!store.remove_passkey(&actor(), alice, "YubiKey").await.unwrap());
    assert!(store.passkey_by_credential(&[2; 16]).await.unwrap().is_none());
    // Removing the authenticator app (the user's own button) leaves the passkeys; the
    // administrator's reset takes them all; a deleted user takes theirs.
    assert!(!store.reset_mfa(&actor(), alice).await.unwrap(), "no authenticator app to remove");
    assert_eq!(store.passkeys(alice).await.unwrap().len(), 1, "the passkeys stay");
    assert_eq!(store.remove_passkeys(&actor(), alice).await.unwrap(), 1);
    assert!(store.passkeys(alice).await.unwrap().is_empty());
    assert_eq!(store.remove_passkeys(&actor(), alice).await.unwrap(), 0, "none left: nothing audited");
    store.delete_user(&actor(), bob).await.unwrap();
    assert!(store.passkey_by_credential(&[3; 16]).await.unwrap().is_none());

    let events = audited(store.clone()).await;
    let named = |action: &str, name: &str| (action.to_string(), serde_json::Value::from(name), serde_json::Value::Null);
    assert_eq!(
        events,
        [
            named("user.mfa_enroll", "Laptop"),
            named("user.mfa_enroll", "YubiKey"),
            named("user.mfa_enroll", "Laptop"),
            named("user.mfa_reset", "YubiKey"),
            ("user.mfa_reset".to_string(), serde_json::Value::Null, serde_json::Value::from(1)),
        ]
    );
}

pub(super) async fn lockout_counters_familiar_ips_and_spray_counts(store: Arc<dyn Store>, _raw: Raw) {
    let user = alice(&store).await;
    lockout_counters(store.as_ref(), user.id).await;
}

async fn lockout_counters(store: &dyn Store, user: UserId) {
    let window = 1_000;
    for at in [10, 20, 30] {
        assert!(store.reserve_attempt(user, Location::Unknown, 3, window, at).await.unwrap());
    }
    assert!(!store.reserve_attempt(user, Location::Unknown, 3, window, 40).await.unwrap(), "locked at the threshold");
    let counter = store.lockout_counter(user, Location::Unknown).await.unwrap().unwrap();
    assert_eq!((counter.failures, counter.last_failure_at), (3, 30), "a refused reservation changes nothing");
    assert!(store.reserve_attempt(user, Location::Familiar, 3, window, 40).await.unwrap(), "other locations are apart");
    assert!(
        store.reserve_attempt(user, Location::Unknown, 3, window, 1_030).await.unwrap(),
        "one attempt after the window"
    );
    assert!(
        !store.reserve_attempt(user, Location::Unknown, 3, window, 1_031).await.unwrap(),
        "and the window restarts"
    );
    assert!(store.reserve_attempt(user, Location::SecondFactor, 3, window, 50).await.unwrap());
    // An attempt given back (an outage, no guess): one less, only there, never below zero.
    store.release_attempt(user, Location::Familiar).await.unwrap();
    assert_eq!(store.lockout_counter(user, Location::Familiar).await.unwrap().unwrap().failures, 0);
    store.release_attempt(user, Location::Familiar).await.unwrap();
    assert_eq!(store.lockout_counter(user, Location::Familiar).await.unwrap().unwrap().failures, 0);
    assert_eq!(store.lockout_counter(user, Location::Unknown).await.unwrap().unwrap().failures, 4);

    store.record_failed_attempt("192.0.2.1", "k-alice", 10).await.unwrap();
    store.record_failed_attempt("192.0.2.1", "k-alice", 20).await.unwrap();
    store.record_failed_attempt("192.0.2.1", "k-nobody", 30).await.unwrap();
    store.record_failed_attempt("192.0.2.1", "k-mfa", 40).await.unwrap();
    assert_eq!(store.failed_names_from_ip("192.0.2.1", 0).await.unwrap(), 3);
    assert_eq!(store.failed_names_from_ip("192.0.2.1", 25).await.unwrap(), 2);

    store.record_password_success(user).await.unwrap();
    assert!(store.lockout_counter(user, Location::Unknown).await.unwrap().is_none(), "a right password resets");
    assert!(
        store.lockout_counter(user, Location::SecondFactor).await.unwrap().is_some(),
        "but not the second-factor counter"
    );
    store.clear_second_factor_failures(user).await.unwrap();
    assert!(store.lockout_counter(user, Location::SecondFactor).await.unwrap().is_none());
    for i in 0..25 {
        store.learn_familiar_ip(user, &format!("10.0.0.{i}"), 100 + i).await.unwrap();
    }
    let familiar = store.familiar_ips(user).await.unwrap();
    assert_eq!(familiar.len(), tessera_store::MAX_FAMILIAR_IPS);
    assert_eq!(familiar[0], "10.0.0.24");
    assert!(!familiar.contains(&"10.0.0.0".to_string()), "the oldest go first");
}

/// Many parallel attempts against one counter: exactly `threshold` get through.
pub(super) async fn parallel_attempts_cannot_pass_the_threshold(store: Arc<dyn Store>, _raw: Raw) {
    let user = alice(&store).await;
    parallel_attempts(store, user.id).await;
}

async fn parallel_attempts(store: Arc<dyn Store>, user: UserId) {
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.reserve_attempt(user, Location::Unknown, 5, 60_000, 1_000).await })
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
