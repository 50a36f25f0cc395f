//! The command line, as CONTRACT.md lays it out. Global options are accepted before or after
//! the subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tessera_core::policy::MfaRequirement;

#[derive(Debug, Parser)]
#[command(name = "tessera", version, about = "Tessera: the identity provider for Microsoft 365 and SAML apps")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// SQLite database, master.key and generated files [default: ./tessera-data]
    #[arg(long, global = true, env = "TESSERA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://… for several nodes on one PostgreSQL [default: SQLite in the data dir]
    #[arg(long, global = true, env = "TESSERA_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// TOML configuration file; flags override the environment, which overrides the file
    #[arg(long, global = true, env = "TESSERA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// The base of every URL Tessera publishes [default: the one `serve` last ran with, else http://127.0.0.1:8080]
    #[arg(long, global = true, env = "TESSERA_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Log format on stderr [default: text]
    #[arg(long, global = true, env = "TESSERA_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the identity provider
    Serve(ServeArgs),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage groups and memberships
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage applications and who may use them
    #[command(subcommand)]
    App(AppCommand),
    /// Read the audit trail
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Administrative access (REST API tokens)
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Microsoft 365: federating a domain with a connector
    #[command(subcommand)]
    M365(M365Command),
    /// Directory sources: users from Active Directory or LDAP
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// The organization's brand on the pages users see (name, logo, accent colour, help link)
    #[command(subcommand)]
    Branding(BrandingCommand),
    /// Take a consistent copy of a running SQLite deployment, with a manifest, into one file
    /// (never the master key: keep master.key apart from it)
    Backup {
        /// The backup file to create (refused if it exists)
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restore a backup into an empty data directory (it may hold the master.key kept with the
    /// backup); refuses a newer schema, another master key, or a damaged file
    Restore {
        /// The backup file
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// The database schema's migrations
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// The configuration: every setting, its flag, environment variable and file key
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check, from outside at the public URL, what Entra would find wrong with the Microsoft 365
    /// connectors (TLS, metadata, MEX, a test token, Graph's configuration, the clock,
    /// ImmutableIDs); exit 1 on any failure
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// One connector (id or label) [default: every Microsoft 365 connector]
    pub app: Option<String>,
    /// Ask for a test token for this user (over ECP, as a rich client does) and verify it
    #[arg(long, value_name = "NAME")]
    pub test_user: Option<String>,
    /// Read the test user's password from stdin
    #[arg(long, requires = "test_user", conflicts_with = "client_secret_stdin")]
    pub test_password_stdin: bool,
    /// The test user's password (visible in `ps`: prefer --test-password-stdin)
    #[arg(long, env = "TESSERA_DOCTOR_TEST_PASSWORD", hide_env_values = true, requires = "test_user")]
    pub test_password: Option<String>,
    /// Certificate authorities (PEM) trusted for the public URL besides the system's
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Subcommand)]
pub enum BrandingCommand {
    /// Show the brand
    Show,
    /// Change parts of the brand (each flag given replaces that part; an empty value clears it)
    Set {
        /// The organization's name, as its users know it ("" for Tessera)
        #[arg(long, value_name = "NAME")]
        organization: Option<String>,
        /// Accent colour as #rrggbb, readable on white (contrast at least 4.5:1; "" for the default)
        #[arg(long, value_name = "COLOUR")]
        accent: Option<String>,
        /// Where users get help: an https URL ("" for none)
        #[arg(long, value_name = "URL")]
        help_url: Option<String>,
        /// A logo: PNG, JPEG or WebP, at most 1 MiB (re-encoded as a PNG of at most 400x96)
        #[arg(long, value_name = "FILE", conflicts_with = "remove_logo")]
        logo: Option<PathBuf>,
        /// Remove the logo
        #[arg(long)]
        remove_logo: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration reference (Markdown): every setting and every command's flags
    Reference,
    /// Print a TOML configuration file with every key, commented out at its default
    Example,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// List every migration: applied, pending, or unknown to this binary (from a newer one)
    Status,
    /// Apply the pending migrations now (`serve` also applies them when it starts). On
    /// PostgreSQL only the compatible ones: nodes of the release before keep working
    Run,
    /// Apply every pending migration, the finishing ones too (on PostgreSQL, once every node
    /// runs this release: nodes of the release before stop working)
    Finish,
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Add a directory source (nothing is asked of its servers: `directory test` does)
    #[command(subcommand)]
    Add(DirectoryAdd),
    /// List directory sources
    List,
    /// Show a source's settings (id or name)
    Show { source: String },
    /// Reach every server of the source with its service account; exits 0 only when each
    /// server binds and the base DN is there
    Test { source: String },
    /// Remove a source; its users stay, as local users with their ImmutableID
    Remove { source: String },
    /// Bring the source's users into Tessera: created, updated, suspended when gone or
    /// disabled there (never deleted), reactivated when enabled again
    Sync {
        source: String,
        /// Report what would change; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Link a local user with a source user's UPN to the source (their ImmutableID kept)
        #[arg(long)]
        adopt_by_upn: bool,
        /// Go on even when more than 10% of the source's users would be suspended
        #[arg(long)]
        allow_mass_suspend: bool,
        /// Read every entry in full (by default only those changed since the last sync are,
        /// with a full read at least once a day)
        #[arg(long)]
        full: bool,
    },
    /// Windows integrated sign-in (Kerberos) against an Active Directory source
    #[command(subcommand)]
    Kerberos(KerberosCommand),
}

#[derive(Debug, Subcommand)]
pub enum KerberosCommand {
    /// Check a keytab for HTTP/HOST (the public URL's host) against the source's domain: AES keys,
    /// the service principal on exactly one account, that account's keys at AD's key version.
    /// One line a check; exits 1 when one fails
    Check {
        source: String,
        /// The keytab `serve --kerberos-keytab` is to use
        #[arg(long, value_name = "FILE")]
        keytab: PathBuf,
    },
    /// Register HTTP/HOST (the public URL's host) on a service account of the source's domain, as
    /// `setspn -S` does: refused when another account holds it, nothing done when this one does.
    /// The source's bind account writes it, and needs the right to
    Register {
        source: String,
        /// The service account's logon name (sAMAccountName)
        #[arg(long)]
        account: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryAdd {
    /// An Active Directory or LDAP server
    Ldap(Box<LdapSourceArgs>),
}

#[derive(Debug, clap::Args)]
pub struct LdapSourceArgs {
    #[arg(long)]
    pub name: String,
    /// ldaps://HOST[:PORT], or ldap:// (upgraded with StartTLS); repeat for several servers,
    /// tried in turn
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// The service account Tessera reads the directory as
    #[arg(long)]
    pub bind_dn: String,
    /// Read the service account's password from standard input (one line)
    #[arg(long, required = true)]
    pub bind_password_stdin: bool,
    /// Where users and groups are searched
    #[arg(long)]
    pub base_dn: String,
    #[arg(long, default_value = "ad", value_parser = ["ad", "openldap"])]
    pub kind: String,
    /// PEM file of the CA that issued the servers' certificates (default: the system's CAs)
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Whether users sign in with their directory password (an LDAP bind as the user)
    #[arg(long, default_value = "bind", value_parser = ["bind", "none"])]
    pub authenticate: String,
    /// The filter that finds users (default per kind)
    #[arg(long)]
    pub user_filter: Option<String>,
    /// The filter that finds groups (default per kind)
    #[arg(long)]
    pub group_filter: Option<String>,
    /// Plain ldap:// without StartTLS: passwords in the clear, so only to a loopback address
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// Override a mapping, KEY=ATTRIBUTE: upn, email, first_name, last_name, anchor (in order of
    /// preference, comma-separated), member_of, member, account_control (or `none`)
    #[arg(long = "attribute", value_name = "KEY=ATTRIBUTE")]
    pub attributes: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum M365Command {
    /// The PowerShell that federates the connector's domain (values as `app show --json`)
    Command {
        app: String,
        /// How Entra ID sends users here
        #[arg(long, default_value = "wsfed", value_parser = ["wsfed", "saml"])]
        protocol: String,
        /// Microsoft Graph PowerShell, or the retired MSOnline module
        #[arg(long, default_value = "graph", value_parser = ["graph", "msonline"])]
        style: String,
    },
    /// Read-only checks through Microsoft Graph; exits 0 only when `enable` would succeed
    Preflight {
        #[arg(long)]
        domain: String,
        /// The connector (default: the one Microsoft 365 connector of the domain)
        #[arg(long)]
        app: Option<String>,
        #[command(flatten)]
        graph: GraphArgs,
    },
    /// Federates the domain with its connector through Microsoft Graph, or updates only what
    /// differs; writes nothing when nothing differs
    Enable {
        #[arg(long)]
        domain: String,
        #[arg(long)]
        app: Option<String>,
        /// How Entra ID sends users here
        #[arg(long, default_value = "wsfed", value_parser = ["wsfed", "saml"])]
        protocol: String,
        /// Whether Entra accepts Tessera's MFA (accept), sends users back for it (enforce), or
        /// always asks for its own (reject)
        #[arg(long, default_value = "accept", value_parser = ["accept", "enforce", "reject"])]
        mfa_behavior: String,
        /// Move a domain federated to another identity provider onto Tessera, in place
        #[arg(long)]
        take_over: bool,
        /// Print the changes and write nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        graph: GraphArgs,
    },
    /// The domain as Graph has it and what differs from the connector; without --domain, every
    /// domain of the tenant
    Show {
        #[arg(long)]
        domain: Option<String>,
        #[arg(long)]
        app: Option<String>,
        #[command(flatten)]
        graph: GraphArgs,
    },
    /// Graph credentials kept for the commands above (the secret or key sealed under the
    /// master key)
    #[command(subcommand)]
    Credentials(M365CredentialsCommand),
    /// Returns the domain to Managed (users then need cloud passwords)
    Disable {
        #[arg(long)]
        domain: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        graph: GraphArgs,
    },
    /// Tessera's users of the domain against Entra's: whose ImmutableID matches, and who could
    /// not sign in once the domain is federated
    #[command(group(clap::ArgGroup::new("change").args(["fix", "from_entra"])))]
    Users {
        #[arg(long)]
        domain: String,
        /// Set onPremisesImmutableId where Entra has none (while the domain is Managed) and
        /// create the users Entra lacks
        #[arg(long)]
        fix: bool,
        /// Copy Entra's onPremisesImmutableId into the Tessera user with the same UPN
        #[arg(long)]
        from_entra: bool,
        /// With --fix or --from-entra: report what would change, change nothing
        #[arg(long, requires = "change")]
        dry_run: bool,
        #[command(flatten)]
        graph: GraphArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum M365CredentialsCommand {
    /// Store the tenant, the app registration and its secret or certificate
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        client_id: String,
        /// Read the client secret from one line of standard input
        #[arg(long, required_unless_present = "client_certificate", conflicts_with = "client_certificate")]
        client_secret_stdin: bool,
        /// A PEM file holding the app's certificate and its RSA private key
        #[arg(long, value_name = "FILE")]
        client_certificate: Option<PathBuf>,
    },
    /// The stored tenant, client id and kind of credential (never the secret)
    Show,
    /// Forget the stored credentials
    Delete,
}

/// How Tessera reaches Microsoft Graph, and as which app registration.
#[derive(Debug, Clone, Args)]
pub struct GraphArgs {
    /// The tenant: its id (a GUID) or a verified domain
    #[arg(long, env = "TESSERA_M365_TENANT")]
    pub tenant: Option<String>,
    /// The app registration's application (client) id
    #[arg(long, env = "TESSERA_M365_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The client secret (visible to other users in `ps`: prefer --client-secret-stdin or the
    /// environment)
    #[arg(long, env = "TESSERA_M365_CLIENT_SECRET", hide_env_values = true, conflicts_with_all = ["client_secret_stdin", "client_certificate"])]
    pub client_secret: Option<String>,
    /// Read the client secret from one line of standard input
    #[arg(long, conflicts_with = "client_certificate")]
    pub client_secret_stdin: bool,
    /// A PEM file holding the app's certificate and its RSA private key
    #[arg(long, env = "TESSERA_M365_CLIENT_CERTIFICATE", value_name = "FILE")]
    pub client_certificate: Option<PathBuf>,
    /// Sign in as an administrator on another device (a code to enter at
    /// microsoft.com/devicelogin); --client-id is then a public client [default: Microsoft Graph
    /// Command Line Tools]
    #[arg(long, conflicts_with_all = ["client_secret", "client_secret_stdin", "client_certificate"])]
    pub device_code: bool,
    /// Graph's base URL without a version [default: https://graph.microsoft.com]
    #[arg(long, env = "TESSERA_GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,
    /// The base of Entra's token endpoint [default: https://login.microsoftonline.com]
    #[arg(long, env = "TESSERA_LOGIN_URL", value_name = "URL")]
    pub login_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "TESSERA_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve https with this PEM certificate chain (with --tls-key); SIGHUP reloads it
    #[arg(long, env = "TESSERA_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1)
    #[arg(long, env = "TESSERA_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Whether administrators must sign in with a second factor [default: required when the
    /// public URL is https, optional otherwise]
    #[arg(long, env = "TESSERA_ADMIN_MFA", value_parser = ["required", "optional"], value_name = "WHEN")]
    pub admin_mfa: Option<String>,
    /// Passkeys may be enrolled only with authenticators of this model (its AAGUID, as the
    /// authenticator states it under `direct` attestation, not checked against the vendor's
    /// certificates); repeat for several [default: any]
    #[arg(long = "passkey-model", env = "TESSERA_PASSKEY_MODELS", value_delimiter = ',', value_name = "AAGUID")]
    pub passkey_models: Vec<String>,
    /// A proxy (address or CIDR) whose X-Forwarded-For is believed; repeat for several
    #[arg(long = "trusted-proxy", env = "TESSERA_TRUSTED_PROXIES", value_delimiter = ',', value_name = "CIDR")]
    pub trusted_proxies: Vec<String>,
    /// One of the organization's own networks (address or CIDR): its clients are offered
    /// Windows integrated sign-in (with --kerberos-keytab); repeat for several
    #[arg(long = "intranet", env = "TESSERA_INTRANET", value_delimiter = ',', value_name = "CIDR")]
    pub intranet: Vec<String>,
    /// Windows integrated sign-in (Kerberos) for --intranet clients: the keytab holding the key
    /// of HTTP/HOST, HOST the public URL's (MIT krb5 reads it through KRB5_KTNAME, set from this)
    #[arg(long, env = "TESSERA_KERBEROS_KEYTAB", value_name = "FILE")]
    pub kerberos_keytab: Option<PathBuf>,
    /// Sign out after this many idle minutes
    #[arg(long, env = "TESSERA_SESSION_IDLE_MINUTES", value_name = "N", default_value_t = 60)]
    pub session_idle_minutes: u32,
    /// Sign out after this many hours whatever the activity
    #[arg(long, env = "TESSERA_SESSION_MAX_HOURS", value_name = "N", default_value_t = 12)]
    pub session_max_hours: u32,
    /// Failed passwords (per user and location) before the observation window applies
    #[arg(long, env = "TESSERA_LOCKOUT_THRESHOLD", value_name = "N", default_value_t = 10)]
    pub lockout_threshold: u32,
    /// Smart lockout observation window in minutes
    #[arg(long, env = "TESSERA_LOCKOUT_WINDOW_MINUTES", value_name = "N", default_value_t = 30)]
    pub lockout_window_minutes: u32,
    /// How far a protocol message's IssueInstant may be from this server's clock, in seconds
    #[arg(long, env = "TESSERA_CLOCK_SKEW_SECONDS", value_name = "N", default_value_t = 300)]
    pub clock_skew_seconds: u32,
    #[command(flatten)]
    pub metadata_fetch: MetadataFetchArgs,
    /// Graph's base URL without a version, for the automatic certificate rollover and the
    /// portal's Federation tab [default: https://graph.microsoft.com]
    #[arg(long, env = "TESSERA_GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,
    /// The base of Entra's token endpoint [default: https://login.microsoftonline.com]
    #[arg(long, env = "TESSERA_LOGIN_URL", value_name = "URL")]
    pub login_url: Option<String>,
    /// How often the automatic certificate rollover looks at the connectors (0: never)
    #[arg(long, env = "TESSERA_ROLLOVER_CHECK_MINUTES", value_name = "N", default_value_t = 60)]
    pub rollover_check_minutes: u32,
    /// How often every directory source is synced (0: never; one node at a time)
    #[arg(long, env = "TESSERA_DIRECTORY_SYNC_MINUTES", value_name = "N", default_value_t = 30)]
    pub directory_sync_minutes: u32,
}

/// Where SP metadata may be fetched from by URL.
#[derive(Debug, Clone, Default, Args)]
pub struct MetadataFetchArgs {
    /// A host (as written in URLs) whose SP metadata may be fetched even though it is on a
    /// loopback, private or link-local address; repeat for several
    #[arg(
        long = "allow-metadata-host",
        env = "TESSERA_ALLOW_METADATA_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub allow_metadata_hosts: Vec<String>,
    /// PEM certificate authorities trusted for metadata hosts, besides the system's
    #[arg(long, env = "TESSERA_METADATA_CA_FILE", value_name = "FILE")]
    pub metadata_ca_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Import users from a CSV file (columns email, upn, first_name, last_name, immutable_id,
    /// groups separated by ';'): every row, or with any problem, none. Groups named that do not
    /// exist are created. `-` reads standard input
    Import {
        file: std::path::PathBuf,
        /// Check everything and say what would be done; write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// End every session of a user (sign out everywhere)
    SignOut { user: String },
    /// Keep the tokens the user's sign-ins send (without their signature value) for a while
    Trace {
        user: String,
        #[command(flatten)]
        tracing: TracingArgs,
    },
    /// Create a user
    Add {
        email: String,
        /// Defaults to the email
        #[arg(long)]
        upn: Option<String>,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        /// Entra's sourceAnchor; defaults to base64 of 16 random bytes
        #[arg(long, conflicts_with = "immutable_id_from_guid")]
        immutable_id: Option<String>,
        /// The ImmutableID from an AD objectGUID in its text form (as Entra Connect makes it)
        #[arg(long, value_name = "GUID")]
        immutable_id_from_guid: Option<String>,
        /// Read the password from one line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change the UPN or ImmutableID Entra matches a user by (before the domain is federated)
    Set {
        user: String,
        #[arg(long)]
        upn: Option<String>,
        #[arg(long, conflicts_with = "immutable_id_from_guid")]
        immutable_id: Option<String>,
        /// The ImmutableID from an AD objectGUID in its text form
        #[arg(long, value_name = "GUID")]
        immutable_id_from_guid: Option<String>,
    },
    /// List users
    List,
    /// Show a user (id, email or UPN)
    Show { user: String },
    /// Set a user's password from one line of standard input
    SetPassword {
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Suspend a user: every application denies them
    Suspend { user: String },
    /// Reactivate a suspended user
    Activate { user: String },
    /// Delete a user
    Delete { user: String },
    /// Second factors
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// Passkeys and security keys
    #[command(subcommand)]
    Passkey(PasskeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Remove the user's authenticator app, recovery codes and passkeys (they enrol again at
    /// next sign-in)
    Reset { user: String },
}

#[derive(Debug, Subcommand)]
pub enum PasskeyCommand {
    /// The user's passkeys: name, when enrolled, when last used
    List { user: String },
    /// Remove one of the user's passkeys by its name (it signs in no more)
    Remove { user: String, name: String },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List groups
    List,
    /// Show a group with its members and applications (id or name)
    Show { group: String },
    /// Delete a group
    Delete { group: String },
    /// Add a user to a group
    AddMember { group: String, user: String },
    /// Remove a user from a group
    RemoveMember { group: String, user: String },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an application
    #[command(subcommand)]
    Add(AppAddCommand),
    /// Keep the tokens its sign-ins send (without their signature value) for a while, to debug
    /// with; every sign-in has its trace of decisions anyway
    Trace {
        app: String,
        #[command(flatten)]
        tracing: TracingArgs,
    },
    /// List applications
    List,
    /// Show an application (id or label)
    Show { app: String },
    /// Delete applications; asks for their number unless --yes
    Delete {
        #[arg(required = true)]
        apps: Vec<String>,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Authorize a group's users for an application
    Grant { app: String, group: String },
    /// Withdraw a group's authorization
    Revoke { app: String, group: String },
    /// Whether a user may use an application now, and why
    Access { app: String, user: String },
    /// Signing certificates
    #[command(subcommand)]
    Cert(CertCommand),
    /// The IdP metadata XML on stdout
    Metadata {
        app: String,
        /// SAML 2.0 IdP metadata, or WS-Federation federation metadata (Microsoft 365 connectors)
        #[arg(long, default_value = "saml", value_parser = ["saml", "wsfed"])]
        protocol: String,
    },
    /// Change an application's sign-in settings (attributes, NameID, signing, Login URL, Entra
    /// request signing); the domain, IdP URL and SP entity ID are fixed
    Set {
        app: String,
        #[command(flatten)]
        settings: SettingsArgs,
        /// Remove every additional attribute mapping
        #[arg(long, conflicts_with = "attributes")]
        clear_attributes: bool,
    },
    /// Show or change who may use an app from where, and with which factors
    Policy {
        app: String,
        /// Require a second factor: no, yes (a TOTP code or a passkey), or phishing-resistant
        /// (a passkey only)
        #[arg(long, value_name = "LEVEL", value_parser = parse_mfa_requirement)]
        require_mfa: Option<MfaRequirement>,
        /// Let a passkey alone (no password) sign in to the app (yes or no)
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        passwordless: Option<bool>,
        /// Allow only these networks (CIDR; repeat or separate with commas)
        #[arg(long = "allowed-network", value_delimiter = ',', value_name = "CIDR", conflicts_with = "any_network")]
        allowed_networks: Vec<String>,
        /// Allow any network
        #[arg(long)]
        any_network: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Replace the signing key and certificate, in use at once (the old key is destroyed;
    /// sign-ins fail until the relying party has the new certificate)
    Rotate {
        app: String,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Stage a next key and certificate: published (metadata, next_signing_certificate), not
    /// signing until promoted
    Stage {
        app: String,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// The staged certificate signs from now on; the old one stays published as next for a
    /// grace period. Refused, unless --force, while a domain federated to the app (as far as
    /// Graph credentials tell) does not hold the staged certificate
    Promote {
        app: String,
        /// Days the old certificate stays published as next (0 to 90)
        #[arg(long, default_value_t = 14)]
        grace_days: u32,
        /// Promote even when Graph does not hold the staged certificate (or cannot be asked)
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        graph: GraphArgs,
    },
    /// Stop publishing the certificate a promotion replaced, before its grace period ends
    ClearPrevious { app: String },
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// RSA key size: 2048, 3072 or 4096
    #[arg(long, default_value_t = 2048)]
    pub key_bits: u32,
    /// Certificate validity in days
    #[arg(long, default_value_t = 1095)]
    pub cert_validity_days: u32,
}

#[derive(Debug, Args)]
pub struct PortalArgs {
    #[arg(long)]
    pub description: Option<String>,
    /// Keep the tile out of the user portal
    #[arg(long)]
    pub hide_in_portal: bool,
    /// PNG, JPEG or WebP file for the portal tile (at most 1 MiB; kept as a 128-pixel PNG)
    #[arg(long, value_name = "FILE")]
    pub portal_image: Option<PathBuf>,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Sign-in settings shared by `app add` and `app set`.
#[derive(Debug, Args, Default)]
pub struct SettingsArgs {
    /// An attribute the token carries, NAME=SOURCE (SOURCE: id, email, upn, first_name,
    /// last_name, display_name, immutable_id); repeat for more. Replaces the current list.
    #[arg(long = "attribute", value_name = "NAME=SOURCE")]
    pub attributes: Vec<String>,
    /// Microsoft 365: where the portal tile sends users [default: Microsoft's sign-in page for the domain]
    #[arg(long)]
    pub login_url: Option<String>,
    /// Microsoft 365: Entra's SP metadata file; its signing certificate verifies Entra's signed
    /// AuthnRequests, and unsigned ones are refused from then on
    #[arg(long, value_name = "FILE")]
    pub entra_sp_metadata: Option<PathBuf>,
    /// Microsoft 365: accept unsigned AuthnRequests again
    #[arg(long, conflicts_with = "entra_sp_metadata")]
    pub no_signed_requests: bool,
    /// Microsoft 365: a Kerberos realm (AD domain) whose domain-joined computers get hybrid join
    /// tokens from this connector (windowstransport); repeat for more. Replaces the current list
    #[arg(long = "device-realm", value_name = "REALM")]
    pub device_realms: Vec<String>,
    /// Microsoft 365: give no computer a hybrid join token
    #[arg(long, conflicts_with = "device_realms")]
    pub no_device_realms: bool,
    /// SAML: the NameID format issued
    #[arg(long)]
    pub name_id_format: Option<String>,
    /// SAML: the attribute that becomes the NameID
    #[arg(long, value_name = "SOURCE")]
    pub name_id_source: Option<String>,
    /// SAML: sign the assertion (yes or no)
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
    pub sign_assertion: Option<bool>,
    /// SAML: sign the whole response (yes or no)
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
    pub sign_response: Option<bool>,
    /// SAML: accept RSA-SHA1 request signatures from this SP (yes or no)
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_sha1: Option<bool>,
    /// SAML: allow IdP-initiated sign-on from the portal tile (yes or no)
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
    pub idp_initiated: Option<bool>,
}

#[derive(Debug, Subcommand)]
pub enum AppAddCommand {
    /// The Microsoft 365 / Entra ID connector for a custom domain
    M365 {
        #[arg(long)]
        domain: String,
        /// Defaults to "Microsoft 365 (DOMAIN)"
        #[arg(long)]
        label: Option<String>,
        /// The path segment of the connector's endpoints (the seed's "IdP URL"), fixed once
        /// created [default: the domain]
        #[arg(long)]
        idp_path: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
        #[command(flatten)]
        portal: PortalArgs,
    },
    /// Any SAML 2.0 service provider, from its metadata (a file or an https URL)
    Saml {
        #[arg(long)]
        label: String,
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "sp_metadata_url",
            conflicts_with = "sp_metadata_url"
        )]
        sp_metadata: Option<PathBuf>,
        /// Fetch the metadata from this https URL (never from Tessera's own network unless
        /// --allow-metadata-host names the host)
        #[arg(long, value_name = "URL")]
        sp_metadata_url: Option<String>,
        #[command(flatten)]
        fetch: MetadataFetchArgs,
        #[command(flatten)]
        settings: SettingsArgs,
        #[command(flatten)]
        portal: PortalArgs,
    },
    /// Any WS-Federation relying party, by its realm and reply URLs
    Wsfed {
        #[arg(long)]
        label: String,
        /// The relying party's realm (its `wtrealm`, and the token's audience)
        #[arg(long)]
        realm: String,
        /// Where tokens may be posted (https); repeat for several, the first is the default
        #[arg(long = "reply-url", value_name = "URL", required = true)]
        reply_urls: Vec<String>,
        #[command(flatten)]
        settings: SettingsArgs,
        #[command(flatten)]
        portal: PortalArgs,
    },
    /// A link in the user portal
    Bookmark {
        #[arg(long)]
        label: String,
        #[arg(long)]
        url: String,
        #[command(flatten)]
        portal: PortalArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// One sign-in's trace: its events, oldest first, and its kept token if any
    Trace { id: String },
    /// Audit events, oldest first
    List {
        /// Only events at or after this RFC 3339 time (e.g. 2026-11-01T00:00:00Z)
        #[arg(long)]
        since: Option<String>,
        /// Only events before this RFC 3339 time
        #[arg(long)]
        until: Option<String>,
        /// Only this actor (admin:ID, user:ID, cli:NAME, api:NAME, ip:ADDRESS)
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (signin.failure), or every action of a prefix ending in '.' (signin.)
        #[arg(long)]
        action: Option<String>,
        /// Only events about this application (id or label)
        #[arg(long)]
        app: Option<String>,
        /// Only events by, about or naming this user (id, email or UPN)
        #[arg(long)]
        user: Option<String>,
        /// Newest first
        #[arg(long)]
        newest_first: bool,
        /// At most this many events
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Walk the tamper-evident chain of the audit trail and report its first broken link
    /// (exit 1 when there is one)
    Verify {
        /// Only the records at or after this RFC 3339 time (the link before them is trusted)
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add an administrator with a password of their own, read from one line of standard input
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        role: RoleArgs,
    },
    /// Give an administrator a role: admin (everything), app-admin (only the applications named
    /// with --app) or auditor (reads everything, changes nothing). The last full administrator
    /// keeps their role
    SetRole {
        name: String,
        /// admin, app-admin or auditor
        role: String,
        /// An application an app-admin manages (id or label); repeat for more
        #[arg(long = "app")]
        apps: Vec<String>,
    },
    /// Set an administrator's password from one line of standard input
    SetPassword {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List administrators
    List,
    /// Delete an administrator (never the last full administrator)
    Delete { name: String },
    /// An administrator's second factor
    #[command(subcommand)]
    Mfa(AdminMfaCommand),
    /// REST API tokens
    #[command(subcommand)]
    Token(TokenCommand),
}

/// How long sign-in tracing lasts, and how long its tokens are kept.
#[derive(Debug, Clone, Args)]
pub struct TracingArgs {
    /// Trace for this many minutes (1 to 1440)
    #[arg(long, required_unless_present = "off", conflicts_with = "off")]
    pub minutes: Option<u32>,
    /// Keep each token this many days (1 to 30)
    #[arg(long, default_value_t = 7)]
    pub keep_days: u32,
    /// Stop tracing
    #[arg(long)]
    pub off: bool,
}

/// A role and, for an application administrator, their applications.
#[derive(Debug, Clone, Args)]
pub struct RoleArgs {
    /// admin (everything, the default), app-admin (only the applications named with --app) or
    /// auditor (reads everything, changes nothing)
    #[arg(long, default_value = "admin")]
    pub role: String,
    /// An application an app-admin manages (id or label); repeat for more
    #[arg(long = "app")]
    pub apps: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminMfaCommand {
    /// Remove an administrator's authenticator app and passkeys (a lost phone or key) and end
    /// their sessions; their next sign-in enrols a new one
    Reset { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and stored only as a hash
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        role: RoleArgs,
    },
    /// List tokens (never their secrets)
    List,
    /// Revoke a token by id or name
    Revoke { token: String },
}

/// `--require-mfa`'s value, refused with the words the policy uses.
fn parse_mfa_requirement(text: &str) -> Result<MfaRequirement, String> {
    text.parse().map_err(|e: tessera_core::CoreError| e.to_string())
}
