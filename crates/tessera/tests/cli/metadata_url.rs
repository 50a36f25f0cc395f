//! `app add saml --sp-metadata-url`: metadata fetched over https from a real server, and never
//! from Tessera's own network (SECURITY.md, "SSRF in metadata URL import"): internal
//! addresses however written, a host that resolves to one, redirects to one or to plain http,
//! 50 MB bodies and a body that never ends are refused, each within the deadline, and nothing
//! is created. `--allow-metadata-host` opens one named host; `serve` checks the same options
//! before it creates anything.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Env;
use super::tls::Pki;

/// The test server of `interop/metadata_server.py`, on an ephemeral port.
struct MetadataServer {
    child: Child,
    port: u16,
}

impl MetadataServer {
    fn start(pki: &Pki) -> MetadataServer {
        let (cert, key) = pki.issue("metadata.test", "metadata.pem", "metadata-key.pem");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut child = Command::new("python3")
            .arg(root.join("interop/metadata_server.py"))
            .args([&cert, &key, &root.join("fixtures/saml/sp-metadata.xml")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        MetadataServer { port: line.trim().parse().unwrap(), child }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn app_count(env: &Env) -> usize {
    env.json(&["app", "list"]).as_array().map_or(0, Vec::len)
}

#[test]
fn sp_metadata_is_fetched_over_https_but_never_from_the_internal_network() {
    let env = Env::sqlite();
    let pki = Pki::new();
    let server = MetadataServer::start(&pki);
    let ca = pki.ca_file();
    let ca = ca.to_str().unwrap();
    env.ok(&["user", "list"]);
    let before = app_count(&env);

    // Without the host allowed: the server is on loopback, by address or by name.
    for (url, said) in [
        (server.url("127.0.0.1", "/sp.xml"), "loopback"),
        (server.url("localhost", "/sp.xml"), "loopback"),
        ("https://169.254.169.254/latest/meta-data/".to_string(), "link-local"),
        ("https://10.0.0.5/metadata".to_string(), "private"),
        ("https://[::1]/metadata".to_string(), "loopback"),
        ("https://0x7f000001/metadata".to_string(), "loopback"),
        ("file:///etc/passwd".to_string(), "only https"),
        (format!("http://127.0.0.1:{}/sp.xml", server.port), "only https"),
    ] {
        let started = Instant::now();
        let error =
            env.fails(&["app", "add", "saml", "--label", "SP", "--sp-metadata-url", &url, "--metadata-ca-file", ca], 1);
        assert!(error.contains(said), "{url}: {error}");
        assert_eq!(error.trim().lines().count(), 1, "{url}: one line: {error}");
        assert!(started.elapsed() < Duration::from_secs(8), "{url}");
    }

    // With 127.0.0.1 allowed, what it serves is still checked: redirects to internal addresses
    // (another name for the same host included) or to http, endless redirects, 50 MB, a body
    // that never ends.
    let allowed = ["--allow-metadata-host", "127.0.0.1", "--metadata-ca-file", ca];
    for (path, said) in [
        ("/to-metadata-service", "169.254.169.254"),
        ("/to-private", "10.0.0.5"),
        ("/to-localhost", "loopback"),
        ("/to-http", "only https"),
        ("/loop", "redirects"),
        ("/huge", "more than 1 MiB"),
        ("/huge-unannounced", "more than 1 MiB"),
        ("/trickle", "within 5 s"),
        ("/missing", "404"),
    ] {
        let url = server.url("127.0.0.1", path);
        let mut args = vec!["app", "add", "saml", "--label", "SP", "--sp-metadata-url", &url];
        args.extend(allowed);
        let started = Instant::now();
        let error = env.fails(&args, 1);
        assert!(error.contains(said), "{path}: {error}");
        assert!(started.elapsed() < Duration::from_secs(8), "{path} took {:?}", started.elapsed());
    }
    // A certificate nobody vouches for.
    let url = server.url("127.0.0.1", "/sp.xml");
    let error = env.fails(
        &["app", "add", "saml", "--label", "SP", "--sp-metadata-url", &url, "--allow-metadata-host", "127.0.0.1"],
        1,
    );
    assert!(error.contains("could not be fetched"), "{error}");
    assert_eq!(app_count(&env), before, "nothing created");

    // The allowed host's document; through a redirect on the same host it arrives too (and
    // names the same SP, which is taken).
    let url = server.url("127.0.0.1", "/sp.xml");
    let mut args = vec!["app", "add", "saml", "--label", "Wiki SP", "--sp-metadata-url", &url];
    args.extend(allowed);
    let created = env.json(&args);
    assert_eq!(created["kind"], "saml", "{created}");
    let moved = server.url("127.0.0.1", "/moved");
    let mut args = vec!["app", "add", "saml", "--label", "Moved SP", "--sp-metadata-url", &moved];
    args.extend(allowed);
    let taken = env.fails(&args, 1);
    assert!(taken.contains("exists already"), "{taken}");
    assert_eq!(app_count(&env), before + 1);
}

#[test]
fn serve_checks_its_metadata_options_before_it_creates_anything() {
    let env = Env::sqlite();
    let missing = env.fails(&["serve", "--metadata-ca-file", "/nonexistent/ca.pem"], 1);
    assert!(missing.contains("metadata CA"), "{missing}");
    let not_pem = env.dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let refused = env.fails(&["serve", "--metadata-ca-file", not_pem.to_str().unwrap()], 1);
    assert!(refused.contains("certificate"), "{refused}");
    assert!(!env.data_dir().exists(), "nothing created");
}
