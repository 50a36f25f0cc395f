//! `tessera serve`: first-start set-up, then HTTP until SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use tessera_store::{SETTING_PUBLIC_URL, Store};

use crate::config::{DEFAULT_LISTEN, DEFAULT_PUBLIC_URL, Settings};
use crate::master_key;

/// The first administrator's name.
const INITIAL_ADMIN: &str = "admin";

pub async fn run(settings: &Settings, store: Arc<dyn Store>, listen: Option<String>) -> anyhow::Result<()> {
    let listen = listen.or_else(|| settings.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let public_url = match &settings.public_url {
        Some(url) => tessera_core::validate::public_url(url)?,
        None => default_public_url(&listen),
    };
    let keys = Arc::new(master_key::key_service(&settings.data_dir, store.clone()).await?);

    let one_time_password = tessera_auth::secret::new_one_time_password()?;
    let hash = tessera_auth::password::hash_password(&one_time_password)?;
    if store.create_initial_admin(INITIAL_ADMIN, &hash).await? {
        // Printed once, on stderr, never logged.
        eprintln!(
            "Created administrator {INITIAL_ADMIN:?} with one-time password: {one_time_password}\n\
             It is shown only now; you will be asked to change it at first sign-in."
        );
    }
    store.set_setting(SETTING_PUBLIC_URL, &public_url).await?;

    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let app = tessera_web::router(tessera_web::AppState {
        store,
        public_url: public_url.clone(),
        keys,
        metrics: Some(metrics),
    });

    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, %public_url, "Tessera is serving");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("server failed")?;
    tracing::info!("drained in-flight requests; stopped");
    Ok(())
}

/// Without a public URL, the address served on, as a browser on this machine reaches it.
fn default_public_url(listen: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        Ok(addr) => format!("http://{addr}"),
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
