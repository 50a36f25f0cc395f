//! `tessera directory`: sources added, tested against a real OpenLDAP server (`slapd`, started
//! once for this test binary, over LDAPS and StartTLS with a private CA), shown and removed; and
//! what is refused before anything is stored.

use std::process::Stdio;
use std::sync::OnceLock;

use super::*;

/// The service account's password: not ASCII, as a directory's may be.
const BIND_PASSWORD: &str = "Dïrectory-Pässwort✓";
const BASE_DN: &str = "dc=corp,dc=test";
const BIND_DN: &str = "cn=admin,dc=corp,dc=test";
/// The first sources' base: its three people and one group (each test adds its own branch).
const PEOPLE_DN: &str = "ou=people,dc=corp,dc=test";

/// A private slapd: LDAPS on one port, plain LDAP (for StartTLS) on another, a throwaway CA
/// whose server certificate names 127.0.0.1 only.
struct Slapd {
    dir: PathBuf,
    ldaps: u16,
    ldap: u16,
    /// The shell that stops slapd when this binary exits.
    _watchdog: std::process::Child,
}

impl Slapd {
    fn ca_file(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn slapd() -> &'static Slapd {
    static SLAPD: OnceLock<Slapd> = OnceLock::new();
    SLAPD.get_or_init(start_slapd)
}

fn start_slapd() -> Slapd {
    // Kept for the life of the test binary; a watchdog stops slapd when the binary exits.
    let dir = tempfile::tempdir().unwrap().keep();
    let path = |name: &str| dir.join(name).display().to_string();
    run_ok(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Tessera test CA"])
            .args(["-keyout", &path("ca.key"), "-out", &path("ca.pem")]),
        "the test CA",
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    run_ok(
        Command::new("openssl").args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"]).args([
            "-keyout",
            &path("server.key"),
            "-out",
            &path("server.csr"),
        ]),
        "the server key",
    );
    run_ok(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in", &path("server.csr"), "-CA", &path("ca.pem")])
            .args([
                "-CAkey",
                &path("ca.key"),
                "-CAcreateserial",
                "-out",
                &path("server.pem"),
                "-extfile",
                &path("san.ext"),
            ]),
        "the server certificate",
    );
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let config = format!(
        "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\ninclude /etc/ldap/schema/nis.schema\n\
         modulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload memberof\n\
         pidfile {dir}/slapd.pid\n\
         TLSCACertificateFile {dir}/ca.pem\nTLSCertificateFile {dir}/server.pem\nTLSCertificateKeyFile {dir}/server.key\n\
         database mdb\nmaxsize 104857600\nsuffix \"{BASE_DN}\"\nrootdn \"{BIND_DN}\"\nrootpw \"{BIND_PASSWORD}\"\n\
         directory {dir}/db\noverlay memberof\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("slapd.conf"), config).unwrap();
    let (ldaps, ldap) = (free_port(), free_port());
    // The watchdog: slapd lives as long as this test binary.
    let script = format!(
        "slapd -d 0 -f {dir}/slapd.conf -h 'ldaps://127.0.0.1:{ldaps}/ ldap://127.0.0.1:{ldap}/' & pid=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; kill $pid 2>/dev/null",
        dir = dir.display(),
        parent = std::process::id()
    );
    let watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", ldaps)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "slapd did not start: see {}", dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    let ldif = format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\no: Corp\n\n\
         dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: uid=alice,ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice Smith\nsn: Smith\ngivenName: Alice\nmail: alice@corp.test\n\n\
         dn: uid=bob,ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob Jones\nsn: Jones\nmail: bob@corp.test\n\n\
         dn: uid=carol,ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: carol\ncn: Carol White\nsn: White\nmail: carol@corp.test\n\n\
         dn: cn=staff,ou=people,{BASE_DN}\nobjectClass: groupOfNames\ncn: staff\nmember: uid=alice,ou=people,{BASE_DN}\nmember: uid=bob,ou=people,{BASE_DN}\n"
    );
    std::fs::write(dir.join("base.ldif"), ldif).unwrap();
    run_ok(
        Command::new("ldapadd")
            .env("LDAPTLS_CACERT", dir.join("ca.pem"))
            .args(["-x", "-H", &format!("ldaps://127.0.0.1:{ldaps}"), "-D", BIND_DN, "-w", BIND_PASSWORD])
            .args(["-f", &path("base.ldif")]),
        "loading the directory",
    );
    Slapd { dir, ldaps, ldap, _watchdog: watchdog }
}

