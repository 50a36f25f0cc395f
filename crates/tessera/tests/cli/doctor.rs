//! `tessera doctor` against a running https deployment and the Graph test double: a healthy
//! one passes every check; each failure the doctor can see is caused once and named, with
//! exit 1 (a Graph issuer that differs, a clock off from Graph's, an expired and an expiring
//! TLS certificate, MEX over http, a test user who gets no token); bad usage is refused.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::graph_double::{Double, UserRecord};
use super::m365_graph::{SECRET, tenant};
use super::tls::Pki;
use super::{Env, free_port};

const PASSWORD: &str = "correct horse battery";

/// `tessera serve` in the background, stopped when dropped.
pub(super) struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(super) fn start(env: &Env, public: &str, port: u16, tls: Option<(&Path, &Path)>) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let mut command = env.command(&["--public-url", public, "serve", "--listen", &listen]);
        if let Some((cert, key)) = tls {
            command.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let server = Server { child };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let status = Command::new("curl")
                .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2"])
                .arg(format!("{scheme}://127.0.0.1:{port}/healthz"))
                .output()
                .unwrap();
            if status.stdout == b"200" {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not answer /healthz");
    }

    fn reload(&self) {
        assert!(Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status().unwrap().success());
        // The reload is done when the next handshake shows it; a short wait is enough here.
        std::thread::sleep(Duration::from_millis(700));
    }
}

/// `tessera doctor ARGS --json` with Graph's options (the secret in the environment) and the
/// test user's password on stdin: its report and exit code.
fn doctor(env: &Env, public: &str, double: Option<&Double>, args: &[&str]) -> (Value, Option<i32>, String) {
    let mut all = vec!["--public-url", public, "doctor", "--json"];
    all.extend(args);
    let url = double.map(Double::url).unwrap_or_default();
    if double.is_some() {
        all.extend([
            "--tenant",
            super::graph_double::TENANT,
            "--client-id",
            "tessera",
            "--graph-url",
            &url,
            "--login-url",
            &url,
        ]);
    }
    let mut command = env.command(&all);
    if double.is_some() {
        command.env("TESSERA_M365_CLIENT_SECRET", SECRET);
    }
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let out: Output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("no report: {stderr}"));
    (report, out.status.code(), stderr)
}

/// The check `name` of the first connector.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    let checks = report["connectors"][0]["checks"].as_array().unwrap();
    checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name} in {report}"))
}

