//! `serve --tls-cert FILE --tls-key FILE`: https with no proxy in front, checked by clients
//! outside Tessera (curl, Python's ssl on OpenSSL, and MSAL's own WS-Trust client), the
//! certificate reloaded on SIGHUP, and bad files refused before anything is created.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::Value;

use super::{Env, free_port, msal_python};

/// A private CA and the files of certificates it issues for `localhost` and 127.0.0.1.
pub(super) struct Pki {
    dir: tempfile::TempDir,
    ca: Issuer<'static, KeyPair>,
}

impl Pki {
    pub(super) fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "Tessera test CA");
        let key = KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), certificate.pem()).unwrap();
        Pki { dir, ca: Issuer::new(params, key) }
    }

    pub(super) fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Writes a certificate named `common_name` and its key to `cert` and `key` (in the
    /// PKI's directory); returns their paths.
    pub(super) fn issue(&self, common_name: &str, cert: &str, key: &str) -> (PathBuf, PathBuf) {
        self.issue_for_days(common_name, cert, key, None)
    }

    /// As [`Pki::issue`], valid from a year ago until `days` from now (negative: expired).
    pub(super) fn issue_for_days(
        &self,
        common_name: &str,
        cert: &str,
        key: &str,
        days: Option<i64>,
    ) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        if let Some(days) = days {
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(365);
            params.not_after = now + time::Duration::days(days);
        }
        params.distinguished_name.push(DnType::CommonName, common_name);
        let leaf_key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&leaf_key, &self.ca).unwrap();
        let (cert, key) = (self.dir.path().join(cert), self.dir.path().join(key));
        std::fs::write(&cert, certificate.pem()).unwrap();
        std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
        (cert, key)
    }
}

/// `curl` over https, verifying against `ca`: (HTTP version, status), or `None` when the
/// connection fails.
fn curl(ca: &Path, port: u16, path: &str, extra: &[&str]) -> Option<(String, u16)> {
    let url = format!("https://localhost:{port}{path}");
    let output = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(extra)
        .arg(&url)
        .output()
        .unwrap();
    if !output.status.success() {
        return None;
    }
    let out = String::from_utf8_lossy(&output.stdout).to_string();
    let (version, status) = out.split_once(' ')?;
    Some((version.to_string(), status.parse().ok()?))
}

struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(env: &Env, cert: &Path, key: &Path, ca: &Path) -> TlsServer {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = env
            .command(&["serve", "--listen", &listen])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let server = TlsServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if curl(ca, port, "/healthz", &[]).is_some_and(|(_, status)| status == 200) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the TLS server did not answer /healthz");
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
    }

    fn terminate(mut self) -> (Option<i32>, String) {
        self.signal("-TERM");
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap()).wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn tls_client(python: &Path, args: &[&str]) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/tls_client.py");
    let mut command = Command::new(python);
    command.arg(script).args(args);
    command
}