fn add_args<'a>(name: &'a str, urls: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["directory", "add", "ldap", "--name", name, "--kind", "openldap", "--bind-dn", BIND_DN];
    args.extend(["--base-dn", PEOPLE_DN, "--bind-password-stdin"]);
    for url in urls {
        args.extend(["--url", url.as_str()]);
    }
    args.extend(extra);
    args
}

fn add(env: &Env, name: &str, urls: &[String], extra: &[&str], password: &str) -> Output {
    env.run_with_stdin(&add_args(name, urls, extra), &format!("{password}\n"))
}

fn test_report(env: &Env, source: &str) -> (bool, Value) {
    let out = env.run(&["directory", "test", source, "--json"]);
    (out.status.success(), serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn a_source_is_added_tested_over_ldaps_and_starttls_and_removed() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ca = slapd.ca_file();
    let ldaps = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    let out = add(&env, "Corp", &ldaps, &["--ca-file", &ca], BIND_PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (healthy, report) = test_report(&env, "corp");
    assert!(healthy, "{report}");
    assert_eq!((report["users"].as_u64(), report["groups"].as_u64()), (Some(3), Some(1)), "{report}");

    // StartTLS on plain ldap://, and a first server that is down: the second one serves.
    let dead = format!("ldap://127.0.0.1:{}", free_port());
    let urls = vec![dead.clone(), format!("ldap://127.0.0.1:{}", slapd.ldap)];
    assert!(add(&env, "Corp StartTLS", &urls, &["--ca-file", &ca], BIND_PASSWORD).status.success());
    let (healthy, report) = test_report(&env, "Corp StartTLS");
    assert!(!healthy, "a server down is reported: {report}");
    assert_eq!(report["servers"][0]["ok"], false);
    assert_eq!(report["servers"][1]["ok"], true, "{report}");
    assert_eq!(report["users"], 3);

    let shown = env.json(&["directory", "show", "Corp"]);
    assert_eq!((shown["kind"].as_str(), shown["private_ca"].as_bool()), (Some("openldap"), Some(true)));
    assert_eq!(shown["attributes"]["anchors"][0], "entryUUID");
    let everything = format!("{shown}{}", env.ok(&["audit", "list", "--json"]));
    assert!(!everything.contains(BIND_PASSWORD), "the bind password is shown nowhere");
    let database = std::fs::read(env.data_dir().join("tessera.db")).unwrap();
    assert!(!String::from_utf8_lossy(&database).contains("Pässwort"), "stored only sealed");

    let removed = env.ok(&["directory", "remove", "Corp StartTLS"]);
    assert!(removed.contains("0 user(s) stay"), "{removed}");
    let listed = env.json(&["directory", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    env.fails(&["directory", "show", "Corp StartTLS"], 1);
}

#[test]
fn a_wrong_password_another_hosts_certificate_or_an_unknown_ca_fails_the_test() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ca = slapd.ca_file();
    let ldaps = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    assert!(add(&env, "Wrong password", &ldaps, &["--ca-file", &ca], "not the password").status.success());
    let (healthy, report) = test_report(&env, "Wrong password");
    assert!(!healthy);
    assert!(report["servers"][0]["error"].as_str().unwrap().contains("refused the credentials"), "{report}");

    // The certificate names 127.0.0.1, not localhost.
    let by_name = vec![format!("ldaps://localhost:{}", slapd.ldaps)];
    assert!(add(&env, "Other host", &by_name, &["--ca-file", &ca], BIND_PASSWORD).status.success());
    let (healthy, report) = test_report(&env, "Other host");
    assert!(!healthy);
    let error = report["servers"][0]["error"].as_str().unwrap().to_lowercase();
    assert!(error.contains("certificate"), "{report}");

    // A server that takes the connection and never answers: the test ends at the connect
    // timeout (5 s), saying so.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = vec![format!("ldaps://127.0.0.1:{}", silent.local_addr().unwrap().port())];
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    assert!(add(&env, "Silent", &silent_url, &["--ca-file", &ca], BIND_PASSWORD).status.success());
    let started = Instant::now();
    let (healthy, report) = test_report(&env, "Silent");
    assert!(!healthy && started.elapsed() < Duration::from_secs(30), "{report}");
    assert!(
        report["servers"][0]["error"].as_str().unwrap().to_lowercase().contains("timed out")
            || report["servers"][0]["error"].as_str().unwrap().to_lowercase().contains("timeout"),
        "{report}"
    );

    // Without the CA: the system's roots do not vouch for it.
    let system_roots = add(&env, "No CA", &ldaps, &[], BIND_PASSWORD);
    if system_roots.status.success() {
        let (healthy, report) = test_report(&env, "No CA");
        assert!(
            !healthy && report["servers"][0]["error"].as_str().unwrap().to_lowercase().contains("certificate"),
            "{report}"
        );
    } else {
        // A machine without system CAs says so when the source is added.
        assert!(String::from_utf8_lossy(&system_roots.stderr).contains("--ca-file"));
    }
}

#[test]
fn bad_sources_are_refused_before_anything_is_stored() {
    let env = Env::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let not_pem = not_pem.display().to_string();
    let ldaps = vec!["ldaps://127.0.0.1:636".to_string()];
    let cases: Vec<(Vec<String>, Vec<&str>, &str, &str)> = vec![
        (vec!["ldap://dc1.corp.test".into()], vec!["--insecure-plaintext"], BIND_PASSWORD, "loopback"),
        (vec!["https://dc1.corp.test".into()], vec![], BIND_PASSWORD, "ldaps://"),
        (vec!["ldaps://u:p@dc1.corp.test".into()], vec![], BIND_PASSWORD, "credentials"),
        (ldaps.clone(), vec!["--user-filter", "uid=*)(objectClass=*"], BIND_PASSWORD, "parentheses"),
        (ldaps.clone(), vec!["--user-filter", "(uid=*))(|(uid=*)"], BIND_PASSWORD, "balance"),
        (ldaps.clone(), vec!["--attribute", "anchor=entryUUID)(x"], BIND_PASSWORD, "attribute"),
        (ldaps.clone(), vec!["--attribute", "colour=mail"], BIND_PASSWORD, "not a mapping"),
        (ldaps.clone(), vec!["--ca-file", &not_pem], BIND_PASSWORD, "PEM"),
        (ldaps.clone(), vec![], "", "empty"),
    ];
    for (urls, extra, password, expected) in cases {
        let out = add(&env, "Bad", &urls, &extra, password);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{urls:?} {extra:?}: {stderr}");
        assert!(stderr.contains(expected), "{urls:?} {extra:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    let mut bad_dn = add_args("Bad", &ldaps, &[]);
    let position = bad_dn.iter().position(|a| *a == PEOPLE_DN).unwrap();
    bad_dn[position] = "corp";
    assert!(!env.run_with_stdin(&bad_dn, "pw\n").status.success());
    assert_eq!(env.json(&["directory", "list"]), serde_json::json!([]));
    let trail = env.ok(&["audit", "list", "--json"]);
    assert!(!trail.contains("directory.add"), "nothing was added: {trail}");
}

/// Runs an LDIF change (add, modify or delete records) against the test slapd.
fn ldap_change(slapd: &Slapd, ldif: &str) {
    let path = slapd.dir.join(format!("change-{}.ldif", free_port()));
    std::fs::write(&path, ldif).unwrap();
    run_ok(
        Command::new("ldapmodify")
            .env("LDAPTLS_CACERT", slapd.dir.join("ca.pem"))
            .args(["-x", "-H", &format!("ldaps://127.0.0.1:{}", slapd.ldaps), "-D", BIND_DN, "-w", BIND_PASSWORD])
            .args(["-f", &path.display().to_string()]),
        "changing the directory",
    );
}

fn person(ou: &str, n: u32) -> String {
    format!(
        "dn: uid=u{n},ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: u{n}\ncn: User {n}\n\
         sn: Number{n}\ngivenName: User\nmail: u{n}@{ou}.test\n\n"
    )
}

/// The entryUUID of `uid` as ldapsearch reads it, turned into an ImmutableID here (not by
/// Tessera's code): base64 of the UUID's 16 bytes.
fn immutable_id_by_ldapsearch(slapd: &Slapd, ou: &str, uid: &str) -> String {
    use base64::Engine;
    let out = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", slapd.dir.join("ca.pem"))
        .args(["-x", "-LLL", "-H", &format!("ldaps://127.0.0.1:{}", slapd.ldaps), "-D", BIND_DN, "-w", BIND_PASSWORD])
        .args(["-b", &format!("ou={ou},{BASE_DN}"), &format!("(uid={uid})"), "entryUUID"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let uuid = text.lines().find_map(|l| l.strip_prefix("entryUUID: ")).unwrap().replace('-', "");
    let bytes: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&uuid[2 * i..2 * i + 2], 16).unwrap()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sync(env: &Env, source: &str, flags: &[&str]) -> Value {
    let mut args = vec!["directory", "sync", source];
    args.extend(flags);
    env.json(&args)
}

#[test]
fn a_sync_creates_updates_suspends_and_stops_before_a_mass_suspension() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ou = "sync1";
    let mut ldif = format!("dn: ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: {ou}\n\n");
    for n in 1..=40 {
        ldif.push_str(&person(ou, n));
    }
    ldap_change(slapd, &ldif);
    let base = format!("ou={ou},{BASE_DN}");
    let urls = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    let ca = slapd.ca_file();
    let mut args = add_args("Sync", &urls, &["--ca-file", &ca]);
    let position = args.iter().position(|a| *a == PEOPLE_DN).unwrap();
    args[position] = &base;
    let out = env.run_with_stdin(&args, &format!("{BIND_PASSWORD}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let preview = sync(&env, "Sync", &["--dry-run"]);
    assert_eq!((preview["created"].as_u64(), preview["dry_run"].as_bool()), (Some(40), Some(true)), "{preview}");
    env.fails(&["user", "show", "u1@sync1.test"], 1);

    let first = sync(&env, "Sync", &[]);
    assert_eq!((first["created"].as_u64(), first["errors"].as_u64()), (Some(40), Some(0)), "{first}");
    let u1 = env.json(&["user", "show", "u1@sync1.test"]);
    assert_eq!(u1["immutable_id"].as_str().unwrap(), immutable_id_by_ldapsearch(slapd, ou, "u1"), "{u1}");
    assert_eq!(u1["last_name"], "Number1");

    // One renamed, one deleted: updated and suspended; the rest unchanged.
    ldap_change(
        slapd,
        &format!(
            "dn: uid=u2,ou={ou},{BASE_DN}\nchangetype: modify\nreplace: sn\nsn: Renamed\n\n\
             dn: uid=u3,ou={ou},{BASE_DN}\nchangetype: delete\n\n"
        ),
    );
    let second = sync(&env, "Sync", &[]);
    assert_eq!(
        (second["updated"].as_u64(), second["suspended"].as_u64(), second["unchanged"].as_u64()),
        (Some(1), Some(1), Some(38)),
        "{second}"
    );
    assert_eq!(env.json(&["user", "show", "u2@sync1.test"])["last_name"], "Renamed");
    assert_eq!(env.json(&["user", "show", "u3@sync1.test"])["state"], "suspended");

    // u3 back under a new entry: a new anchor for a known UPN is reported, not followed.
    ldap_change(slapd, &person(ou, 3));
    let third = sync(&env, "Sync", &[]);
    assert_eq!((third["created"].as_u64(), third["errors"].as_u64()), (Some(0), Some(1)), "{third}");
    assert!(third["messages"][0].as_str().unwrap().contains("anchor changed"), "{third}");

    // Ten of forty gone: more than 10%, so nothing happens until the administrator says so.
    let mut gone = String::new();
    for n in 31..=40 {
        gone.push_str(&format!("dn: uid=u{n},ou={ou},{BASE_DN}\nchangetype: delete\n\n"));
    }
    ldap_change(slapd, &gone);
    let refused = env.fails(&["directory", "sync", "Sync"], 1);
    assert!(refused.contains("--allow-mass-suspend"), "{refused}");
    assert_eq!(env.json(&["user", "show", "u40@sync1.test"])["state"], "active", "nothing changed");
    let allowed = sync(&env, "Sync", &["--allow-mass-suspend"]);
    assert_eq!(allowed["suspended"].as_u64(), Some(10), "{allowed}");
    let trail = env.ok(&["audit", "list", "--json"]);
    assert!(trail.contains("directory.sync"), "each sync is in the audit trail");
}

#[test]
fn a_source_user_signs_in_with_their_directory_password_until_the_source_drops_them() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ou = "pt";
    let mut ldif = format!("dn: ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: {ou}\n\n");
    for n in 1..=3 {
        ldif.push_str(&person(ou, n).replace("\n\n", &format!("\nuserPassword: Pässwort-{n}!\n\n")));
    }
    ldap_change(slapd, &ldif);
    let base = format!("ou={ou},{BASE_DN}");
    let urls = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    let ca = slapd.ca_file();
    let mut args = add_args("Pass-through", &urls, &["--ca-file", &ca, "--authenticate", "bind"]);
    let position = args.iter().position(|a| *a == PEOPLE_DN).unwrap();
    args[position] = &base;
    assert!(env.run_with_stdin(&args, &format!("{BIND_PASSWORD}\n")).status.success());
    assert_eq!(sync(&env, "Pass-through", &[])["created"], 3);
    env.ok(&["group", "add", "Staff"]);
    for n in 1..=2 {
        env.ok(&["group", "add-member", "Staff", &format!("u{n}@pt.test")]);
    }
    env.ok(&["app", "add", "m365", "--domain", "pt.test", "--label", "M365"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
    let u1 = env.json(&["user", "show", "u1@pt.test"]);
    assert!(u1["password_set"].as_bool() != Some(true), "no password of theirs is kept: {u1}");

    let server = Server::start(&env, &[]);
    let port = server.port;
    let path = "/m365/pt.test/adfs/services/trust/13/usernamemixed";
    let soap = [("Content-Type", "application/soap+xml; charset=utf-8")];
    let trust = |user: &str, password: &str, n: usize| {
        super::bounds::exchange(
            port,
            "POST",
            path,
            &soap,
            super::bounds::rst_to(port, path, user, password, n).as_bytes(),
        )
    };
    let (status, token) = trust("u1@pt.test", "Pässwort-1!", 1);
    assert_eq!(status, 200, "{token}");
    assert!(token.contains(u1["immutable_id"].as_str().unwrap()), "the token carries the ImmutableID: {token}");
    let (status, fault) = trust("u1@pt.test", "Pässwort-2!", 2);
    assert!(status == 400 && fault.contains("FailedAuthentication"), "{fault}");
    // Filter syntax in the password reaches the directory only as a bind's password.
    let (status, _) = trust("u1@pt.test", "*)(uid=*", 3);
    assert_eq!(status, 400);

    // Gone from the directory: suspended at the next sync, and refused.
    ldap_change(slapd, &format!("dn: uid=u2,ou={ou},{BASE_DN}\nchangetype: delete\n\n"));
    assert_eq!(trust("u2@pt.test", "Pässwort-2!", 4).0, 400, "the directory no longer knows them");
    assert_eq!(sync(&env, "Pass-through", &["--allow-mass-suspend"])["suspended"], 1);
    assert_eq!(env.json(&["user", "show", "u2@pt.test"])["state"], "suspended");
    assert_eq!(trust("u2@pt.test", "Pässwort-2!", 5).0, 400);
    // Suspended in Tessera, the directory's yes is not enough.
    env.ok(&["user", "suspend", "u1@pt.test"]);
    assert_eq!(trust("u1@pt.test", "Pässwort-1!", 6).0, 400);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");

    let failures = env.json(&["audit", "list", "--action", "signin.failure"]);
    let reasons: Vec<&str> =
        failures.as_array().unwrap().iter().filter_map(|e| e["summary"]["reason"].as_str()).collect();
    assert_eq!(
        reasons,
        ["wrong_password", "wrong_password", "directory_account_disabled", "directory_account_disabled", "suspended"],
        "each refusal counted, with its reason: {failures}"
    );
}

#[test]
fn serve_syncs_every_source_at_start_and_audits_a_sync_that_fails() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ou = "sched";
    let mut ldif = format!("dn: ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: {ou}\n\n");
    for n in 1..=3 {
        ldif.push_str(&person(ou, n));
    }
    ldap_change(slapd, &ldif);
    let base = format!("ou={ou},{BASE_DN}");
    let ca = slapd.ca_file();
    for (name, url) in [
        ("Scheduled", format!("ldaps://127.0.0.1:{}", slapd.ldaps)),
        ("Down", format!("ldaps://127.0.0.1:{}", free_port())),
    ] {
        let urls = vec![url];
        let mut args = add_args(name, &urls, &["--ca-file", &ca]);
        let position = args.iter().position(|a| *a == PEOPLE_DN).unwrap();
        args[position] = &base;
        assert!(env.run_with_stdin(&args, &format!("{BIND_PASSWORD}\n")).status.success());
    }
    let server = Server::start(&env, &["--directory-sync-minutes", "30"]);
    let started = Instant::now();
    while !env.run(&["user", "show", "u3@sched.test"]).status.success() {
        assert!(started.elapsed() < Duration::from_secs(30), "the first pass runs at start");
        std::thread::sleep(Duration::from_millis(200));
    }
    let failed = loop {
        let failed = env.json(&["audit", "list", "--action", "directory.sync_failed"]);
        if !failed.as_array().unwrap().is_empty() || started.elapsed() > Duration::from_secs(30) {
            break failed;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(failed[0]["actor"], "system:directory-sync", "{failed}");
    assert!(failed[0]["summary"]["reason"].as_str().unwrap().contains("no server of the source answered"), "{failed}");
    let synced = env.json(&["audit", "list", "--action", "directory.sync"]);
    assert_eq!(synced[0]["summary"]["created"], 3, "{synced}");
}

#[test]
fn an_immutable_id_is_set_by_hand_or_from_an_ad_guid_before_federation() {
    let env = Env::sqlite();
    // The AD byte order of a GUID's text form, as Entra Connect writes it (worked out apart:
    // Python's uuid.UUID(...).bytes_le, base64).
    let guid = "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}";
    let ada = env.json(&["user", "add", "ada@contoso.com", "--immutable-id-from-guid", guid]);
    assert_eq!(ada["immutable_id"], "4AQlP4lP0xGaDAMF6CwzAQ==");
    let bob = env.json(&["user", "add", "bob@contoso.com"]);
    env.fails(&["user", "add", "x@contoso.com", "--immutable-id", "QUJD", "--immutable-id-from-guid", guid], 2);
    assert!(env.fails(&["user", "add", "x@contoso.com", "--immutable-id-from-guid", "not-a-guid"], 1).contains("GUID"));

    let changed = env.json(&[
        "user",
        "set",
        "bob@contoso.com",
        "--immutable-id",
        "Qm9iLUZyb20tRW50cmE=",
        "--upn",
        "robert@contoso.com",
    ]);
    assert_eq!(
        (changed["upn"].as_str(), changed["immutable_id"].as_str()),
        (Some("robert@contoso.com"), Some("Qm9iLUZyb20tRW50cmE="))
    );
    for (args, expected) in [
        (vec!["user", "set", "robert@contoso.com", "--immutable-id", "4AQlP4lP0xGaDAMF6CwzAQ=="], "another user's"),
        (vec!["user", "set", "robert@contoso.com", "--upn", "ADA@contoso.com"], "already used"),
        (vec!["user", "set", "robert@contoso.com", "--immutable-id", "has space"], "immutable_id"),
        (vec!["user", "set", "robert@contoso.com"], "nothing to change"),
    ] {
        let error = env.fails(&args, 1);
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    let robert = env.json(&["user", "show", "robert@contoso.com"]);
    assert_eq!(robert["immutable_id"], "Qm9iLUZyb20tRW50cmE=", "a refused change changed nothing");
    assert_eq!(robert["id"], bob["id"]);
    let trail = env.json(&["audit", "list", "--action", "user.set_identity"]);
    assert_eq!(trail.as_array().unwrap().len(), 1, "{trail}");
    assert_eq!(trail[0]["summary"]["immutable_id"]["before"], bob["immutable_id"]);
}