fn failed(report: &Value) -> Vec<String> {
    let checks = report["connectors"][0]["checks"].as_array().unwrap();
    checks
        .iter()
        .filter(|c| c["ok"] == false && c["severity"] == "error")
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Alice, granted the connector, with a password.
fn people(env: &Env, public: &str) {
    env.ok(&["--public-url", public, "app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    let added = env.run_with_stdin(&["user", "add", "alice@contoso.com", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(added.status.success());
    env.run_with_stdin(&["user", "add", "bob@contoso.com", "--password-stdin"], &format!("{PASSWORD}\n"));
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "alice@contoso.com"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
}

#[test]
fn a_healthy_deployment_passes_and_each_failure_is_named_once() {
    let env = Env::sqlite();
    let pki = Pki::new();
    let (cert, key) = pki.issue("localhost", "tls.pem", "tls.key");
    let port = free_port();
    let public = format!("https://localhost:{port}");
    people(&env, &public);
    let server = Server::start(&env, &public, port, Some((&cert, &key)));
    let ca = pki.ca_file();
    let ca = ca.to_str().unwrap();

    let mut graph = tenant();
    graph.clients.get_mut("tessera").unwrap().permissions.push("User.Read.All");
    let alice_id = env.json(&["user", "show", "alice@contoso.com"])["immutable_id"].as_str().unwrap().to_string();
    let bob_id = env.json(&["user", "show", "bob@contoso.com"])["immutable_id"].as_str().unwrap().to_string();
    graph.add_user(UserRecord::new("alice@contoso.com", Some(&alice_id)));
    graph.add_user(UserRecord::new("bob@contoso.com", Some(&bob_id)));
    let double = Double::start(graph);
    let url = double.url();
    let enable = [
        "--public-url",
        &public,
        "m365",
        "enable",
        "--domain",
        "contoso.com",
        "--tenant",
        super::graph_double::TENANT,
        "--client-id",
        "tessera",
        "--client-secret-stdin",
        "--graph-url",
        &url,
        "--login-url",
        &url,
    ];
    let enabled = env.run_with_stdin(&enable, &format!("{SECRET}\n"));
    assert!(enabled.status.success(), "{}", String::from_utf8_lossy(&enabled.stderr));

    let healthy = ["M365", "--ca-file", ca, "--test-user", "alice@contoso.com", "--test-password-stdin"];
    let (report, code, stderr) = doctor(&env, &public, Some(&double), &healthy);
    assert_eq!(code, Some(0), "{report:#}\n{stderr}");
    for check in report["connectors"][0]["checks"].as_array().unwrap() {
        assert_eq!(check["ok"], true, "{check}");
    }
    assert!(check(&report, "test_token")["detail"].as_str().unwrap().contains("and with Graph's"));
    assert!(check(&report, "tls")["detail"].as_str().unwrap().contains("trusted"));

    // Graph holds another issuer.
    double.with(|g| {
        let config = g.configurations.get_mut("contoso.com").unwrap();
        config.insert("issuerUri".into(), "https://adfs.contoso.com/adfs/services/trust".into());
    });
    let (report, code, _) = doctor(&env, &public, Some(&double), &healthy);
    assert_eq!((code, failed(&report)), (Some(1), vec!["graph".to_string()]), "{report:#}");
    let graph_check = check(&report, "graph");
    assert!(graph_check["detail"].as_str().unwrap().contains("issuerUri"), "{graph_check}");
    assert!(graph_check["fix"].as_str().unwrap().contains("tessera m365 enable --domain contoso.com"));
    let enabled = env.run_with_stdin(&[&enable[..], &["--take-over"]].concat(), &format!("{SECRET}\n"));
    assert!(enabled.status.success(), "{}", String::from_utf8_lossy(&enabled.stderr));

    // This server's clock is ten minutes behind Graph's.
    double.with(|g| g.date_offset_secs = 600);
    let (report, code, _) = doctor(&env, &public, Some(&double), &healthy);
    assert_eq!((code, failed(&report)), (Some(1), vec!["clock".to_string()]), "{report:#}");
    assert!(check(&report, "clock")["detail"].as_str().unwrap().contains("behind Graph's"), "{report:#}");
    double.with(|g| g.date_offset_secs = 0);

    // An Entra user whose ImmutableID is not Tessera's.
    double.with(|g| {
        let id = g.users.iter().find(|(_, u)| u.upn == "bob@contoso.com").map(|(id, _)| id.clone()).unwrap();
        g.users.get_mut(&id).unwrap().immutable_id = Some("b3RoZXI=".into());
    });
    let (report, code, _) = doctor(&env, &public, Some(&double), &healthy);
    assert_eq!((code, failed(&report)), (Some(1), vec!["immutable_ids".to_string()]), "{report:#}");
    assert!(check(&report, "immutable_ids")["detail"].as_str().unwrap().contains("bob@contoso.com"));

    // A test user who may not sign in: no token, and the fault's words.
    let bob = ["M365", "--ca-file", ca, "--test-user", "bob@contoso.com", "--test-password-stdin"];
    let (report, _, _) = doctor(&env, &public, None, &bob);
    assert!(failed(&report).contains(&"test_token".to_string()), "{report:#}");
    assert!(check(&report, "test_token")["detail"].as_str().unwrap().contains("bob@contoso.com got no token"));
    // Without Graph, its three checks are warnings that say so, not failures.
    for name in ["graph", "clock"] {
        assert_eq!(
            (check(&report, name)["ok"].as_bool(), check(&report, name)["severity"].as_str()),
            (Some(false), Some("warning"))
        );
    }

    // An expired certificate, then one expiring in ten days (the server reloads on SIGHUP).
    for (days, words) in [(-1, "not accepted"), (10, "in 9 days")] {
        let (new_cert, new_key) = pki.issue_for_days("localhost", "next.pem", "next.key", Some(days));
        std::fs::copy(&new_cert, &cert).unwrap();
        std::fs::copy(&new_key, &key).unwrap();
        server.reload();
        let (report, code, _) = doctor(&env, &public, None, &["--ca-file", ca]);
        assert_eq!((code, failed(&report)), (Some(1), vec!["tls".to_string()]), "{report:#}");
        assert!(check(&report, "tls")["detail"].as_str().unwrap().contains(words), "{report:#}");
    }
    // Without the CA, the certificate is not one the system trusts.
    let (report, _, _) = doctor(&env, &public, None, &[]);
    assert!(check(&report, "tls")["detail"].as_str().unwrap().contains("not accepted"), "{report:#}");
}

#[test]
fn mex_over_http_fails_and_bad_usage_is_refused() {
    let env = Env::sqlite();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    people(&env, &public);
    let _server = Server::start(&env, &public, port, None);
    let (report, code, stderr) = doctor(&env, &public, None, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(failed(&report), ["tls", "mex"], "{report:#}");
    assert!(check(&report, "mex")["detail"].as_str().unwrap().contains("no https username endpoint"));
    assert!(stderr.contains("the doctor found what would break: M365: tls, M365: mex"), "{stderr}");
    // A password never crosses plain http: no token is asked for, and the run is audited.
    let (report, _, _) = doctor(&env, &public, None, &["--test-user", "alice@contoso.com", "--test-password-stdin"]);
    assert!(check(&report, "test_token")["detail"].as_str().unwrap().contains("no token was asked for"), "{report:#}");
    let audit = env.ok(&["audit", "list"]);
    assert!(audit.contains("m365.doctor") && !audit.contains("saml.issued"), "{audit}");
    // The text report: one line per check, each failure with what to do.
    let out = env.run(&["--public-url", &public, "doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("  FAIL  mex") && text.contains("→ serve the public URL over https"), "{text}");

    env.ok(&["app", "add", "bookmark", "--label", "Wiki", "--url", "https://wiki.contoso.com"]);
    assert!(env.fails(&["doctor", "Wiki"], 1).contains("not a Microsoft 365 connector"));
    env.fails(&["doctor", "nope"], 1);
    assert!(env.fails(&["doctor", "--test-user", "alice@contoso.com"], 1).contains("needs its password"));
    assert!(env.fails(&["doctor", "--ca-file", "/nonexistent.pem"], 1).contains("cannot read"));
    let not_pem = env.data_dir().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    assert!(env.fails(&["doctor", "--ca-file", not_pem.to_str().unwrap()], 1).contains("no certificate"));
    env.fails(&["doctor", "--test-password-stdin"], 2);
}
