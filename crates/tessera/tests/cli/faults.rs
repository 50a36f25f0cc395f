//! Faults (issue 20; SECURITY.md §5): a node killed with `kill -9` in the middle of a burst of
//! writes on SQLite loses none that it acknowledged, leaves a database that passes
//! `PRAGMA integrity_check`, and starts again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::*;

/// One REST POST with a bearer token: the status, or `None` when the server is gone.
fn post_json(port: u16, path: &str, token: &str, body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// `PRAGMA integrity_check` and the users' emails, read by Python's sqlite3 (another
/// implementation than the one that wrote the file).
fn inspect(database: &Path) -> (String, Vec<String>) {
    let script = "import sqlite3, sys, json\n\
                  db = sqlite3.connect(sys.argv[1])\n\
                  check = db.execute('PRAGMA integrity_check').fetchone()[0]\n\
                  emails = [r[0] for r in db.execute('SELECT email FROM users')]\n\
                  print(json.dumps({'check': check, 'emails': emails}))";
    let out = Command::new("python3").args(["-c", script]).arg(database).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    let emails = found["emails"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
    (found["check"].as_str().unwrap().to_string(), emails)
}

#[test]
fn sqlite_keeps_every_acknowledged_write_through_a_kill_9_mid_burst() {
    let env = Env::sqlite();
    let token = env.ok(&["admin", "token", "create", "--name", "burst"]).trim().to_string();
    let server = Server::start(&env, &[]);
    let port = server.port;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (acknowledged, stop, token) = (acknowledged.clone(), stop.clone(), token.clone());
            std::thread::spawn(move || {
                // Bounded: at most 5,000 tries a writer, whatever happens.
                for n in 0..5_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let email = format!("w{writer}-{n}@burst.test");
                    match post_json(port, "/api/v1/users", &token, &format!(r#"{{"email": "{email}"}}"#)) {
                        Some(201) => acknowledged.lock().unwrap().push(email),
                        Some(_) => {}
                        None => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let mut child = server.child;
    child.kill().unwrap(); // SIGKILL: no drain, no checkpoint.
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    eprintln!("{} users acknowledged before the kill", acknowledged.len());
    assert!(acknowledged.len() >= 20, "a burst was under way: {}", acknowledged.len());

    let (check, emails) = inspect(&env.data_dir().join("tessera.db"));
    assert_eq!(check, "ok");
    let missing: Vec<&String> = acknowledged.iter().filter(|e| !emails.contains(e)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    // Each one audited with it (the same transaction).
    let audit = env.json(&["audit", "list", "--action", "user.create", "--limit", "10000"]);
    assert!(audit.as_array().unwrap().len() >= acknowledged.len(), "every acknowledged user's creation is audited");

    // And the node starts again on the same file.
    let again = Server::start(&env, &[]);
    assert_eq!(post_json(again.port, "/api/v1/users", &token, r#"{"email": "after@burst.test"}"#), Some(201));
    let (code, stderr) = again.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// Runs SQL on the data directory's database with Python's sqlite3 (while the node runs: SQLite
/// takes a second writer in turn).
fn sql(database: &Path, statement: &str) {
    let script = "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1], timeout=10)\ndb.executescript(sys.argv[2])\ndb.commit()";
    let out = Command::new("python3").args(["-c", script]).arg(database).arg(statement).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// SECURITY.md §0.7: no token leaves without its audit row. An audit insert that fails (a
/// trigger raising an error, as a full disk or a broken database would) stops SAML and
/// WS-Trust issuance alike; the node answers with an error, not a token, and issues again once
/// audit rows can be written.
#[test]
fn no_token_goes_out_when_its_audit_row_cannot_be_written() {
    let env = Env::sqlite();
    let added =
        env.run_with_stdin(&["user", "add", "alice@contoso.com", "--password-stdin"], "Corr3ct-horse-battery\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "alice@contoso.com"]);
    env.ok(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
    let server = Server::start(&env, &[]);
    let port = server.port;
    let database = env.data_dir().join("tessera.db");
    let mut browser = super::web_client::WebClient::new(port);
    assert_eq!(browser.sign_in("alice@contoso.com", "Corr3ct-horse-battery").status, 303);
    let sso = |browser: &mut super::web_client::WebClient, n: usize| {
        let request = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_fault{n}" IssueInstant="{}" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer></samlp:AuthnRequest>"#,
            tessera_core::format_millis(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
            )
        );
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(request);
        browser.post("/m365/contoso.com/saml/sso", &[("SAMLRequest", &encoded)])
    };
    let path = "/m365/contoso.com/adfs/services/trust/13/usernamemixed";
    let trust = |n: usize| {
        super::bounds::exchange(
            port,
            "POST",
            path,
            &[("Content-Type", "application/soap+xml; charset=utf-8")],
            super::bounds::rst_to(port, path, "alice@contoso.com", "Corr3ct-horse-battery", n).as_bytes(),
        )
    };
    assert!(sso(&mut browser, 1).body.contains("SAMLResponse"), "issued while audit rows can be written");
    assert_eq!(trust(1).0, 200);

    sql(
        &database,
        "CREATE TRIGGER refuse_issued BEFORE INSERT ON audit_events \
         WHEN NEW.action IN ('saml.issued', 'wstrust.issued') \
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    );
    let refused = sso(&mut browser, 2);
    assert!(refused.status >= 500 && !refused.body.contains("SAMLResponse"), "{} {}", refused.status, refused.body);
    let (status, answer) = trust(2);
    assert!(status >= 400 && !answer.contains("RequestSecurityTokenResponse"), "{status}: {answer}");

    sql(&database, "DROP TRIGGER refuse_issued;");
    assert!(sso(&mut browser, 3).body.contains("SAMLResponse"), "issued again");
    assert_eq!(trust(3).0, 200);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}
