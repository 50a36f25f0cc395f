//! The admin service's use cases, once: what each writes (with its audit row and actor), and that
//! bad input is refused with the field at fault and writes nothing. The CLI and the REST API only
//! parse and render around these. No database runs: the store is the in-memory one, held to the
//! same conformance tests as SQLite and PostgreSQL (the CLI's and the API's tests run these use
//! cases end to end on a real database).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tessera_admin::{
    AdminError, AdminService, AppSpec, AuditRequest, KeyOptions, KeySource, MetadataProtocol, NewApp, NewUserRequest,
    PolicyChange,
};
use tessera_core::app::SettingsChange;
use tessera_core::policy::MfaRequirement;
use tessera_core::{AccessDecision, Actor, AppKind, Clock, DenyReason, ManualClock, UserState};
use tessera_keys::KeyService;
use tessera_store::memory::MemoryStore;
use tessera_store::{AuditQuery, PageRequest, Store, StoreError};

const PUBLIC: &str = "https://idp.contoso.com";

/// A key source that counts whether anyone asked for keys, and can refuse like a wrong master key.
struct WatchedKeys {
    service: KeyService,
    asked: AtomicBool,
    refuse: AtomicBool,
}

#[async_trait]
impl KeySource for WatchedKeys {
    async fn key_service(&self) -> Result<&KeyService, AdminError> {
        self.asked.store(true, Ordering::SeqCst);
        if self.refuse.load(Ordering::SeqCst) {
            return Err(AdminError::KeysUnavailable("the master key does not match this database".into()));
        }
        Ok(&self.service)
    }
}

struct World {
    admin: AdminService,
    store: Arc<dyn Store>,
    keys: Arc<WatchedKeys>,
    actor: Actor,
}

impl World {
    async fn new() -> World {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(1_800_000_000_000));
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
        let service = KeyService::open(store.clone(), &[5u8; 32], clock.clone()).await.unwrap();
        let keys = Arc::new(WatchedKeys { service, asked: AtomicBool::new(false), refuse: AtomicBool::new(false) });
        let admin = AdminService::new(store.clone(), keys.clone(), PUBLIC, clock).unwrap();
        World { admin, store, keys, actor: Actor::cli("tester") }
    }

    async fn audit(&self) -> Vec<tessera_core::AuditEvent> {
        self.store.list_audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap()
    }

    async fn m365(&self, domain: &str) -> tessera_core::Application {
        let spec = AppSpec::M365 { domain: domain.into(), idp_path: None };
        self.admin.create_app(&self.actor, app(spec, None)).await.unwrap()
    }
}

fn app(spec: AppSpec, label: Option<&str>) -> NewApp {
    NewApp {
        spec,
        label: label.map(str::to_string),
        description: None,
        portal_image: None,
        show_in_portal: true,
        settings: SettingsChange::default(),
        key: KeyOptions::default(),
    }
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(path)).unwrap()
}

fn field(error: AdminError) -> String {
    match error {
        AdminError::Invalid { field, .. } => field,
        other => panic!("not a refusal of a field: {other:?}"),
    }
}

#[tokio::test]
async fn each_kind_is_created_with_what_it_needs_and_audited_with_its_actor() {
    let world = World::new().await;
    let m365 = world.m365("Contoso.com").await;
    assert_eq!(m365.label, "Microsoft 365 (contoso.com)", "a connector is named after its domain by default");
    assert_eq!(m365.issuer.as_deref(), Some("https://idp.contoso.com/m365/contoso.com"));
    assert!(m365.certificates.current.is_some(), "an app that signs gets its key at once");

    let saml = world
        .admin
        .create_app(&world.actor, app(AppSpec::Saml { sp_metadata: fixture("saml/sp-metadata.xml") }, Some("Wiki")))
        .await
        .unwrap();
    assert!(matches!(&saml.kind, AppKind::Saml(sp) if sp.entity_id == "https://sp.example.com/saml/metadata"));

    let wsfed = AppSpec::WsFed { realm: "urn:contoso:hr".into(), reply_urls: vec!["https://hr.contoso.com/".into()] };
    let wsfed = world.admin.create_app(&world.actor, app(wsfed, Some("HR"))).await.unwrap();
    assert!(wsfed.certificates.current.is_some());

    world.keys.asked.store(false, Ordering::SeqCst);
    let bookmark = AppSpec::Bookmark { url: "https://intranet.contoso.com/".into() };
    let bookmark = world.admin.create_app(&world.actor, app(bookmark, Some("Intranet"))).await.unwrap();
    assert!(bookmark.certificates.current.is_none());
    assert!(!world.keys.asked.load(Ordering::SeqCst), "a bookmark never needs the master key");

    let created: Vec<_> = world.audit().await.into_iter().filter(|e| e.action == "app.create").collect();
    assert_eq!(created.len(), 4);
    assert!(created.iter().all(|e| e.actor == "cli:tester"));
    assert_eq!(world.admin.list_apps(&PageRequest::first(10)).await.unwrap().items.len(), 4);
}