fn probe(python: &Path, port: u16, ca: &Path) -> Value {
    let output = tls_client(python, &["probe", &port.to_string(), ca.to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn serve_tls_speaks_modern_tls_h2_and_h1_and_msal_gets_a_token_with_no_proxy() {
    let Some(python) = msal_python() else { return };
    let env = Env::sqlite();
    let pki = Pki::new();
    let ca = pki.ca_file();
    let (cert, key) = pki.issue("idp one", "cert.pem", "key.pem");
    let password = "correct horse battery";
    env.run_with_stdin(&["user", "add", "alice@contoso.com", "--password-stdin"], &format!("{password}\n"));
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "alice@contoso.com"]);

    let server = TlsServer::start(&env, &cert, &key, &ca);
    let port = server.port;
    // HTTP/2 and HTTP/1.1 by ALPN; TLS 1.3, and 1.2 with its modern suites only.
    assert_eq!(curl(&ca, port, "/healthz", &["--http2"]), Some(("2".into(), 200)));
    assert_eq!(curl(&ca, port, "/healthz", &["--http1.1"]), Some(("1.1".into(), 200)));
    assert_eq!(curl(&ca, port, "/healthz", &["--tlsv1.2", "--tls-max", "1.2"]).map(|r| r.1), Some(200));
    assert_eq!(curl(&ca, port, "/healthz", &["--tlsv1.1", "--tls-max", "1.1"]), None, "TLS 1.1 is refused");
    let cbc = ["--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA"];
    assert_eq!(curl(&ca, port, "/healthz", &cbc), None, "CBC suites are refused");
    let shown = probe(&python, port, &ca);
    assert_eq!((shown["version"].as_str(), shown["alpn"].as_str()), (Some("TLSv1.3"), Some("h2")), "{shown}");

    // The public URL defaults to https on the address served; commands use it from the store.
    let public = format!("https://127.0.0.1:{port}");
    let app = env.json(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    assert_eq!(app["endpoints"]["wstrust_mex"], format!("{public}/m365/contoso.com/adfs/services/trust/mex"));
    env.ok(&["app", "grant", "M365", "Staff"]);
    let command = env.json(&["m365", "command", "M365"]);
    let mex = command["metadata_exchange_uri"].as_str().unwrap();

    // MSAL's MEX parser and WS-Trust client, over https straight to Tessera, trusting the CA.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(&python)
        .arg(root.join("interop/msal_wstrust.py"))
        .args(["exchange", &public, &public, mex, "alice@contoso.com", password])
        .env("REQUESTS_CA_BUNDLE", &ca)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let token: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(token["endpoint"]["address"], format!("{public}/m365/contoso.com/adfs/services/trust/13/usernamemixed"));
    assert!(token["token"].as_str().unwrap().contains(">alice@contoso.com<"), "{token}");

    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_an_open_connection() {
    let python = PathBuf::from("python3");
    let env = Env::sqlite();
    let pki = Pki::new();
    let ca = pki.ca_file();
    let (cert, key) = pki.issue("before reload", "cert.pem", "key.pem");
    let server = TlsServer::start(&env, &cert, &key, &ca);
    let port = server.port;

    let mut held = tls_client(&python, &["keepalive", &port.to_string(), ca.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(held.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!((first["status"].as_u64(), first["subject"].as_str()), (Some(200), Some("before reload")), "{first}");

    // A bad pair on SIGHUP is refused and the one in use stays.
    let (_, other_key) = pki.issue("unused", "other.pem", "other-key.pem");
    std::fs::copy(&other_key, &key).unwrap();
    server.signal("-HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(probe(&python, port, &ca)["subject"], "before reload");

    let (new_cert, new_key) = pki.issue("after reload", "new.pem", "new-key.pem");
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    server.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe(&python, port, &ca)["subject"] != "after reload" {
        assert!(Instant::now() < deadline, "new connections never saw the new certificate");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The connection opened before the reload still works, on the same socket.
    writeln!(held.stdin.take().unwrap(), "go").unwrap();
    let second: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(second["status"], 200, "{second}");
    assert_eq!(second["same_socket"], true, "{second}");
    assert_eq!(second["subject"], "before reload", "{second}");
    assert!(held.wait().unwrap().success());

    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("were not reloaded") && stderr.contains("does not match"), "{stderr}");
    assert!(stderr.contains("reloaded the TLS certificate and key"), "{stderr}");
}

#[test]
fn bad_tls_files_stop_serve_with_one_line_before_anything_is_created() {
    let env = Env::sqlite();
    let pki = Pki::new();
    let (cert, _) = pki.issue("one", "cert.pem", "key.pem");
    let (_, other_key) = pki.issue("two", "other.pem", "other-key.pem");
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = pki.dir.path().join("missing.pem");
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    for (cert, key, expected) in [
        (&cert, &other_key, "does not match the certificate"),
        (&missing, &other_key, "cannot read the TLS certificate"),
        (&cert, &missing, "cannot read the TLS key"),
        (&garbage, &other_key, "holds no PEM certificate"),
        (&cert, &garbage, "holds no PEM private key"),
    ] {
        let out = env
            .command(&["serve", "--listen", &listen, "--tls-cert", cert.to_str().unwrap()])
            .args(["--tls-key", key.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(expected), "{expected}: {stderr}");
        let created = std::fs::read_dir(env.data_dir()).map(|d| d.count()).unwrap_or(0);
        assert_eq!(created, 0, "nothing is created");
    }
    // One flag without the other is bad usage.
    env.fails(&["serve", "--tls-cert", cert.to_str().unwrap()], 2);
}
