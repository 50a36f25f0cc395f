//! What every handler receives: the store as the roles sign-on uses, the clock, the keys, the
//! admin service (every administrative change), and the sign-in settings.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tessera_admin::AdminService;
use tessera_auth::account::Account;
use tessera_auth::admin::AdminSignIn;
use tessera_auth::authenticate::Authenticator;
use tessera_auth::enrol::Enroller;
use tessera_auth::gate::PasswordGate;
use tessera_auth::lockout::LockoutPolicy;
use tessera_auth::passkey::RelyingParty;
use tessera_auth::session::{SessionPolicy, Sessions};
use tessera_core::Clock;
use tessera_core::policy::Cidr;
use tessera_keys::KeyService;
use tessera_store::{
    AppStore, AuditLog, AuditStore, GrantStore, MfaStore, ParkingStore, PasskeyStore, ReplayStore, Store,
};

/// Sign-in settings; the defaults suit most organizations.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    pub session: SessionPolicy,
    /// How long a parked protocol request waits for its user to sign in.
    pub parked_ttl_ms: i64,
    pub lockout: LockoutPolicy,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// How far a protocol message's IssueInstant may be from our clock (SECURITY.md §1.4).
    pub clock_skew_ms: i64,
    /// Bounds the password verifications running at once.
    pub password_gate: PasswordGate,
    /// How long admin portal sessions live: shorter than users', since they can change
    /// everything.
    pub admin_session: SessionPolicy,
    /// Administrators must show a second factor (`serve --admin-mfa required`).
    pub admin_mfa_required: bool,
    /// The authenticator models (AAGUIDs) passkeys may be enrolled with; empty: any.
    pub passkey_models: Vec<[u8; 16]>,
    /// The organization's own networks (`serve --intranet`): Windows integrated sign-in is
    /// offered to clients there.
    pub intranet: Vec<Cidr>,
    /// Windows integrated sign-in (`serve --kerberos-keytab`): the service's Kerberos acceptor.
    pub kerberos: Option<Arc<tessera_auth::kerberos::KerberosAcceptor>>,
}

impl SignInConfig {
    /// Whether `client` is on one of the organization's own networks; `None` where none are
    /// configured (nothing is said then).
    pub fn inside_corporate_network(&self, client: std::net::IpAddr) -> Option<bool> {
        (!self.intranet.is_empty()).then(|| self.intranet.iter().any(|network| network.contains(client)))
    }
}

impl Default for SignInConfig {
    fn default() -> Self {
        SignInConfig {
            session: SessionPolicy::default(),
            parked_ttl_ms: 10 * 60 * 1000,
            lockout: LockoutPolicy::default(),
            trusted_proxies: Vec::new(),
            clock_skew_ms: 5 * 60 * 1000,
            password_gate: PasswordGate::default(),
            admin_session: SessionPolicy { idle_timeout_ms: 30 * 60 * 1000, absolute_timeout_ms: 8 * 60 * 60 * 1000 },
            admin_mfa_required: false,
            passkey_models: Vec::new(),
            intranet: Vec::new(),
            kerberos: None,
        }
    }
}

/// What every handler receives: one reference-counted pointer, because axum clones the state
/// for every request and every middleware that takes it (a dozen `Arc`s and two `String`s
/// each time cost about 2 % of a sign-on's CPU; bench/README.md "Where the time goes").
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Clone)]
pub struct SharedState {
    /// Applications, as sign-on finds them.
    pub apps: Arc<dyn AppStore>,
    /// Who may use which application.
    pub access: Arc<dyn GrantStore>,
    /// Sign-in decisions for the audit trail.
    pub audit: Arc<dyn AuditLog>,
    /// Protocol message IDs seen.
    pub replay: Arc<dyn ReplayStore>,
    /// Requests waiting for their browser's user to sign in.
    pub parking: Arc<dyn ParkingStore>,
    /// Tokens kept while sign-in tracing is on.
    pub traces: Arc<dyn AuditStore>,
    /// Whether a user has a second factor, for the portal's account page.
    pub second_factors: Arc<dyn MfaStore>,
    /// Users' passkeys, for the account page.
    pub passkeys: Arc<dyn PasskeyStore>,
    /// Tessera as a WebAuthn relying party; `None` where the public URL cannot be one (an IP
    /// address, or http beyond localhost): then passkeys are not offered.
    pub relying_party: Option<Arc<RelyingParty>>,
    /// Every role, only for the sign-in procedures built below (each takes the roles it needs)
    /// and the readiness check: handlers reach the store through the roles above, and change it
    /// only through `admin`.
    store: Arc<dyn Store>,
    /// Where "now" comes from, for every rule and every record.
    pub clock: Arc<dyn Clock>,
    /// The base of every URL Tessera publishes (no trailing slash).
    pub public_url: String,
    pub keys: Arc<KeyService>,
    /// Asks directory sources about their users' passwords.
    pass_through: Arc<crate::signin::pass_through::PassThrough>,
    pub admin: AdminService,
    pub signin: SignInConfig,
    pub metrics: Option<PrometheusHandle>,
    /// Whether sign-ins keep their tokens now (`sign_on::tokens`).
    pub tracing: Arc<crate::sign_on::tracing_cache::TracingCache>,
    /// The organization's brand, as pages show it.
    pub brand: Arc<crate::ui::brand::BrandCache>,
    /// Open while the database is down: requests answered at once.
    pub breaker: Arc<crate::breaker::StoreBreaker>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        keys: Arc<KeyService>,
        public_url: &str,
        signin: SignInConfig,
        metrics: Option<PrometheusHandle>,
    ) -> Result<AppState, tessera_admin::AdminError> {
        let admin = AdminService::new(store.clone(), keys.clone(), public_url, clock.clone())?;
        Ok(AppState(Arc::new(SharedState {
            apps: store.clone(),
            access: store.clone(),
            audit: store.clone(),
            replay: store.clone(),
            parking: store.clone(),
            traces: store.clone(),
            pass_through: Arc::new(crate::signin::pass_through::PassThrough {
                store: store.clone(),
                keys: keys.clone(),
            }),
            second_factors: store.clone(),
            passkeys: store.clone(),
            relying_party: RelyingParty::for_public_url(admin.public_url(), "Tessera")
                .ok()
                .map(|rp| Arc::new(rp.allowing_models(&signin.passkey_models))),
            store,
            clock,
            public_url: admin.public_url().to_string(),
            keys,
            admin,
            signin,
            metrics,
            tracing: Arc::default(),
            brand: Arc::default(),
            breaker: Arc::default(),
        })))
    }

    /// The state with its admin service changed (at start-up, before it is shared).
    pub fn with_admin(self, change: impl FnOnce(AdminService) -> AdminService) -> AppState {
        let mut parts = Arc::unwrap_or_clone(self.0);
        parts.admin = change(parts.admin);
        AppState(Arc::new(parts))
    }
}