#[tokio::test]
async fn bad_applications_are_refused_by_field_and_write_nothing() {
    let world = World::new().await;
    world.m365("contoso.com").await;
    let before = world.audit().await.len();
    let bookmark = |url: &str| AppSpec::Bookmark { url: url.into() };
    let cases: Vec<(NewApp, &str)> = vec![
        (app(bookmark("https://x.example/"), None), "label"),
        (app(bookmark("javascript:alert(1)"), Some("X")), "url"),
        (
            NewApp {
                settings: SettingsChange { login_url: Some("https://x.example/".into()), ..Default::default() },
                ..app(bookmark("https://x.example/"), Some("X"))
            },
            "settings",
        ),
        (app(AppSpec::Saml { sp_metadata: fixture("saml/sp-metadata-doctype.xml") }, Some("SP")), "sp_metadata"),
        (app(AppSpec::Saml { sp_metadata: b"<x".to_vec() }, Some("SP")), "sp_metadata"),
        (app(AppSpec::WsFed { realm: "urn:x".into(), reply_urls: vec![] }, Some("RP")), "reply_urls"),
        (
            NewApp {
                key: KeyOptions { bits: Some(1024), validity_days: None },
                ..app(AppSpec::M365 { domain: "fabrikam.com".into(), idp_path: None }, None)
            },
            "key",
        ),
        (
            NewApp {
                portal_image: Some(b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec()),
                ..app(bookmark("https://x.example/"), Some("X"))
            },
            "portal_image",
        ),
        (app(AppSpec::M365 { domain: "contoso.onmicrosoft.com".into(), idp_path: None }, None), "domain"),
    ];
    for (new, expected) in cases {
        let refused = world.admin.create_app(&world.actor, new).await.unwrap_err();
        assert_eq!(field(refused), expected);
    }
    let taken = world
        .admin
        .create_app(&world.actor, app(AppSpec::M365 { domain: "CONTOSO.com".into(), idp_path: None }, Some("Other")));
    assert!(matches!(taken.await, Err(AdminError::Store(StoreError::Conflict { .. }))));

    world.keys.refuse.store(true, Ordering::SeqCst);
    let locked = world
        .admin
        .create_app(&world.actor, app(AppSpec::M365 { domain: "fabrikam.com".into(), idp_path: None }, None));
    assert!(matches!(locked.await, Err(AdminError::KeysUnavailable(_))), "a wrong master key stops key commands");
    assert_eq!(world.audit().await.len(), before, "refusals write nothing");
    assert_eq!(world.admin.list_apps(&PageRequest::first(10)).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn settings_and_policy_change_only_what_is_given() {
    let world = World::new().await;
    let app = world.m365("contoso.com").await;
    let id = app.id.to_string();
    let before = world.audit().await.len();
    assert_eq!(
        field(world.admin.change_settings(&world.actor, &id, &SettingsChange::default()).await.unwrap_err()),
        "settings"
    );
    let saml_only = SettingsChange { sign_response: Some(true), ..Default::default() };
    assert_eq!(field(world.admin.change_settings(&world.actor, &id, &saml_only).await.unwrap_err()), "sign_response");
    let nothing = world.admin.set_policy(&world.actor, &id, &PolicyChange::default()).await.unwrap();
    assert_eq!(nothing.policy, app.policy);
    let host_bits = PolicyChange { allowed_networks: Some(vec!["10.1.2.3/8".into()]), ..Default::default() };
    assert_eq!(field(world.admin.set_policy(&world.actor, &id, &host_bits).await.unwrap_err()), "network");
    assert_eq!(world.audit().await.len(), before, "refusals and empty changes write nothing");

    let login = SettingsChange { login_url: Some("https://portal.office.com/".into()), ..Default::default() };
    let changed = world.admin.change_settings(&world.actor, &id, &login).await.unwrap();
    assert!(matches!(&changed.kind, AppKind::M365(c) if c.login_url() == "https://portal.office.com/"));

    let networks = PolicyChange { allowed_networks: Some(vec!["10.0.0.0/8".into()]), ..Default::default() };
    let app = world.admin.set_policy(&world.actor, &id, &networks).await.unwrap();
    let mfa = PolicyChange { require_mfa: Some(MfaRequirement::Yes), ..Default::default() };
    let app2 = world.admin.set_policy(&world.actor, &app.label, &mfa).await.unwrap();
    assert!(app2.policy.require_mfa);
    assert_eq!(app2.policy.allowed_networks, app.policy.allowed_networks, "the networks stay when not given");
    let anywhere = PolicyChange { allowed_networks: Some(vec![]), ..Default::default() };
    assert!(world.admin.set_policy(&world.actor, &id, &anywhere).await.unwrap().policy.allowed_networks.is_empty());
    let strict = PolicyChange {
        require_mfa: Some(MfaRequirement::PhishingResistant),
        passwordless: Some(true),
        ..Default::default()
    };
    let app3 = world.admin.set_policy(&world.actor, &id, &strict).await.unwrap();
    assert_eq!(app3.policy.mfa_requirement(), MfaRequirement::PhishingResistant);
    assert!(app3.policy.require_mfa && app3.policy.passwordless);
    let back = PolicyChange { require_mfa: Some(MfaRequirement::No), ..Default::default() };
    let app4 = world.admin.set_policy(&world.actor, &id, &back).await.unwrap();
    assert!(!app4.policy.require_mfa && !app4.policy.phishing_resistant, "no means neither");
    assert!(app4.policy.passwordless, "what is not given stays");
    let actions: Vec<String> = world.audit().await.into_iter().map(|e| e.action).skip(before).collect();
    assert_eq!(
        actions,
        ["app.update", "app.set_policy", "app.set_policy", "app.set_policy", "app.set_policy", "app.set_policy"]
    );
}

#[tokio::test]
async fn a_policy_only_a_passkey_answers_is_refused_where_browsers_will_not_use_passkeys() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(1_800_000_000_000));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let service = KeyService::open(store.clone(), &[5u8; 32], clock.clone()).await.unwrap();
    let keys = Arc::new(WatchedKeys { service, asked: AtomicBool::new(false), refuse: AtomicBool::new(false) });
    let admin = AdminService::new(store.clone(), keys, "https://10.0.0.5:8443", clock).unwrap();
    let actor = Actor::cli("tester");
    let spec = AppSpec::Bookmark { url: "https://intranet.contoso.com/".into() };
    let app = admin.create_app(&actor, app(spec, Some("Intranet"))).await.unwrap();
    for change in [
        PolicyChange { require_mfa: Some(MfaRequirement::PhishingResistant), ..Default::default() },
        PolicyChange { passwordless: Some(true), ..Default::default() },
    ] {
        let refused = admin.set_policy(&actor, "Intranet", &change).await.unwrap_err().to_string();
        assert!(refused.contains("IP address"), "{refused}");
    }
    assert_eq!(store.find_app("Intranet").await.unwrap().policy, app.policy, "nothing changed");
    let mfa = PolicyChange { require_mfa: Some(MfaRequirement::Yes), ..Default::default() };
    assert!(admin.set_policy(&actor, "Intranet", &mfa).await.unwrap().policy.require_mfa, "a TOTP policy is fine");
}

