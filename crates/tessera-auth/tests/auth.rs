//! The sign-in procedures on a clock the tests move: session timeouts, the lockout and spray
//! windows, second-factor counting and enrolment. Nothing here sleeps, and no database runs: the
//! store is the in-memory one, held to the same conformance tests as SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::sync::Arc;

use tessera_auth::authenticate::{Authenticator, CodeOutcome, PasswordOutcome};
use tessera_auth::client::ClientAddresses;
use tessera_auth::enrol::{Confirmation, Enroller, Enrolment};
use tessera_auth::gate::PasswordGate;
use tessera_auth::lockout::LockoutPolicy;
use tessera_auth::session::{SessionPolicy, Sessions};
use tessera_auth::totp;
use tessera_core::policy::{AuthnContext, Factor};
use tessera_core::{Actor, Clock, ManualClock, NewUser, User};
use tessera_keys::Secrets;
use tessera_store::memory::MemoryStore;
use tessera_store::{AuditQuery, AuditStore, UserStore};

const MINUTE: i64 = 60_000;
const PASSWORD: &str = "correct horse battery";

struct World {
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    keys: Secrets,
    gate: PasswordGate,
    alice: User,
}

impl World {
    async fn new() -> World {
        let clock = Arc::new(ManualClock::at(1_800_000_000_000));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let keys = Secrets::open(&*store, &[7u8; 32]).await.unwrap();
        let mut new = NewUser::new("alice@contoso.com", None, None, None, None, || "aWQ=".into()).unwrap();
        new.password_hash = Some(tessera_auth::password::hash_password(PASSWORD).unwrap());
        let alice = store.create_user(&Actor::system(), new).await.unwrap();
        World { store, clock, keys, gate: PasswordGate::default(), alice }
    }

    fn sessions<'a>(&'a self, policy: &'a SessionPolicy) -> Sessions<'a, MemoryStore> {
        Sessions { store: &*self.store, clock: &*self.clock, policy }
    }

    fn authenticator<'a>(&'a self, lockout: &'a LockoutPolicy) -> Authenticator<'a, MemoryStore> {
        Authenticator {
            store: &*self.store,
            clock: &*self.clock,
            lockout,
            secrets: &self.keys,
            gate: &self.gate,
            trace: None,
            directory: None,
            passkeys_usable: false,
        }
    }

