//! `tessera serve`: first-start set-up, then HTTP until SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use tessera_store::SETTING_PUBLIC_URL;

use tessera_core::Clock;
use tessera_store::Store;

use crate::cli::ServeArgs;
use crate::config::{DEFAULT_LISTEN, DEFAULT_PUBLIC_URL, Settings};
use crate::tls::TlsFiles;
use axum_server::tls_rustls::RustlsConfig;
/// How often histogram samples are folded into their summaries when nobody scrapes /metrics.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn run(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: Arc<tessera_keys::KeyService>,
    args: ServeArgs,
) -> anyhow::Result<()> {
    let mut signin = signin_config(&args)?;
    let tls = tls_files(&args);
    // Read before anything is created: a bad certificate or key stops here.
    let tls_config = tls.as_ref().map(TlsFiles::load).transpose()?;
    let metadata_fetch = crate::commands::apps::metadata_fetch(&args.metadata_fetch)?;
    let listen = args.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let public_url = match &settings.public_url {
        Some(url) => tessera_core::validate::public_url(url)?,
        None => default_public_url(&listen, tls.is_some()),
    };
    if let Some(keytab) = &args.kerberos_keytab {
        signin.kerberos = Some(Arc::new(kerberos_acceptor(keytab, &public_url, &signin.intranet)?));
    }
    signin.admin_mfa_required = match args.admin_mfa.as_deref() {
        Some(when) => when == "required",
        None => public_url.starts_with("https://"),
    };
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(tessera_web::REQUEST_DURATION.to_string()),
            &tessera_web::REQUEST_DURATION_BUCKETS,
        )
        .context("cannot set the request-duration buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let state = tessera_web::AppState::new(store.clone(), clock, keys, &public_url, signin, Some(metrics.clone()))?;
    let mut endpoints = tessera_m365::graph::Endpoints::default();
    if let Some(url) = &args.graph_url {
        endpoints.graph_url = tessera_m365::graph::base_url("--graph-url", url)?;
    }
    if let Some(url) = &args.login_url {
        endpoints.login_url = tessera_m365::graph::base_url("--login-url", url)?;
    }
    let state = state.with_admin(|admin| admin.with_metadata_fetch(metadata_fetch).with_graph_endpoints(endpoints));
    let admin = state.admin.clone();
    // Built before the first administrator's password is hashed: what is allocated after the
    // hash frees its 19 MiB lands on those pages, already touched, and an idle server kept
    // them (31 MB settled instead of 28, bench/memory/idle.sh).
    let app = tessera_web::router(state);

    if let Some((name, one_time_password)) = admin.ensure_first_admin().await? {
        // Printed once, on stderr, never logged.
        eprintln!(
            "Created administrator {name:?} with one-time password: {one_time_password}\n\
             It is shown only now: store it safely. It must be changed at its first use."
        );
    }
    store.set_setting(SETTING_PUBLIC_URL, &public_url).await?;

    // Histogram samples pile up until they are drained: a scrape drains them, and so must this
    // when nobody scrapes, or memory grows with every request.
    let upkeep = metrics;
    tokio::spawn(async move {
        let mut every = tokio::time::interval(METRICS_UPKEEP);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    if args.directory_sync_minutes > 0 {
        let every = std::time::Duration::from_secs(u64::from(args.directory_sync_minutes) * 60);
        tokio::spawn(scheduled_directory_sync(admin.clone(), every));
    }
    if args.rollover_check_minutes > 0 {
        let every = std::time::Duration::from_secs(u64::from(args.rollover_check_minutes) * 60);
        tokio::spawn(automatic_rollover(admin, every));
    }

    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match (tls, tls_config) {
        (Some(files), Some(config)) => {
            let config = RustlsConfig::from_config(config);
            files.reload_on_sighup(config.clone())?;
            tracing::info!(%local, %public_url, "Tessera is serving https");
            let handle = axum_server::Handle::new();
            let draining = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                draining.graceful_shutdown(None);
            });
            axum_server::from_tcp_rustls(listener.into_std()?, config)?
                .handle(handle)
                .serve(service)
                .await
                .context("server failed")?;
        }
        _ => {
            // SIGHUP would otherwise end the process; without TLS there is nothing to reload.
            let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .context("cannot listen for SIGHUP")?;
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    tracing::info!("SIGHUP: not serving TLS, so there is nothing to reload");
                }
            });
            tracing::info!(%local, %public_url, "Tessera is serving");
            axum::serve(listener, service).with_graceful_shutdown(shutdown_signal()).await.context("server failed")?;
        }
    }
    tracing::info!("drained in-flight requests; stopped");
    Ok(())
}

/// This process, for the leases of background jobs: unique enough across nodes and restarts.
fn node_id() -> String {
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("pid{}-{started}", std::process::id())
}

/// Every directory source synced every `every` (the first pass at start); each source's lease
/// keeps a sync to one node at a time. A sync that fails is in the audit trail.
async fn scheduled_directory_sync(admin: tessera_admin::AdminService, every: std::time::Duration) {
    let node = node_id();
    let actor = tessera_core::Actor("system:directory-sync".into());
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let sources = match admin.list_sources().await {
            Ok(sources) => sources,
            Err(e) => {
                tracing::warn!(error = %e, "directory sync: the sources cannot be read");
                continue;
            }
        };
        for source in sources {
            let options = tessera_admin::SyncOptions::default();
            match admin.sync_source(&actor, &source.id.to_string(), &node, options).await {
                Ok((_, report)) => tracing::info!(
                    source = %source.name, created = report.created, updated = report.updated,
                    suspended = report.suspended, reactivated = report.reactivated, errors = report.errors,
                    "directory sync"
                ),
                Err(e) => tracing::warn!(source = %source.name, error = %e, "directory sync failed"),
            }
        }
    }
}