#[tokio::test]
async fn users_are_denied_until_a_granted_group_holds_them() {
    let world = World::new().await;
    let app = world.m365("contoso.com").await;
    let request = NewUserRequest { email: "alice@contoso.com".into(), ..Default::default() };
    let alice = world.admin.create_user(&world.actor, request).await.unwrap();
    assert_eq!(alice.upn, "alice@contoso.com");
    assert_eq!(alice.immutable_id.len(), 24, "base64 of 16 random bytes");
    let (_, _, decision) = world.admin.check_access(&app.label, "alice@contoso.com").await.unwrap();
    assert_eq!(decision, AccessDecision::Denied(DenyReason::NoGrantedGroup));

    let staff = world.admin.create_group(&world.actor, "Staff", None).await.unwrap();
    assert!(world.admin.add_member(&world.actor, "Staff", "alice@contoso.com").await.unwrap().2);
    assert!(!world.admin.add_member(&world.actor, "staff", "ALICE@contoso.com").await.unwrap().2, "already in");
    assert!(world.admin.grant(&world.actor, &app.label, "Staff").await.unwrap().2);
    assert!(!world.admin.grant(&world.actor, &app.label, &staff.id.to_string()).await.unwrap().2, "granted already");
    let (_, _, decision) = world.admin.check_access(&app.id.to_string(), "alice@contoso.com").await.unwrap();
    assert!(decision.is_allowed());
    assert_eq!(world.admin.apps_of_group("Staff").await.unwrap().1.len(), 1);
    assert_eq!(world.admin.granted_groups(&app.label).await.unwrap().1[0].name, "Staff");

    world.admin.set_user_state(&world.actor, "alice@contoso.com", UserState::Suspended).await.unwrap();
    let (_, _, decision) = world.admin.check_access(&app.label, "alice@contoso.com").await.unwrap();
    assert_eq!(decision, AccessDecision::Denied(DenyReason::UserSuspended));

    world.admin.revoke(&world.actor, &app.label, "Staff").await.unwrap();
    assert!(matches!(world.admin.revoke(&world.actor, &app.label, "Staff").await, Err(AdminError::Missing(_))));
    world.admin.remove_member(&world.actor, "Staff", "alice@contoso.com").await.unwrap();
    let not_member = world.admin.remove_member(&world.actor, "Staff", "alice@contoso.com").await;
    assert!(matches!(not_member, Err(AdminError::Missing(m)) if m.contains("not a member")));
    let nobody = world.admin.add_member(&world.actor, "Staff", "nobody@contoso.com").await.unwrap_err();
    assert_eq!(nobody.not_found_kind(), Some("user"));
}

