//! Operating a deployment (issue 21): a backup taken while users sign on restores whole on
//! another data directory and signs with the same certificates; every wrong restore is refused
//! and changes nothing; migrations are listed and applied on purpose, from an older schema
//! built by another implementation (Python's sqlite3) than ours; PostgreSQL is backed up with
//! its own tools, as the README says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use sha2::Digest;

use super::faults::{PASSWORD, alice_with_m365, inspect, post_json};
use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a directory holds, by name, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec!["(no directory)".into()] };
    let mut names: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// A data directory holding only `master.key`, as an operator prepares one for a restore.
fn with_master_key(env: &Env, key: &str) {
    std::fs::create_dir_all(env.data_dir()).unwrap();
    std::fs::set_permissions(env.data_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(env.data_dir().join("master.key"), key).unwrap();
    std::fs::set_permissions(env.data_dir().join("master.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn master_key_text(env: &Env) -> String {
    std::fs::read_to_string(env.data_dir().join("master.key")).unwrap()
}

/// The SAML Response of a sign-on by a signed-in browser, decoded.
fn saml_response(browser: &mut super::web_client::WebClient, id: &str) -> String {
    let posted = browser.entra_sign_on("contoso.com", id);
    assert_eq!(posted.status, 200, "{}", posted.body);
    let response = super::web_client::hidden_field(&posted.body, "SAMLResponse").expect("an auto-POST page");
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(response).unwrap()).unwrap()
}

#[test]
fn a_backup_taken_under_sign_on_load_restores_elsewhere_whole_and_signs_with_the_same_certificates() {
    let env = Env::sqlite();
    alice_with_m365(&env);
    let token = env.ok(&["admin", "token", "create", "--name", "backup-load"]).trim().to_string();
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let server = Server::start_on(&env, port, &["--public-url", &public_url]);
    let metadata = env.ok(&["app", "metadata", "M365"]);
    let certificate = env.json(&["app", "show", "M365"])["signing_certificate"].clone();

    let stop = Arc::new(AtomicBool::new(false));
    // Sign-ons from a signed-in browser all through the backup, each with its token.
    let signing = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut browser = super::web_client::WebClient::new(port);
            assert_eq!(browser.sign_in("alice@contoso.com", PASSWORD).status, 303);
            let mut tokens = 0;
            for n in 0..5_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                assert!(saml_response(&mut browser, &format!("_load{n}")).contains("SignatureValue"));
                tokens += 1;
            }
            tokens
        })
    };
    // Users created through the REST API, each with the moment its creation was acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writing = {
        let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
        std::thread::spawn(move || {
            for n in 0..5_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let email = format!("u{n}@load.test");
                if post_json(port, "/api/v1/users", &token, &format!(r#"{{"email": "{email}"}}"#)) == Some(201) {
                    acknowledged.lock().unwrap().push((Instant::now(), email));
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    let backup = env.dir.path().join("before-upgrade.tessera-backup");
    let began = Instant::now();
    let out = env.run(&["backup", "--to", backup.to_str().unwrap(), "--json"]);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let tokens = signing.join().unwrap();
    writing.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("WARNING") && stderr.contains("master.key"), "says to keep the key apart: {stderr}");
    let acknowledged = acknowledged.lock().unwrap().clone();
    let before: Vec<&String> = acknowledged.iter().filter(|(at, _)| *at < began).map(|(_, email)| email).collect();
    let during = acknowledged.len() - before.len();
    eprintln!(
        "backup under load: {tokens} sign-ons, {} users acknowledged before it began, {during} after",
        before.len()
    );
    assert!(tokens >= 10 && before.len() >= 5 && during >= 1, "load ran through the backup");

    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    let binary = env.json(&["migrate", "status"])["binary_version"].clone();
    assert_eq!(manifest["format"], "tessera-backup");
    assert_eq!(manifest["schema_version"], binary);
    assert_eq!(manifest["backend"], "sqlite");
    assert_eq!(manifest["master_key_fingerprint"].as_str().unwrap().len(), 16);
    assert!(manifest["counts"]["users"].as_i64().unwrap() > before.len() as i64);
    let bytes = std::fs::read(&backup).unwrap();
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    // Never the master key: neither its text nor its bytes.
    let key_text = master_key_text(&env);
    let key_bytes = base64::engine::general_purpose::STANDARD.decode(key_text.trim()).unwrap();
    assert!(!bytes.windows(key_text.trim().len()).any(|w| w == key_text.trim().as_bytes()));
    assert!(!bytes.windows(32).any(|w| w == key_bytes.as_slice()));
    assert_eq!(listing(env.dir.path()).iter().filter(|n| n.contains("partial")).count(), 0, "no scratch file left");

    // Debian's tar reads it: the manifest, then the database, whose SHA-256 the manifest states.
    let listed = Command::new("tar").arg("-tf").arg(&backup).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "manifest.json\ntessera.db\n");
    let database = Command::new("tar").arg("-xOf").arg(&backup).arg("tessera.db").output().unwrap();
    assert!(database.status.success());
    assert_eq!(hex(&sha2::Sha256::digest(&database.stdout)), manifest["database"]["sha256"]);

    // Another machine: an empty data directory holding the master key that was kept apart.
    let other = Env::sqlite();
    with_master_key(&other, &key_text);
    let restored = other.ok(&["restore", "--from", backup.to_str().unwrap()]);
    assert!(restored.contains("restored"), "{restored}");
    let (check, emails) = inspect(&other.data_dir().join("tessera.db"));
    assert_eq!(check, "ok");
    let lost: Vec<&&String> = before.iter().filter(|email| !emails.contains(email)).collect();
    assert!(lost.is_empty(), "committed before the backup began, missing from it: {lost:?}");
    assert_eq!(other.json(&["audit", "verify"])["intact"], true);
    assert_eq!(other.json(&["app", "show", "M365"])["signing_certificate"], certificate);

    // A node on the copy signs tokens that pysaml2, as Entra, accepts with the original's metadata.
    let copy = Server::start(&other, &["--public-url", &public_url]);
    let mut browser = super::web_client::WebClient::new(copy.port);
    assert_eq!(browser.sign_in("alice@contoso.com", PASSWORD).status, 303);
    let response = saml_response(&mut browser, "_after-restore");
    if let Some(accepted) = pysaml2_accepts(&metadata, &response, "_after-restore") {
        assert!(accepted["name_id"].as_str().is_some(), "{accepted}");
    }
    for node in [copy, server] {
        let (code, stderr) = node.terminate();
        assert_eq!(code, Some(0), "{stderr}");
    }
}

/// Rewrites a backup with Python's tarfile (another implementation than ours): `edit` (Python
/// statements) may change the manifest `m` and the database's bytes `db`; the manifest's size
/// and SHA-256 are made to match the database written, so only the checks after them can tell.
fn rewritten(backup: &Path, into: &Path, edit: &str) {
    let script = format!(
        "import hashlib, io, json, sys, tarfile\n\
         src = tarfile.open(sys.argv[1])\n\
         m = json.load(src.extractfile('manifest.json'))\n\
         db = bytearray(src.extractfile('tessera.db').read())\n\
         {edit}\n\
         m['database']['bytes'] = len(db); m['database']['sha256'] = hashlib.sha256(db).hexdigest()\n\
         data = json.dumps(m).encode()\n\
         with tarfile.open(sys.argv[2], 'w', format=tarfile.USTAR_FORMAT) as out:\n\
         \x20   info = tarfile.TarInfo('manifest.json'); info.size = len(data); out.addfile(info, io.BytesIO(data))\n\
         \x20   info = tarfile.TarInfo('tessera.db'); info.size = len(db); out.addfile(info, io.BytesIO(bytes(db)))\n"
    );
    let out = Command::new("python3").args(["-c", &script]).arg(backup).arg(into).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_wrong_restore_is_refused_with_a_clear_message_and_changes_nothing() {
    let env = Env::sqlite();
    alice_with_m365(&env);
    let work = env.dir.path();
    let backup = work.join("good.backup");
    // A stopped deployment is backed up as well as a running one.
    env.ok(&["backup", "--to", backup.to_str().unwrap()]);
    let key_text = master_key_text(&env);
    let restore = |target: &Env, file: &Path, expected: &str| {
        let before = listing(&target.data_dir());
        let error = target.fails(&["restore", "--from", file.to_str().unwrap()], 1);
        assert!(error.contains(expected), "expected {expected:?} in: {error}");
        assert_eq!(error.trim().lines().count(), 1, "one line: {error}");
        assert_eq!(listing(&target.data_dir()), before, "a refused restore changed nothing: {error}");
    };

    // No master key at all (and no data directory: none is left behind).
    let bare = Env::sqlite();
    restore(&bare, &backup, "no master key");
    assert!(!bare.data_dir().exists());
    // Another master key.
    let wrong = Env::sqlite();
    with_master_key(&wrong, &base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
    restore(&wrong, &backup, "fingerprint");
    // A directory already in use.
    let used = Env::sqlite();
    with_master_key(&used, &key_text);
    std::fs::write(used.data_dir().join("notes.txt"), "mine").unwrap();
    restore(&used, &backup, "not empty");
    let target = Env::sqlite();
    with_master_key(&target, &key_text);
    // Cut short, in its database.
    let bytes = std::fs::read(&backup).unwrap();
    let truncated = work.join("truncated.backup");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    restore(&target, &truncated, "truncated");
    // One byte changed in the database.
    let mut flipped = bytes.clone();
    let middle = bytes.len() / 2;
    flipped[middle] ^= 0x55;
    let damaged = work.join("damaged.backup");
    std::fs::write(&damaged, &flipped).unwrap();
    restore(&target, &damaged, "damaged");
    // A newer schema than this binary's, and a manifest that lies about the schema.
    let newer = work.join("newer.backup");
    rewritten(&backup, &newer, "m['schema_version'] = 9999");
    restore(&target, &newer, "newer than this binary knows");
    let lying = work.join("lying.backup");
    rewritten(&backup, &lying, "m['schema_version'] = 1");
    restore(&target, &lying, "not the one its manifest states");
    // A database whose pages are damaged, with a manifest that agrees with it: SQLite's
    // integrity check refuses it.
    let corrupt = work.join("corrupt.backup");
    rewritten(&backup, &corrupt, "db[3 * 4096:3 * 4096 + 600] = bytes(600)");
    restore(&target, &corrupt, "SQLite");
    // Another deployment's database under this one's fingerprint: the key is checked against
    // the database itself.
    let stranger = Env::sqlite();
    alice_with_m365(&stranger);
    let strangers = work.join("stranger.backup");
    stranger.ok(&["backup", "--to", strangers.to_str().unwrap()]);
    let ours: Value = {
        let listed = Command::new("tar").arg("-xOf").arg(&backup).arg("manifest.json").output().unwrap();
        serde_json::from_slice(&listed.stdout).unwrap()
    };
    let forged = work.join("forged.backup");
    rewritten(
        &strangers,
        &forged,
        &format!("m['master_key_fingerprint'] = {:?}", ours["master_key_fingerprint"].as_str().unwrap()),
    );
    restore(&target, &forged, "does not open its database");
    // Not a backup, and no file.
    let text = work.join("notes.txt");
    std::fs::write(&text, "x".repeat(2000)).unwrap();
    restore(&target, &text, "not a Tessera backup");
    restore(&target, &work.join("missing.backup"), "cannot open");
    // The good one, after all that, restores.
    target.ok(&["restore", "--from", backup.to_str().unwrap()]);
    assert_eq!(target.json(&["user", "show", "alice@contoso.com"])["email"], "alice@contoso.com");
    restore(&target, &backup, "not empty");

    // What `backup` refuses: a file that exists, a data directory with no database, PostgreSQL.
    let error = env.fails(&["backup", "--to", backup.to_str().unwrap()], 1);
    assert!(error.contains("exists"), "{error}");
    let error = Env::sqlite().fails(&["backup", "--to", work.join("b2").to_str().unwrap()], 1);
    assert!(error.contains("no database"), "{error}");
    let postgres = Env { dir: tempfile::tempdir().unwrap(), database_url: Some("postgres://127.0.0.1:1/none".into()) };
    assert!(postgres.fails(&["backup", "--to", work.join("b3").to_str().unwrap()], 1).contains("pg_dump"));
    assert!(postgres.fails(&["restore", "--from", backup.to_str().unwrap()], 1).contains("pg_restore"));
    assert!(!work.join("b2").exists() && !work.join("b3").exists());
}

/// A database at the schema of the release before this one's last migration, built the way
/// sqlx records migrations (SHA-384 of each file) by Python's sqlite3, not by our migrator.
fn older_schema_database(path: &Path, up_to: i64) {
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-store/migrations/sqlite");
    let script = "import hashlib, os, sqlite3, sys\n\
                  db = sqlite3.connect(sys.argv[1]); up_to = int(sys.argv[3])\n\
                  db.execute('CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
                  installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
                  checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)')\n\
                  for name in sorted(os.listdir(sys.argv[2])):\n\
                  \x20   version = int(name.split('_')[0])\n\
                  \x20   if version > up_to: break\n\
                  \x20   sql = open(os.path.join(sys.argv[2], name), 'rb').read()\n\
                  \x20   db.executescript(sql.decode())\n\
                  \x20   description = name[5:-4].replace('_', ' ')\n\
                  \x20   db.execute('INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                  VALUES (?, ?, 1, ?, 0)', (version, description, hashlib.sha384(sql).digest()))\n\
                  db.commit()\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .arg(&migrations)
        .arg(up_to.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn migrations_are_listed_and_applied_from_an_older_schema_and_a_newer_one_is_refused() {
    // A data directory with no database: everything pending, and nothing created by looking.
    let fresh = Env::sqlite();
    let status = fresh.json(&["migrate", "status"]);
    let binary = status["binary_version"].as_i64().unwrap();
    assert!(binary >= 13);
    assert_eq!(status["database_version"], Value::Null);
    assert_eq!(status["pending"], binary);
    assert!(!fresh.data_dir().join("tessera.db").exists());

    // The previous schema, one migration behind.
    let env = Env::sqlite();
    std::fs::create_dir_all(env.data_dir()).unwrap();
    older_schema_database(&env.data_dir().join("tessera.db"), binary - 1);
    let status = env.json(&["migrate", "status"]);
    assert_eq!(status["database_version"], binary - 1, "{status}");
    assert_eq!(status["pending"], 1, "{status}");
    let migrations = status["migrations"].as_array().unwrap();
    assert!(migrations[..migrations.len() - 1].iter().all(|m| m["state"] == "applied"), "{status}");
    assert_eq!(migrations.last().unwrap()["state"], "pending");
    let upgrade = |version: usize| migrations[version - 1]["upgrade"].as_str().unwrap().to_string();
    assert_eq!(upgrade(14), "finishing", "0014 closes the audit chain's upgrade window");
    assert_eq!((upgrade(13), upgrade(15)), ("compatible".into(), "compatible".into()), "{status}");
    let text = env.ok(&["migrate", "status"]);
    assert!(text.contains("pending") && text.contains(&format!("this binary writes version {binary}")), "{text}");
    let ran = env.json(&["migrate", "run"]);
    assert_eq!(ran["applied"], serde_json::json!([binary]));
    assert_eq!(ran["status"]["pending"], 0);
    assert!(env.ok(&["migrate", "run"]).contains("nothing to apply"));
    // The migrated database serves: a user, audited, on an intact chain.
    env.ok(&["user", "add", "after@contoso.com"]);
    assert_eq!(env.json(&["audit", "verify"])["intact"], true);

    // A migration from a newer release: shown, and refused by `run` and every other command.
    sql_on(
        &env.data_dir().join("tessera.db"),
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ({}, 'from the future', 1, x'00', 0)",
            binary + 1
        ),
    );
    let status = env.json(&["migrate", "status"]);
    assert_eq!(status["migrations"].as_array().unwrap().last().unwrap()["state"], "unknown");
    assert!(env.fails(&["migrate", "run"], 1).contains("does not know"));
    assert!(env.fails(&["user", "list"], 1).contains("newer than this binary"));
    // A migration applied from another file than this binary's is shown as modified.
    sql_on(&env.data_dir().join("tessera.db"), "UPDATE _sqlx_migrations SET checksum = x'01' WHERE version = 1");
    assert_eq!(env.json(&["migrate", "status"])["migrations"][0]["state"], "modified");
}

fn sql_on(database: &Path, statement: &str) {
    let script = "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1])\ndb.executescript(sys.argv[2])\ndb.commit()";
    let out = Command::new("python3").args(["-c", script]).arg(database).arg(statement).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// PostgreSQL: `migrate status | run` there too, and the backup the README gives (pg_dump's
/// custom format, restored with pg_restore into another database) serves with the same
/// certificate and an intact audit chain.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_migrates_on_purpose_and_restores_from_pg_dump_as_the_readme_says() {
    let Some(first) = ThrowawayPg::create().await else { return };
    let Some(second) = ThrowawayPg::create().await else { return };
    let (first_url, second_url) = (first.url.clone(), second.url.clone());
    let checked = tokio::task::spawn_blocking(move || {
        let env = Env { dir: tempfile::tempdir().unwrap(), database_url: Some(first_url.clone()) };
        let status = env.json(&["migrate", "status"]);
        assert_eq!(status["database_version"], Value::Null);
        let binary = status["binary_version"].as_i64().unwrap();
        assert_eq!(env.json(&["migrate", "run"])["applied"].as_array().unwrap().len() as i64, binary);
        assert_eq!(env.json(&["migrate", "status"])["pending"], 0);
        alice_with_m365(&env);
        let certificate = env.json(&["app", "show", "M365"])["signing_certificate"].clone();

        let dump = env.dir.path().join("tessera.pgdump");
        let out = Command::new("pg_dump")
            .args(["--format=custom", "--file"])
            .arg(&dump)
            .arg(&first_url)
            .output()
            .expect("pg_dump (postgresql-client) is installed by scripts/test");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new("pg_restore")
            .args(["--no-owner", "--exit-on-error", "--dbname", &second_url])
            .arg(&dump)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        // The restored database, with the master key kept apart.
        let restored = Env { dir: tempfile::tempdir().unwrap(), database_url: Some(second_url.clone()) };
        with_master_key(&restored, &master_key_text(&env));
        assert_eq!(restored.json(&["migrate", "status"])["pending"], 0);
        assert_eq!(restored.json(&["app", "show", "M365"])["signing_certificate"], certificate);
        assert_eq!(restored.json(&["audit", "verify"])["intact"], true);
        let server = Server::start(&restored, &[]);
        let mut browser = super::web_client::WebClient::new(server.port);
        assert_eq!(browser.sign_in("alice@contoso.com", PASSWORD).status, 303);
        assert!(saml_response(&mut browser, "_pg-restored").contains("SignatureValue"));
        let (code, stderr) = server.terminate();
        assert_eq!(code, Some(0), "{stderr}");
        // And without the key it was sealed under, nothing starts.
        let keyless = Env { dir: tempfile::tempdir().unwrap(), database_url: Some(second_url) };
        assert!(keyless.fails(&["user", "list"], 1).contains("master.key"));
    })
    .await;
    first.drop_database().await;
    second.drop_database().await;
    checked.unwrap();
}

/// The previous release's binary (`scripts/previous-release` builds it; the test command runs
/// that first), or `None` where it was not built (never under CI=true).
fn previous_release() -> Option<PathBuf> {
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/previous-release/tessera");
    if binary.exists() {
        return Some(binary);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "scripts/test builds the previous release under CI=true");
    eprintln!("skipping: run scripts/previous-release to build the previous release");
    None
}

/// A command of `binary` (another release's) on `env`'s data directory and database.
fn run_with(env: &Env, binary: &Path, args: &[&str]) -> Output {
    command_of(env, binary, args).output().unwrap()
}

/// `env`'s command line (its environment: data directory, database), run by `binary`.
fn command_of(env: &Env, binary: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command.args(args).env_clear();
    for (key, value) in env.command(&[]).get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    command
}

fn start_with(env: &Env, binary: &Path, port: u16, extra: &[&str]) -> Server {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", listen.as_str()];
    args.extend_from_slice(extra);
    let mut command = command_of(env, binary, &args);
    let child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(port, "/healthz", None).map(|(status, _)| status) != Some(200) {
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut stderr = String::new();
            server.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            panic!("{} exited ({status}): {stderr}", binary.display());
        }
        assert!(Instant::now() < deadline, "{} did not answer on {port}", binary.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// The README's rolling upgrade, from the previous release (schema 0014) to this one (0015 to
/// 0018, compatible migrations) on PostgreSQL, under 20 SAML sign-ons a second (one in ten a new
/// browser with its password) through haproxy: `migrate run` with the new binary while both old
/// nodes serve, an old node restarted in the middle (it starts on the newer schema, every newer
/// migration being recorded compatible), node A replaced by the new release, then node B, then
/// `migrate finish` (nothing left to apply). Not one sign-on fails; every token is audited; the
/// audit chain is intact; the previous release still works on the upgraded schema.
#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_upgrade_of_two_nodes_from_the_previous_release_fails_no_sign_on() {
    let Some(previous) = previous_release() else { return };
    let Some(db) = ThrowawayPg::create().await else { return };
    let url = db.url.clone();
    let checked = tokio::task::spawn_blocking(move || rolling_upgrade(&previous, url)).await;
    db.drop_database().await;
    checked.unwrap();
}

fn rolling_upgrade(previous: &Path, url: String) {
    let env = Env { dir: tempfile::tempdir().unwrap(), database_url: Some(url) };
    let old = |args: &[&str]| {
        let out = run_with(&env, previous, args);
        assert!(out.status.success(), "previous release {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    // The deployment as the previous release made it.
    let added = {
        let mut command = command_of(&env, previous, &["user", "add", "alice@contoso.com", "--password-stdin"]);
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    old(&["group", "add", "Staff"]);
    old(&["group", "add-member", "Staff", "alice@contoso.com"]);
    old(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    old(&["app", "grant", "M365", "Staff"]);
    let before = env.json(&["migrate", "status"]);
    assert_eq!(before["database_version"], 14, "the previous release's schema: {before}");

    // This release's nodes run as a least-privileged role, granted as the README says (the
    // previous release's run as the owner here: either works for them).
    let owner = env.database_url.clone().unwrap();
    let role = format!("tessera_app_{}", std::process::id());
    let role_url = owner.replacen("://root@", &format!("://{role}@"), 1);
    assert_ne!(role_url, owner, "the test database's URL names its user");
    psql(&owner, &[&format!("DROP ROLE IF EXISTS {role}"), &format!("CREATE ROLE {role} LOGIN")]);

    let (port_a, port_b, front) = (free_port(), free_port(), free_port());
    let public_url = format!("http://127.0.0.1:{front}");
    let mut node_a = Some(start_with(&env, previous, port_a, &["--public-url", &public_url]));
    let mut node_b = Some(start_with(&env, previous, port_b, &["--public-url", &public_url]));
    let node_args = ["--public-url", public_url.as_str(), "--database-url", role_url.as_str()];
    let Some(haproxy) = super::faults::Haproxy::start_with_port(front, &[port_a, port_b]) else { return };
    let front = haproxy.port;

    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let load: Vec<_> = (0..4)
        .map(|thread| {
            let (stop, attempts) = (stop.clone(), attempts.clone());
            std::thread::spawn(move || {
                let mut browser = super::web_client::WebClient::new(front);
                assert_eq!(browser.sign_in("alice@contoso.com", PASSWORD).status, 303);
                for n in 0..2_000usize {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let asked = Instant::now();
                    let id = format!("_up{thread}x{n}");
                    let page = if n % 10 == 9 {
                        let mut fresh = super::web_client::WebClient::new(front);
                        match fresh.sign_in("alice@contoso.com", PASSWORD) {
                            signed_in if signed_in.status == 303 => fresh.entra_sign_on("contoso.com", &id),
                            refused => refused,
                        }
                    } else {
                        browser.entra_sign_on("contoso.com", &id)
                    };
                    let token = page.status == 200 && page.body.contains("name=\"SAMLResponse\"");
                    attempts.lock().unwrap().push((asked.duration_since(started).as_secs_f64(), page.status, token));
                    std::thread::sleep(Duration::from_millis(200).saturating_sub(asked.elapsed()));
                }
            })
        })
        .collect();
    let step = |what: &str| eprintln!("{:5.1} s  {what}", started.elapsed().as_secs_f64());

    std::thread::sleep(Duration::from_secs(2));
    step("migrate run (this release) while both nodes run the previous one");
    let ran = env.json(&["migrate", "run"]);
    assert_eq!(ran["applied"], serde_json::json!([15, 16, 17, 18, 19, 20]), "{ran}");
    assert_eq!(ran["deferred"], serde_json::json!([]), "{ran}");
    // The README's step 1: the grants (again, where the role existed: new tables).
    psql(
        &owner,
        &[
            &format!("GRANT USAGE ON SCHEMA public TO {role}"),
            &format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
            &format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
            &format!("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {role}"),
            &format!("REVOKE INSERT, DELETE, TRUNCATE ON audit_chain_head FROM {role}"),
            &format!("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_chain_upgrade FROM {role}"),
        ],
    );
    std::thread::sleep(Duration::from_secs(2));
    // An old node restarting in the middle of the upgrade starts on the newer schema.
    step("node B: restarted on the previous release, on the upgraded schema");
    let (code, stderr) = node_b.take().unwrap().terminate();
    assert_eq!(code, Some(0), "{stderr}");
    node_b = Some(start_with(&env, previous, port_b, &["--public-url", &public_url]));
    std::thread::sleep(Duration::from_secs(2));
    for (name, port, node) in [("A", port_a, &mut node_a), ("B", port_b, &mut node_b)] {
        step(&format!("node {name}: SIGTERM (drains), then this release on the same port"));
        let (code, stderr) = node.take().unwrap().terminate();
        assert_eq!(code, Some(0), "{stderr}");
        let replaced = Server::start_on(&env, port, &node_args);
        *node = Some(replaced);
        std::thread::sleep(Duration::from_secs(3));
    }
    step("migrate finish");
    let finished = env.json(&["migrate", "finish"]);
    assert_eq!(finished["applied"], serde_json::json!([]), "nothing finishing in this release: {finished}");
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    step("load stopped");

    let attempts = attempts.lock().unwrap().clone();
    let failed: Vec<_> = attempts.iter().filter(|(_, _, token)| !token).collect();
    let tokens = attempts.len() - failed.len();
    eprintln!("rolling upgrade: {} sign-ons, {} failed {failed:?}", attempts.len(), failed.len());
    assert!(attempts.len() >= 200, "20 a second: {}", attempts.len());
    assert!(
        failed.is_empty(),
        "sign-ons failed during the upgrade: {failed:?}; haproxy: {:#?}",
        haproxy.failed_requests()
    );
    let audited = env.json(&["audit", "list", "--action", "saml.issued", "--limit", "10000"]);
    assert_eq!(audited.as_array().unwrap().len(), tokens, "every token audited, by old and new nodes alike");
    let chain = env.json(&["audit", "verify"]);
    assert_eq!(chain["intact"], true, "{chain}");
    assert_eq!(chain["upgrade_open"], false, "{chain}");
    assert_eq!(chain["during_upgrade"], 0, "the previous release links its records too: {chain}");
    eprintln!("audit chain: {} checked, intact", chain["checked"]);
    // The previous release still works on the upgraded schema (0015 to 0018 are compatible).
    let listed = run_with(&env, previous, &["user", "list"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    drop(haproxy);
    for node in [node_a, node_b].into_iter().flatten() {
        let (code, stderr) = node.terminate();
        assert_eq!(code, Some(0), "{stderr}");
    }
    psql(&owner, &[&format!("DROP OWNED BY {role}"), &format!("DROP ROLE {role}")]);
}

/// Runs statements with psql (PostgreSQL's own client), each in turn, stopping at an error.
fn psql(url: &str, statements: &[&str]) {
    for statement in statements {
        let out = Command::new("psql").args(["-v", "ON_ERROR_STOP=1", "-q", url, "-c", statement]).output().unwrap();
        assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// From this release on, a node restarting in the middle of the next rolling upgrade starts:
/// on PostgreSQL a database newer than the binary is used when every newer migration is
/// recorded (by the release that applied it) as compatible, and refused otherwise, as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_starts_on_a_newer_schema_only_when_every_newer_migration_is_recorded_compatible() {
    let Some(db) = ThrowawayPg::create().await else { return };
    let url = db.url.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let env = Env { dir: tempfile::tempdir().unwrap(), database_url: Some(url.clone()) };
        env.ok(&["migrate", "run"]);
        let binary = env.json(&["migrate", "status"])["binary_version"].as_i64().unwrap();
        let recorded = psql_value(&url, "SELECT COUNT(*) FROM schema_upgrade_rules WHERE NOT finishing");
        assert_eq!(recorded, (binary - 1).to_string(), "every rule recorded, one finishing");
        let next = binary + 1;
        psql(
            &url,
            &[
                &format!(
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                     VALUES ({next}, 'the next release', TRUE, '\\x00', 0)"
                ),
                &format!("INSERT INTO schema_upgrade_rules (version, finishing) VALUES ({next}, FALSE)"),
            ],
        );
        env.ok(&["user", "add", "restarted@contoso.com"]);
        let server = Server::start(&env, &[]);
        let (code, stderr) = server.terminate();
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stderr.contains("every newer migration is compatible"), "{stderr}");
        // Finishing, or no rule at all: too new, as before.
        psql(&url, &[&format!("UPDATE schema_upgrade_rules SET finishing = TRUE WHERE version = {next}")]);
        assert!(env.fails(&["user", "list"], 1).contains("newer than this binary"));
        psql(&url, &[&format!("DELETE FROM schema_upgrade_rules WHERE version = {next}")]);
        assert!(env.fails(&["user", "list"], 1).contains("newer than this binary"));
        // And this binary never migrates a newer database.
        assert!(env.fails(&["migrate", "run"], 1).contains("does not know"));
    })
    .await;
    db.drop_database().await;
    checked.unwrap();
}

fn psql_value(url: &str, query: &str) -> String {
    let out = Command::new("psql").args(["-tAq", url, "-c", query]).output().unwrap();
    assert!(out.status.success(), "{query}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