/// The automatic certificate rollover (`tessera_admin::rollover`): a pass at start and then
/// every `every`, when Graph credentials are stored; a lease keeps it to one node at a time.
async fn automatic_rollover(admin: tessera_admin::AdminService, every: std::time::Duration) {
    let node = node_id();
    let actor = tessera_core::Actor("system:rollover".into());
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let graph = match admin.m365_graph().await {
            Ok(Some(graph)) => graph,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "automatic certificate rollover: the stored Graph credentials cannot be used");
                continue;
            }
        };
        match admin.rollover_tick(&actor, &graph, &node).await {
            Ok(steps) => {
                for step in steps {
                    tracing::info!(app = %step.app, step = step.step, outcome = %step.outcome, "automatic certificate rollover");
                }
            }
            Err(e) => tracing::warn!(error = %e, "automatic certificate rollover failed"),
        }
    }
}

fn tls_files(args: &ServeArgs) -> Option<TlsFiles> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
        _ => None,
    }
}

/// Checks the serve flags without side effects (the TLS files are read, not kept).
pub fn check_args(args: &ServeArgs, settings: &Settings) -> anyhow::Result<()> {
    let signin = signin_config(args)?;
    if let Some(keytab) = &args.kerberos_keytab {
        let listen = args.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let public_url = match &settings.public_url {
            Some(url) => tessera_core::validate::public_url(url)?,
            None => default_public_url(&listen, tls_files(args).is_some()),
        };
        kerberos_acceptor(keytab, &public_url, &signin.intranet)?;
    }
    if let Some(files) = tls_files(args) {
        files.load()?;
    }
    crate::commands::apps::metadata_fetch(&args.metadata_fetch)?;
    Ok(())
}

fn signin_config(args: &ServeArgs) -> anyhow::Result<tessera_web::SignInConfig> {
    if args.session_idle_minutes == 0
        || args.session_max_hours == 0
        || args.lockout_threshold == 0
        || args.lockout_window_minutes == 0
    {
        anyhow::bail!("session and lockout settings must be at least 1");
    }
    if !(1..=3600).contains(&args.clock_skew_seconds) {
        anyhow::bail!("--clock-skew-seconds must be 1 to 3600");
    }
    let trusted_proxies = args
        .trusted_proxies
        .iter()
        .map(|p| p.parse::<tessera_core::policy::Cidr>())
        .collect::<Result<Vec<_>, _>>()
        .context("--trusted-proxy")?;
    let lockout = tessera_auth::lockout::LockoutPolicy {
        unknown_threshold: args.lockout_threshold,
        familiar_threshold: args.lockout_threshold,
        observation_window_ms: i64::from(args.lockout_window_minutes) * 60_000,
        ..Default::default()
    };
    let session = tessera_auth::session::SessionPolicy {
        idle_timeout_ms: i64::from(args.session_idle_minutes) * 60_000,
        absolute_timeout_ms: i64::from(args.session_max_hours) * 3_600_000,
    };
    let intranet = args
        .intranet
        .iter()
        .map(|p| p.parse::<tessera_core::policy::Cidr>())
        .collect::<Result<Vec<_>, _>>()
        .context("--intranet")?;
    let passkey_models = args
        .passkey_models
        .iter()
        .map(|model| tessera_auth::passkey::parse_model(model))
        .collect::<Result<Vec<_>, _>>()
        .context("--passkey-model")?;
    Ok(tessera_web::SignInConfig {
        session,
        lockout,
        trusted_proxies,
        intranet,
        passkey_models,
        clock_skew_ms: i64::from(args.clock_skew_seconds) * 1000,
        ..Default::default()
    })
}

/// MIT krb5's name for a keytab file: what `KRB5_KTNAME` must say for `--kerberos-keytab FILE`.
pub fn keytab_name(keytab: &std::path::Path) -> anyhow::Result<String> {
    let path = std::fs::canonicalize(keytab)
        .with_context(|| format!("--kerberos-keytab {}: cannot be read", keytab.display()))?;
    Ok(format!("FILE:{}", path.display()))
}

/// The acceptor of tickets for `HTTP/<host>`, the public URL's host, checked against the
/// keytab (`KRB5_KTNAME`, which `main` set from `--kerberos-keytab` before anything started).
fn kerberos_acceptor(
    keytab: &std::path::Path,
    public_url: &str,
    intranet: &[tessera_core::policy::Cidr],
) -> anyhow::Result<tessera_auth::kerberos::KerberosAcceptor> {
    if intranet.is_empty() {
        anyhow::bail!(
            "--kerberos-keytab needs --intranet: the networks whose clients are offered Windows integrated sign-in"
        );
    }
    let host = tessera_core::validate::kerberos_host(public_url)?;
    let acceptor = tessera_auth::kerberos::KerberosAcceptor::for_host(&host);
    acceptor.check().map_err(|e| anyhow::anyhow!("--kerberos-keytab {}: {e}", keytab.display()))?;
    Ok(acceptor)
}

/// Without a public URL, the address served on, as a browser on this machine reaches it
/// (https when serving TLS).
fn default_public_url(listen: &str, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => format!("{scheme}://127.0.0.1:{}", addr.port()),
        Ok(addr) => format!("{scheme}://{addr}"),
        Err(_) if tls => DEFAULT_PUBLIC_URL.replacen("http://", "https://", 1),
        Err(_) => DEFAULT_PUBLIC_URL.to_string(),
    }
}

/// SIGTERM (service managers, load balancers) or Ctrl-C: stop accepting, finish what is in
/// flight, exit 0.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; draining");
}