#[tokio::test]
async fn bad_users_are_refused_and_write_nothing() {
    let world = World::new().await;
    world
        .admin
        .create_user(&world.actor, NewUserRequest { email: "bob@contoso.com".into(), ..Default::default() })
        .await
        .unwrap();
    let before = world.audit().await.len();
    let cases = [
        (NewUserRequest { email: "not-an-email".into(), ..Default::default() }, "email"),
        (
            NewUserRequest { email: "c@contoso.com".into(), password: Some("short".into()), ..Default::default() },
            "password",
        ),
        (
            NewUserRequest {
                email: "c@contoso.com".into(),
                immutable_id: Some("has space".into()),
                ..Default::default()
            },
            "immutable_id",
        ),
        (NewUserRequest { email: "c@contoso.com".into(), upn: Some("no".into()), ..Default::default() }, "upn"),
    ];
    for (request, expected) in cases {
        assert_eq!(field(world.admin.create_user(&world.actor, request).await.unwrap_err()), expected);
    }
    let duplicate =
        world.admin.create_user(&world.actor, NewUserRequest { email: "BOB@contoso.com".into(), ..Default::default() });
    assert!(matches!(duplicate.await, Err(AdminError::Store(StoreError::Conflict { field: "email", .. }))));
    let short = world.admin.set_password(&world.actor, "bob@contoso.com", "tab\there!".into()).await.unwrap_err();
    assert_eq!(field(short), "password");
    assert_eq!(world.audit().await.len(), before);

    let bob = world.admin.set_password(&world.actor, "bob@contoso.com", "correct horse battery".into()).await.unwrap();
    let stored = world.admin.find_user(&bob.id.to_string()).await.unwrap();
    assert!(
        tessera_auth::password::verify_password("correct horse battery", stored.password_hash.as_deref().unwrap())
            .unwrap()
    );
    let (_, removed) = world.admin.reset_mfa(&world.actor, "bob@contoso.com").await.unwrap();
    assert!(!removed, "nothing to reset");
    world.admin.delete_user(&world.actor, "bob@contoso.com").await.unwrap();
    assert_eq!(world.admin.find_user("bob@contoso.com").await.unwrap_err().not_found_kind(), Some("user"));
}