impl SharedState {
    /// Whether the store answers, and by how many milliseconds this node's clock is ahead of
    /// the database server's (behind: negative), where the database has a clock of its own.
    pub async fn store_answers(&self) -> Result<Option<i64>, tessera_store::StoreError> {
        self.store.ping().await
    }

    /// Users' sign-in sessions.
    pub fn sessions(&self) -> Sessions<'_, dyn Store> {
        Sessions { store: &*self.store, clock: &*self.clock, policy: &self.signin.session }
    }

    /// Second-factor enrolment.
    pub fn enroller(&self) -> Enroller<'_, dyn Store> {
        Enroller { store: &*self.store, clock: &*self.clock, secrets: self.keys.secrets() }
    }

    /// The admin portal's sign-in and sessions.
    pub fn admin_sign_in(&self) -> AdminSignIn<'_, dyn Store> {
        AdminSignIn {
            store: &*self.store,
            clock: &*self.clock,
            lockout: &self.signin.lockout,
            secrets: self.keys.secrets(),
            gate: &self.signin.password_gate,
            sessions: &self.signin.admin_session,
            mfa_required: self.signin.admin_mfa_required,
            passkeys_usable: self.relying_party.is_some(),
        }
    }

    /// A user's own account changes.
    pub fn account(&self) -> Account<'_, dyn Store> {
        Account { authenticator: self.authenticator() }
    }

    /// The name of the directory source that keeps `user`'s password (pass-through), if one does.
    pub async fn password_keeper(&self, user: &tessera_core::User) -> Option<String> {
        use tessera_auth::directory::DirectoryPasswords;
        self.pass_through.keeper(user).await
    }

    /// AD FS's password-expiry claims for a token of `user`'s, who signed in as `authn` says: only
    /// after a password (a Windows or passkey sign-in shows none the user could act on), only for
    /// a user whose password a directory source keeps, asked of it now; `passwordchangeurl` is
    /// the account page, whose password form changes it there.
    pub async fn password_expiry_claims(
        &self,
        user: &tessera_core::User,
        authn: &tessera_core::policy::AuthnContext,
    ) -> Vec<tessera_protocols::saml11::Claim> {
        use tessera_auth::directory::DirectoryPasswords;
        if !authn.password_done() {
            return Vec::new();
        }
        // One bound on the whole lookup, however many of the source's servers are tried.
        let asked = tokio::time::timeout(std::time::Duration::from_secs(5), self.pass_through.password_expiry(user));
        let Ok(Some(expires_at)) = asked.await else { return Vec::new() };
        let change_url = format!("{}/account", self.public_url.trim_end_matches('/'));
        tessera_protocols::saml11::password_expiry_claims(expires_at, self.clock.now_millis(), &change_url)
    }

    /// Who a Kerberos principal is, as the directory sources know them.
    pub fn principals(&self) -> &dyn tessera_auth::kerberos::PrincipalDirectory {
        &*self.pass_through
    }

    /// The sign-in checks, as every channel runs them.
    pub fn authenticator(&self) -> Authenticator<'_, dyn Store> {
        Authenticator {
            store: &*self.store,
            clock: &*self.clock,
            lockout: &self.signin.lockout,
            secrets: self.keys.secrets(),
            gate: &self.signin.password_gate,
            trace: None,
            directory: Some(&*self.pass_through),
            passkeys_usable: self.relying_party.is_some(),
        }
    }
}