    async fn audit_reasons(&self, action: &str) -> Vec<String> {
        let events = self.store.list_audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
        events
            .into_iter()
            .filter(|e| e.action == action)
            .map(|e| e.summary["reason"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn from(ip: &str) -> ClientAddresses {
    ClientAddresses::direct(ip.parse().unwrap())
}

fn accepted(outcome: &PasswordOutcome) -> bool {
    matches!(outcome, PasswordOutcome::Accepted(_))
}

#[tokio::test]
async fn a_session_ends_after_its_idle_time_counted_from_its_last_use() {
    let world = World::new().await;
    let policy = SessionPolicy { idle_timeout_ms: 10 * MINUTE, absolute_timeout_ms: 600 * MINUTE };
    let sessions = world.sessions(&policy);
    let authn = AuthnContext::default().with(Factor::Password, world.clock.now_millis());
    let made = sessions.establish(None, &world.alice, authn, true, None).await.unwrap();

    world.clock.advance(9 * MINUTE);
    assert!(sessions.current(&made.id).await.unwrap().is_some(), "used after 9 idle minutes");
    world.clock.advance(9 * MINUTE);
    assert!(sessions.current(&made.id).await.unwrap().is_some(), "idle time counts from the last use");
    world.clock.advance(10 * MINUTE - 1);
    assert!(sessions.current(&made.id).await.unwrap().is_some(), "a millisecond short of the idle timeout");
    world.clock.advance(10 * MINUTE);
    assert!(sessions.current(&made.id).await.unwrap().is_none(), "idle for the whole timeout");
    world.clock.set(world.clock.now_millis() - 10 * MINUTE);
    assert!(sessions.current(&made.id).await.unwrap().is_none(), "an ended session is gone, not merely late");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_timeout_however_busy_and_a_step_up_keeps_its_start() {
    let world = World::new().await;
    let policy = SessionPolicy { idle_timeout_ms: 10 * MINUTE, absolute_timeout_ms: 60 * MINUTE };
    let sessions = world.sessions(&policy);
    let started = world.clock.now_millis();
    let authn = AuthnContext::default().with(Factor::Password, started);
    let half = sessions.establish(None, &world.alice, authn, false, None).await.unwrap();
    world.clock.advance(5 * MINUTE);
    let current = sessions.current(&half.id).await.unwrap().unwrap();
    let full = sessions.step_up(&half.id, &current, Factor::Totp).await.unwrap();
    assert!(sessions.current(&half.id).await.unwrap().is_none(), "a step up gives a new id; the old one is dead");
    assert_eq!(full.session.created_at, started, "the absolute timeout counts from the sign-in, not the step up");
    assert!(full.session.complete && full.session.authn.mfa_done());

    for _ in 0..10 {
        world.clock.advance(5 * MINUTE);
        assert!(sessions.current(&full.id).await.unwrap().is_some());
    }
    world.clock.set(started + 60 * MINUTE - 1);
    assert!(sessions.current(&full.id).await.unwrap().is_some());
    world.clock.set(started + 60 * MINUTE);
    assert!(sessions.current(&full.id).await.unwrap().is_none(), "busy, but at the absolute timeout");
}

#[tokio::test]
async fn a_locked_out_user_gets_one_attempt_per_observation_window() {
    let world = World::new().await;
    let lockout = LockoutPolicy {
        unknown_threshold: 3,
        familiar_threshold: 3,
        observation_window_ms: 30 * MINUTE,
        ..LockoutPolicy::default()
    };
    let auth = world.authenticator(&lockout);
    let stranger = from("203.0.113.9");
    for _ in 0..3 {
        assert!(matches!(
            auth.check_password(&stranger, "alice@contoso.com", "wrong password", "login").await.unwrap(),
            PasswordOutcome::Failed
        ));
    }
    world.clock.advance(30 * MINUTE - 1);
    let locked = auth.check_password(&stranger, "alice@contoso.com", PASSWORD, "login").await.unwrap();
    assert!(matches!(locked, PasswordOutcome::Failed), "locked: even the right password is not checked");
    assert_eq!(world.audit_reasons("signin.failure").await.last().unwrap(), "locked_out");

    world.clock.advance(30 * MINUTE);
    let wrong = auth.check_password(&stranger, "alice@contoso.com", "wrong again", "login").await.unwrap();
    assert!(matches!(wrong, PasswordOutcome::Failed), "the window's one attempt, used up by a wrong password");
    assert_eq!(world.audit_reasons("signin.failure").await.last().unwrap(), "wrong_password");
    let locked = auth.check_password(&stranger, "alice@contoso.com", PASSWORD, "login").await.unwrap();
    assert!(!accepted(&locked), "the window restarts with that failure");

    world.clock.advance(30 * MINUTE);
    let right = auth.check_password(&stranger, "alice@contoso.com", PASSWORD, "login").await.unwrap();
    assert!(accepted(&right), "one attempt after a quiet window, and it was right");
    assert!(accepted(&auth.check_password(&stranger, "alice@contoso.com", PASSWORD, "login").await.unwrap()));
}

#[tokio::test]
async fn spraying_is_throttled_for_the_spray_window_only() {
    let world = World::new().await;
    let lockout = LockoutPolicy { spray_names: 4, spray_window_ms: 10 * MINUTE, ..LockoutPolicy::default() };
    let auth = world.authenticator(&lockout);
    let sprayer = from("2001:db8:1:2::7");
    for n in 0..4 {
        let name = format!("user{n}@contoso.com");
        assert!(matches!(
            auth.check_password(&sprayer, &name, "Spring2026!", "login").await.unwrap(),
            PasswordOutcome::Failed
        ));
    }
    let neighbour = from("2001:db8:1:2::8");
    assert!(
        matches!(
            auth.check_password(&neighbour, "alice@contoso.com", PASSWORD, "login").await.unwrap(),
            PasswordOutcome::Throttled
        ),
        "the same /64 is the same sprayer"
    );
    world.clock.advance(10 * MINUTE + 1);
    assert!(accepted(&auth.check_password(&neighbour, "alice@contoso.com", PASSWORD, "login").await.unwrap()));
}

#[tokio::test]
async fn a_name_that_is_no_ones_is_kept_only_as_a_keyed_pseudonym() {
    let world = World::new().await;
    let lockout = LockoutPolicy::default();
    let auth = world.authenticator(&lockout);
    // A password typed into the name field, twice, and once with other letter case.
    for name in ["Hunter2-Secret!", "Hunter2-Secret!", "HUNTER2-SECRET!"] {
        let outcome = auth.check_password(&from("10.0.0.9"), name, "whatever-password", "login").await.unwrap();
        assert!(matches!(outcome, PasswordOutcome::Failed));
    }
    let events = world.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let failures: Vec<_> = events.iter().filter(|e| e.action == "signin.failure").collect();
    assert_eq!(failures.len(), 3);
    let everything = serde_json::to_string(&events).unwrap().to_lowercase();
    assert!(!everything.contains("hunter2"), "the typed name is nowhere in the trail: {everything}");
    let pseudonyms: Vec<&str> = failures.iter().map(|e| e.summary["username_pseudonym"].as_str().unwrap()).collect();
    assert!(
        pseudonyms.iter().all(|p| p.len() == 32 && *p == pseudonyms[0]),
        "attempts still correlate: {pseudonyms:?}"
    );
    assert_eq!(failures[0].target_id, format!("name:{}", pseudonyms[0]));
    // Keyed: not the plain digest of the name, and another master key gives another one.
    assert_ne!(pseudonyms[0], &tessera_auth::secret::sha256_hex("hunter2-secret!")[..32]);
    let other = Secrets::open(&*world.store, &[7u8; 32]).await.unwrap();
    assert_eq!(other.pseudonym("signin-name", "hunter2-secret!"), pseudonyms[0]);
    let elsewhere = MemoryStore::new(world.clock.clone());
    let another_key = Secrets::open(&elsewhere, &[8u8; 32]).await.unwrap();
    assert_ne!(another_key.pseudonym("signin-name", "hunter2-secret!"), pseudonyms[0]);
    // A known user's failure still names the user.
    auth.check_password(&from("10.0.0.9"), "alice@contoso.com", "wrong password!", "login").await.unwrap();
    let events = world.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let known = events.iter().rfind(|e| e.action == "signin.failure").unwrap();
    assert_eq!(known.target_id, world.alice.id.to_string());
}

#[tokio::test]
async fn a_password_check_refused_as_busy_writes_nothing() {
    use std::time::Duration;
    use tessera_auth::gate::GateLimits;
    let world = World::new().await;
    let lockout = LockoutPolicy::default();
    let gate = PasswordGate::new(GateLimits { concurrent: 1, ahead: 0, queue: 0, wait: Duration::from_millis(10) });
    let auth = Authenticator {
        store: &*world.store,
        clock: &*world.clock,
        lockout: &lockout,
        secrets: &world.keys,
        gate: &gate,
        trace: None,
        directory: None,
        passkeys_usable: false,
    };
    let before = world.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap().len();
    let taken = gate.turn().await.unwrap();
    let busy = auth.check_password(&from("10.0.0.9"), "alice@contoso.com", "wrong password!", "login").await;
    assert!(matches!(busy, Err(tessera_auth::AuthError::Busy { retry_after_secs: 2 })), "{busy:?}");
    let after = world.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap().len();
    assert_eq!(before, after, "no failure recorded");
    drop(taken);
    assert!(accepted(&auth.check_password(&from("10.0.0.9"), "alice@contoso.com", PASSWORD, "login").await.unwrap()));
}

#[tokio::test]
async fn second_factor_codes_are_counted_apart_and_each_step_is_good_once() {
    let world = World::new().await;
    let lockout =
        LockoutPolicy { unknown_threshold: 3, observation_window_ms: 30 * MINUTE, ..LockoutPolicy::default() };
    let enroller = Enroller { store: &*world.store, clock: &*world.clock, secrets: &world.keys };
    let Enrolment::Started { secret } = enroller.start(world.alice.id).await.unwrap() else { panic!("not started") };
    let code_now =
        |clock: &ManualClock| format!("{:06}", totp::code_at(&secret, totp::step_at(clock.now_millis() / 1000)));
    assert!(matches!(enroller.confirm(world.alice.id, "000000x").await.unwrap(), Confirmation::WrongCode { .. }));
    let Confirmation::Enrolled { recovery_codes } =
        enroller.confirm(world.alice.id, &code_now(&world.clock)).await.unwrap()
    else {
        panic!("not enrolled")
    };
    assert_eq!(recovery_codes.len(), 10);
    assert!(matches!(enroller.start(world.alice.id).await.unwrap(), Enrolment::AlreadyEnrolled));

    let auth = world.authenticator(&lockout);
    let home = from("10.0.0.1");
    let password = auth.check_password(&home, "alice@contoso.com", PASSWORD, "login").await.unwrap();
    let PasswordOutcome::Accepted(accepted) = password else { panic!("password refused") };
    assert!(accepted.has_second_factor);

    let check = |code: String| {
        let auth = world.authenticator(&lockout);
        let user = world.alice.id;
        let home = home.clone();
        async move { auth.check_second_factor(user, &home, &code).await.unwrap() }
    };
    world.clock.advance(30_000);
    assert_eq!(check(code_now(&world.clock)).await, CodeOutcome::Accepted(Factor::Totp));
    assert_eq!(check(code_now(&world.clock)).await, CodeOutcome::Refused, "the same time step twice");
    for _ in 0..3 {
        assert_eq!(check("123456".into()).await, CodeOutcome::Refused);
    }
    world.clock.advance(60_000);
    assert_eq!(check(code_now(&world.clock)).await, CodeOutcome::Refused, "locked: a right code is not checked");
    assert_eq!(world.audit_reasons("signin.mfa_failure").await.last().unwrap(), "locked_out");
    world.clock.advance(30 * MINUTE);
    assert_eq!(check(code_now(&world.clock)).await, CodeOutcome::Accepted(Factor::Totp), "after the window");
    assert_eq!(check(recovery_codes[0].clone()).await, CodeOutcome::Accepted(Factor::RecoveryCode));
    assert_eq!(check(recovery_codes[0].clone()).await, CodeOutcome::Refused, "a recovery code is good once");
}

/// A directory that answers every password with one verdict.
struct Directory(tessera_auth::directory::DirectoryVerdict);

#[async_trait::async_trait]
impl tessera_auth::directory::DirectoryPasswords for Directory {
    async fn check(&self, _user: &User, _password: &str) -> Option<tessera_auth::directory::DirectoryVerdict> {
        Some(self.0)
    }
}

/// A directory that keeps no password of this user's, asked while another sign-in takes the
/// gate's only turn (held for a moment, as a verification would).
struct NotMine(PasswordGate);

#[async_trait::async_trait]
impl tessera_auth::directory::DirectoryPasswords for NotMine {
    async fn check(&self, _user: &User, _password: &str) -> Option<tessera_auth::directory::DirectoryVerdict> {
        let other = self.0.turn().await.ok()?;
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            drop(other);
        });
        None
    }
}

#[tokio::test]
async fn a_sign_in_counted_while_its_directory_was_asked_is_not_then_refused_as_busy() {
    use std::time::Duration;
    use tessera_auth::gate::GateLimits;
    let world = World::new().await;
    // No password of Tessera's: the directory is asked, and the turn given back meanwhile.
    let new = NewUser::new("dan@corp.test", None, None, None, None, || "ZGFu".into()).unwrap();
    world.store.create_user(&Actor::system(), new).await.unwrap();
    let lockout = LockoutPolicy::default();
    let gate = PasswordGate::new(GateLimits { concurrent: 1, ahead: 0, queue: 0, wait: Duration::from_millis(1) });
    let directory = NotMine(gate.clone());
    let mut authenticator = world.authenticator(&lockout);
    authenticator.gate = &gate;
    authenticator.directory = Some(&directory);
    let outcome = authenticator.check_password(&from("10.0.0.1"), "dan@corp.test", "pw", "login").await;
    // Its attempt was counted before the directory was asked: it waits for the turn in use
    // and fails as a wrong password would, with its record; never a busy answer now.
    assert!(matches!(outcome, Ok(PasswordOutcome::Failed)), "{outcome:?}");
    let events = world.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert!(events.iter().any(|e| e.action == "signin.failure"), "{events:?}");
}

#[tokio::test]
async fn a_directory_password_to_change_is_told_apart_only_for_an_active_user() {
    use tessera_auth::directory::DirectoryVerdict;
    let world = World::new().await;
    let new = NewUser::new("dan@corp.test", None, None, None, None, || "ZGFu".into()).unwrap();
    let dan = world.store.create_user(&Actor::system(), new).await.unwrap();
    let lockout = LockoutPolicy::default();
    for (verdict, expected) in [
        (DirectoryVerdict::Expired, "change"),
        (DirectoryVerdict::MustChange, "change"),
        (DirectoryVerdict::Wrong, "failed"),
        (DirectoryVerdict::Locked, "failed"),
        (DirectoryVerdict::Disabled, "failed"),
    ] {
        let directory = Directory(verdict);
        let mut authenticator = world.authenticator(&lockout);
        authenticator.directory = Some(&directory);
        let outcome = authenticator.check_password(&from("10.0.0.1"), "dan@corp.test", "pw", "login").await.unwrap();
        let got = match outcome {
            PasswordOutcome::ChangeAtSource(_) => "change",
            PasswordOutcome::Failed => "failed",
            _ => "other",
        };
        assert_eq!(got, expected, "{verdict:?}");
    }
    // A directory that does not answer counts against nobody: twenty tries, then the right
    // password still works.
    let down = Directory(DirectoryVerdict::Unavailable);
    for n in 0..20 {
        let mut authenticator = world.authenticator(&lockout);
        authenticator.directory = Some(&down);
        let outcome =
            authenticator.check_password(&from(&format!("10.0.1.{n}")), "dan@corp.test", "pw", "login").await.unwrap();
        assert!(matches!(outcome, PasswordOutcome::Failed));
    }
    let up = Directory(DirectoryVerdict::Right);
    let mut authenticator = world.authenticator(&lockout);
    authenticator.directory = Some(&up);
    let outcome = authenticator.check_password(&from("10.0.1.99"), "dan@corp.test", "pw", "login").await.unwrap();
    assert!(accepted(&outcome), "not locked out by an outage");

    // Suspended in Tessera: the one failure, whatever the directory says.
    world.store.set_user_state(&Actor::system(), dan.id, tessera_core::UserState::Suspended).await.unwrap();
    let directory = Directory(DirectoryVerdict::Expired);
    let mut authenticator = world.authenticator(&lockout);
    authenticator.directory = Some(&directory);
    let outcome = authenticator.check_password(&from("10.0.0.2"), "dan@corp.test", "pw", "login").await.unwrap();
    assert!(matches!(outcome, PasswordOutcome::Failed));
    let reasons = world.audit_reasons("signin.failure").await;
    assert!(
        reasons.contains(&"directory_password_expired".to_string()) && reasons.contains(&"suspended".to_string()),
        "{reasons:?}"
    );
}