#[tokio::test]
async fn keys_rotate_and_deletes_take_the_exact_count() {
    let world = World::new().await;
    let app = world.m365("contoso.com").await;
    let bookmark = AppSpec::Bookmark { url: "https://intranet.contoso.com/".into() };
    let bookmark = world.admin.create_app(&world.actor, app_spec_label(bookmark, "Intranet")).await.unwrap();
    let before = world.audit().await.len();
    let refused = world.admin.rotate_key(&world.actor, "Intranet", KeyOptions::default()).await.unwrap_err();
    assert!(refused.to_string().contains("bookmark"));
    let odd = KeyOptions { bits: Some(1000), validity_days: None };
    assert_eq!(field(world.admin.rotate_key(&world.actor, &app.label, odd).await.unwrap_err()), "key");
    assert_eq!(field(world.admin.delete_apps(&world.actor, &[], 0).await.unwrap_err()), "ids");
    let mismatch = world.admin.delete_apps(&world.actor, &[app.id, bookmark.id], 1).await;
    assert!(matches!(mismatch, Err(AdminError::Store(StoreError::ConfirmCount { .. }))));
    assert_eq!(world.audit().await.len(), before);

    let rotated = world.admin.rotate_key(&world.actor, &app.label, KeyOptions::default()).await.unwrap();
    assert_ne!(rotated.certificates.current, app.certificates.current, "a new certificate, in use at once");
    assert_eq!(world.admin.delete_apps(&world.actor, &[app.id, bookmark.id], 2).await.unwrap(), 2);
    assert!(world.admin.list_apps(&PageRequest::first(10)).await.unwrap().items.is_empty());
}

fn app_spec_label(spec: AppSpec, label: &str) -> NewApp {
    app(spec, Some(label))
}

#[tokio::test]
async fn metadata_and_the_federation_command_come_only_from_apps_that_have_them() {
    let world = World::new().await;
    let app = world.m365("contoso.com").await;
    world
        .admin
        .create_app(&world.actor, app_spec_label(AppSpec::Bookmark { url: "https://b.example/".into() }, "B"))
        .await
        .unwrap();
    let saml = world.admin.metadata(&app.label, MetadataProtocol::Saml).await.unwrap();
    assert!(saml.xml.contains("IDPSSODescriptor") && saml.file_name.ends_with(".xml"));
    let wsfed = world.admin.metadata(&app.label, MetadataProtocol::WsFed).await.unwrap();
    assert!(wsfed.xml.contains("PassiveRequestorEndpoint"));
    assert_eq!(field(world.admin.metadata("B", MetadataProtocol::Saml).await.unwrap_err()), "app");

    let (command, powershell) = world
        .admin
        .federation_command(&app.label, tessera_m365::Protocol::WsFed, tessera_m365::Style::Graph)
        .await
        .unwrap();
    assert_eq!(command.domain, "contoso.com");
    assert!(powershell.contains("New-MgDomainFederationConfiguration"));
    let refused = world.admin.federation_command("B", tessera_m365::Protocol::WsFed, tessera_m365::Style::Graph).await;
    assert!(refused.unwrap_err().to_string().contains("not a Microsoft 365 connector"));

    assert!(tessera_admin::entra_certificate(&fixture("entra/entra-test-sp-metadata.xml")).unwrap().len() > 100);
    let not_entra = tessera_admin::entra_certificate(&fixture("saml/sp-metadata.xml")).unwrap_err();
    assert!(not_entra.to_string().contains("not Entra ID's SP metadata"));
}

