//! The floor under issue 23's sign-on targets: an HTTP server on Tessera's own stack (Tokio,
//! hyper through axum, mimalloc, aws-lc's RSA through `tessera_xml::RsaSigner`) that answers
//! every GET with one RSA-2048 signature (in hex) and a page of a WS-Fed answer's size, and
//! does nothing else: no session, no store, no XML, c14n or digest, no audit.
//!
//! What it costs a request on a machine, measured by `bench/signon/floor.sh` with the same wrk
//! load and the same accounting as `bench/signon/cpu.sh`, is the least any server on this stack
//! can cost there: Tessera's figures are held against it. `--no-sign` answers without the
//! signature, which leaves HTTP (axum's routing and the page's one allocation included) and the
//! kernel's loopback TCP.
//!
//! Usage: `signon-floor --listen 127.0.0.1:PORT [--body-bytes N] [--no-sign]`. `/metrics`
//! answers an empty page (the measurement reads the store writer's series there; this has
//! none).

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_xml::{RsaSigner, Signer};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A SignedInfo's size: what Tessera's signer signs for every token.
const SIGNED_INFO_BYTES: usize = 900;
/// The size of Tessera's WS-Fed answer to Entra (the auto-POST page with `wresult`), measured
/// with `curl -s -b <session> <wsfed URL> | wc -c` against a release build: 7,184 bytes.
const DEFAULT_BODY_BYTES: usize = 7_184;

struct Floor {
    signer: Option<RsaSigner>,
    body_bytes: usize,
    served: AtomicU64,
}

async fn answer(State(floor): State<Arc<Floor>>) -> Response {
    let mut page = String::with_capacity(floor.body_bytes);
    if let Some(signer) = &floor.signer {
        // A fresh message a request, as a token's SignedInfo is.
        let mut signed_info = vec![b'x'; SIGNED_INFO_BYTES];
        signed_info[..8].copy_from_slice(&floor.served.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        match signer.sign(&signed_info) {
            Ok(signature) => signature.iter().for_each(|b| {
                let _ = write!(page, "{b:02x}");
            }),
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
    let padding = floor.body_bytes.saturating_sub(page.len());
    page.extend(std::iter::repeat_n('x', padding));
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn usage() -> ! {
    eprintln!("usage: signon-floor --listen ADDR [--body-bytes N] [--no-sign]");
    std::process::exit(2)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut listen, mut body_bytes, mut sign) = (None::<SocketAddr>, DEFAULT_BODY_BYTES, true);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = Some(args.next().unwrap_or_else(|| usage()).parse()?),
            "--body-bytes" => body_bytes = args.next().unwrap_or_else(|| usage()).parse()?,
            "--no-sign" => sign = false,
            _ => usage(),
        }
    }
    let listen = listen.unwrap_or_else(|| usage());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tessera-xml/tests/data");
    let signer = match sign {
        true => Some(RsaSigner::from_pkcs8(
            &std::fs::read(dir.join("idp-key.pk8"))?,
            std::fs::read(dir.join("idp-cert.der"))?,
        )?),
        false => None,
    };
    let floor = Arc::new(Floor { signer, body_bytes, served: AtomicU64::new(0) });
    let app = Router::new().route("/metrics", get(|| async { "" })).fallback(get(answer)).with_state(floor);
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, app).await
    })?;
    Ok(())
}
