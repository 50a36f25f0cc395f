//! Faults (issue 20; SECURITY.md §5): a node killed with `kill -9` in the middle of a burst of
//! writes on SQLite loses none that it acknowledged, leaves a database that passes
//! `PRAGMA integrity_check`, and starts again; a full disk is refused cleanly and recovered
//! from; an audit row that cannot be written stops its token; PostgreSQL stopped under load
//! gets quick 503s and the service back within seconds of its return.

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

const PASSWORD: &str = "Corr3ct-horse-battery";

/// Alice, with a password, granted the Microsoft 365 connector of contoso.com.
fn alice_with_m365(env: &Env) {
    let added = env.run_with_stdin(&["user", "add", "alice@contoso.com", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "alice@contoso.com"]);
    env.ok(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
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
    alice_with_m365(&env);
    let server = Server::start(&env, &[]);
    let port = server.port;
    let database = env.data_dir().join("tessera.db");
    let mut browser = super::web_client::WebClient::new(port);
    assert_eq!(browser.sign_in("alice@contoso.com", PASSWORD).status, 303);
    let sso = |browser: &mut super::web_client::WebClient, n: usize| {
        browser.entra_sign_on("contoso.com", &format!("_fault{n}"))
    };
    let path = "/m365/contoso.com/adfs/services/trust/13/usernamemixed";
    let trust = |n: usize| {
        super::bounds::exchange(
            port,
            "POST",
            path,
            &[("Content-Type", "application/soap+xml; charset=utf-8")],
            super::bounds::rst_to(port, path, "alice@contoso.com", PASSWORD, n).as_bytes(),
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
    // The failed writes opened the store breaker for a second (requests answered at once).
    std::thread::sleep(Duration::from_millis(1200));
    assert!(sso(&mut browser, 3).body.contains("SAMLResponse"), "issued again");
    assert_eq!(trust(3).0, 200);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// PostgreSQL (a cluster of this test's own) stopped for 15 s under 20 sign-ons a second:
/// every answer meanwhile is a quick 503 with `Retry-After` (none hangs), no token goes out
/// without its audit row, and sign-on works again within 10 s of the database's return.
#[test]
fn postgresql_stopped_under_load_gets_quick_503s_and_service_returns_within_10_s() {
    let Some(pg) = super::own_postgres::OwnPostgres::start() else { return };
    let env = Env { dir: tempfile::tempdir().unwrap(), database_url: Some(pg.url()) };
    alice_with_m365(&env);
    let server = Server::start(&env, &[]);
    let mut browser = super::web_client::WebClient::new(server.port);
    assert_eq!(browser.sign_in("alice@contoso.com", PASSWORD).status, 303);

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // (seconds since start, status, seconds taken, Retry-After given, a token in it)
            let mut seen = Vec::new();
            for n in 0..2_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let asked = Instant::now();
                let page = browser.entra_sign_on("contoso.com", &format!("_load{n}"));
                let token = page.body.contains("name=\"SAMLResponse\"");
                seen.push((
                    asked.duration_since(started).as_secs_f64(),
                    page.status,
                    asked.elapsed().as_secs_f64(),
                    page.retry_after.is_some(),
                    token,
                ));
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let stopped_at = started.elapsed().as_secs_f64();
    pg.stop();
    std::thread::sleep(Duration::from_secs(15));
    let restarted_at = started.elapsed().as_secs_f64();
    pg.start_again();
    std::thread::sleep(Duration::from_secs(12));
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().unwrap();

    let during: Vec<_> = seen.iter().filter(|s| s.0 > stopped_at + 0.5 && s.0 + s.2 < restarted_at).collect();
    assert!(during.len() >= 10, "load went on during the outage: {}", during.len());
    for (at, status, took, retry_after, token) in &during {
        assert!(
            *status == 503 && *retry_after && !*token && *took < 6.0,
            "at {at:.1} s: {status} in {took:.1} s (Retry-After {retry_after}, token {token})"
        );
    }
    // Answered at once, but for the one request a second that finds out whether the database
    // is back (it waits for the pool's 3 s).
    let quick = during.iter().filter(|s| s.2 < 0.5).count();
    assert!(quick * 10 >= during.len() * 8, "{quick} of {} answered within 0.5 s", during.len());
    let back = seen.iter().find(|s| s.0 > restarted_at && s.1 == 200 && s.4).map(|s| s.0 - restarted_at);
    let back = back.expect("sign-on works again after the database returns");
    eprintln!(
        "PostgreSQL stopped 15 s: {} answers meanwhile ({quick} within 0.5 s), slowest {:.2} s; sign-on back {back:.1} s after the database",
        during.len(),
        during.iter().map(|s| s.2).fold(0.0, f64::max)
    );
    assert!(back <= 10.0, "back {back:.1} s after the database");
    // Every token that went out has its audit row.
    let tokens = seen.iter().filter(|s| s.4).count();
    let audit = env.json(&["audit", "list", "--action", "saml.issued", "--limit", "10000"]);
    assert!(
        audit.as_array().unwrap().len() >= tokens,
        "{tokens} tokens, {} audit rows",
        audit.as_array().unwrap().len()
    );
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// `None` where this machine does not let the test mount one (not root, no capability):
    /// said on stderr, and a failure under CI=true, whose machine does.
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let path = std::env::temp_dir().join(format!("tessera-small-disk-{}", free_port()));
        std::fs::create_dir_all(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "mounting a tmpfs is required under CI=true");
            eprintln!("skipping: this machine does not let the test mount a tmpfs");
            return None;
        }
        Some(SmallDisk { path })
    }

    fn free_bytes(&self) -> u64 {
        let out = Command::new("df").args(["--output=avail", "-B1"]).arg(&self.path).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// SQLite on a full disk: writes are refused (503, the process stays up), nothing
/// acknowledged is lost, the file passes `integrity_check`, and writes work again once space
/// returns.
#[test]
fn sqlite_on_a_full_disk_refuses_cleanly_and_recovers_when_space_returns() {
    let Some(disk) = SmallDisk::mount(16) else { return };
    let env = Env { dir: tempfile::tempdir_in(&disk.path).unwrap(), database_url: None };
    let token = env.ok(&["admin", "token", "create", "--name", "fill"]).trim().to_string();
    let server = Server::start(&env, &[]);
    // Leave about 1 MiB free.
    let filler = disk.path.join("filler");
    let leave = 1024 * 1024;
    let size = disk.free_bytes().saturating_sub(leave);
    std::fs::write(&filler, vec![0u8; usize::try_from(size).unwrap()]).unwrap();
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    // Bounded: stops at the 20th refusal or after 20,000 tries.
    for n in 0..20_000 {
        let email = format!("filler-{n}-{}@full.test", "x".repeat(40));
        match post_json(
            server.port,
            "/api/v1/users",
            &token,
            &format!(r#"{{"email": "{email}", "first_name": "{}"}}"#, "y".repeat(50)),
        ) {
            Some(201) => acknowledged.push(email),
            Some(status) => {
                assert!(status == 503 || status == 500, "a full disk answers {status}");
                refused += 1;
                if refused >= 20 {
                    break;
                }
            }
            None => panic!("the server went away on a full disk"),
        }
    }
    eprintln!("full disk: {} users acknowledged, then {refused} refused", acknowledged.len());
    assert!(refused >= 20, "the disk filled: {} acknowledged", acknowledged.len());
    assert!(http_get(server.port, "/healthz", None).is_some(), "the process is up");

    // Space back: writes work again (after the store breaker's second).
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut recovered = false;
    while Instant::now() < deadline && !recovered {
        recovered =
            post_json(server.port, "/api/v1/users", &token, r#"{"email": "after-full@full.test"}"#) == Some(201);
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, stderr) = server.terminate();
    assert!(recovered, "writes work again once space returns: {}", &stderr[stderr.len().saturating_sub(3000)..]);
    assert_eq!(code, Some(0), "{stderr}");
    let (check, emails) = inspect(&env.data_dir().join("tessera.db"));
    assert_eq!(check, "ok");
    let missing: Vec<&String> = acknowledged.iter().filter(|e| !emails.contains(e)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {} of them", missing.len());
}