#[tokio::test]
async fn api_tokens_act_until_revoked_and_the_first_administrator_is_made_once() {
    let world = World::new().await;
    let (token, secret) =
        world.admin.create_api_token(&world.actor, "robot", &tessera_admin::RoleRequest::default()).await.unwrap();
    assert!(secret.starts_with("tsr_"));
    assert_eq!(
        world.admin.api_token_principal(&secret).await.unwrap(),
        Some((Actor::api_token("robot"), tessera_core::Authority::full()))
    );
    assert_eq!(world.admin.api_token_principal("tsr_guess").await.unwrap(), None);
    world.admin.revoke_api_token(&world.actor, &token.id).await.unwrap();
    assert_eq!(world.admin.api_token_principal(&secret).await.unwrap(), None, "a revoked token acts no more");
    assert!(world.admin.list_api_tokens().await.unwrap()[0].revoked_at.is_some());

    let (name, password) = world.admin.ensure_first_admin().await.unwrap().unwrap();
    assert_eq!((name, password.len()), ("admin", 20));
    assert!(world.admin.ensure_first_admin().await.unwrap().is_none(), "only on a store without administrators");
}

#[tokio::test]
async fn the_audit_trail_is_read_by_time_and_bounded() {
    let world = World::new().await;
    world.m365("contoso.com").await;
    let all = world.admin.audit_events(&AuditRequest { limit: 100, ..Default::default() }).await.unwrap();
    assert!(!all.is_empty());
    let later = AuditRequest { since: Some("2030-01-01T00:00:00Z".into()), limit: 100, ..Default::default() };
    assert!(world.admin.audit_events(&later).await.unwrap().is_empty());
    let bad_time = AuditRequest { since: Some("yesterday".into()), limit: 100, ..Default::default() };
    assert_eq!(field(world.admin.audit_events(&bad_time).await.unwrap_err()), "since");
    let bad_until = AuditRequest { until: Some("2026-13-01T00:00:00Z".into()), limit: 100, ..Default::default() };
    assert_eq!(field(world.admin.audit_events(&bad_until).await.unwrap_err()), "until");
    for action in ["signin", "nothing.", "signin.nope", "'; DROP TABLE audit_events; --"] {
        let bad = AuditRequest { action: Some(action.into()), limit: 100, ..Default::default() };
        assert_eq!(field(world.admin.audit_events(&bad).await.unwrap_err()), "action", "{action}");
    }
    // Filters: by action or a prefix, by application, newest first, a page at a time.
    let created = AuditRequest { action: Some("app.create".into()), limit: 100, ..Default::default() };
    assert_eq!(world.admin.audit_events(&created).await.unwrap().len(), 1);
    let apps =
        AuditRequest { action: Some("app.".into()), app: Some("contoso.com".into()), limit: 100, ..Default::default() };
    let about = world.admin.audit_events(&apps).await;
    assert!(about.is_err() || about.unwrap().iter().all(|e| e.action.starts_with("app.")));
    for name in ["Staff", "Sales"] {
        world.admin.create_group(&world.actor, name, None).await.unwrap();
    }
    let newest = AuditRequest { limit: 2, newest_first: true, ..Default::default() };
    let page = world.admin.audit_events(&newest).await.unwrap();
    assert!(page.len() == 2 && page[0].id > page[1].id);
    let next = AuditRequest { limit: 100, newest_first: true, after: Some(page[1].id), ..Default::default() };
    assert!(world.admin.audit_events(&next).await.unwrap().iter().all(|e| e.id < page[1].id));
    let nobody = AuditRequest { user: Some("nobody@contoso.com".into()), limit: 100, ..Default::default() };
    assert!(world.admin.audit_events(&nobody).await.is_err(), "an unknown user is not found");
    assert_eq!(
        field(world.admin.audit_events(&AuditRequest { limit: 0, ..Default::default() }).await.unwrap_err()),
        "limit"
    );
    assert_eq!(
        field(world.admin.audit_events(&AuditRequest { limit: 10_001, ..Default::default() }).await.unwrap_err()),
        "limit"
    );
}
