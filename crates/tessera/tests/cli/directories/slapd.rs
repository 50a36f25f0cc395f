//! A private OpenLDAP server (`slapd`) for the directory tests: started once for this test
//! binary, LDAPS and plain LDAP (for StartTLS) with a throwaway CA, stopped with the binary.

use std::process::Stdio;
use std::sync::OnceLock;

use super::super::*;
use super::{BASE_DN, BIND_DN, BIND_PASSWORD};

/// A private slapd: LDAPS on one port, plain LDAP (for StartTLS) on another, a throwaway CA
/// whose server certificate names 127.0.0.1 only.
pub(super) struct Slapd {
    pub(super) dir: PathBuf,
    pub(super) ldaps: u16,
    pub(super) ldap: u16,
    /// The shell that stops slapd when this binary exits.
    _watchdog: std::process::Child,
}

impl Slapd {
    pub(super) fn ca_file(&self) -> String {
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

pub(super) fn slapd() -> &'static Slapd {
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
         directory {dir}/db\noverlay memberof\n\
         access to dn.subtree=\"ou=frozen,{BASE_DN}\" attrs=userPassword by anonymous auth by * none\n\
         access to attrs=userPassword by self write by anonymous auth by * none\n\
         access to * by * read\n",
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

/// Runs an LDIF change (add, modify or delete records) against the test slapd.
pub(super) fn ldap_change(slapd: &Slapd, ldif: &str) {
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

pub(super) fn person(ou: &str, n: u32) -> String {
    format!(
        "dn: uid=u{n},ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: u{n}\ncn: User {n}\n\
         sn: Number{n}\ngivenName: User\nmail: u{n}@{ou}.test\n\n"
    )
}

/// The entryUUID of `uid` as ldapsearch reads it, turned into an ImmutableID here (not by
/// Tessera's code): base64 of the UUID's 16 bytes.
pub(super) fn immutable_id_by_ldapsearch(slapd: &Slapd, ou: &str, uid: &str) -> String {
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
