//! Windows integrated sign-in against the Samba domain controller of `samba.rs` as the KDC:
//! a service account holding `HTTP/tessera.corp.test` and its keytab (exported by account, as
//! `samba-tool domain exportkeytab` and `adcli` make them), users' tickets from `kinit`, and
//! `curl --negotiate` as the browser (it names the service from the URL's host, which
//! `--resolve` sends to 127.0.0.1).

use std::net::TcpListener;
use std::sync::OnceLock;

use base64::Engine;

use super::samba::{STAFF_DN, Samba, add_source, check, samba};
use super::*;

pub(super) const SERVICE_HOST: &str = "tessera.corp.test";

/// The realm's client configuration and the service's keytab, made once.
pub(super) struct Realm {
    pub(super) krb5_conf: String,
    pub(super) keytab: String,
    pub(super) dir: PathBuf,
}

pub(super) fn realm() -> &'static Realm {
    static REALM: OnceLock<Realm> = OnceLock::new();
    REALM.get_or_init(|| make_realm(samba()))
}

fn make_realm(samba: &Samba) -> Realm {
    let dir = samba.dir.join("kerberos");
    std::fs::create_dir_all(&dir).unwrap();
    // A minute of clock skew (MIT allows five), so that a five-minute ticket shown ten minutes
    // on is expired. Not less: a ticket's authenticator must still be fresh when a test sends
    // it again as a replay, after steps that take seconds on a busy machine. With two seconds,
    // GSSAPI once refused such a replay before Tessera's replay record saw it, most likely
    // for an authenticator older than the skew (the test now prints GSSAPI's words).
    let krb5_conf = dir.join("krb5.conf");
    std::fs::write(
        &krb5_conf,
        "[libdefaults]\n\tdefault_realm = CORP.TEST\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n\
         \tdns_canonicalize_hostname = false\n\trdns = false\n\tclockskew = 60\n\
         [realms]\n\tCORP.TEST = {\n\t\tkdc = 127.0.0.2\n\t}\n\
         [domain_realm]\n\t.corp.test = CORP.TEST\n\tcorp.test = CORP.TEST\n",
    )
    .unwrap();
    let smb_conf = samba.dir.join("etc/smb.conf").display().to_string();
    let tool = |args: &[&str], what: &str| {
        check(Command::new("samba-tool").args(args).args(["-s", &smb_conf]).env("KRB5_CONFIG", &krb5_conf), what)
    };
    // Tessera's service account and its SPN; another service's, on another account.
    tool(&["user", "create", "svc-tessera", "Svc-Kennwort-1!"], "the service account");
    tool(&["spn", "add", &format!("HTTP/{SERVICE_HOST}"), "svc-tessera"], "the service principal");
    tool(&["user", "create", "svc-other", "Svc-Kennwort-2!"], "another service's account");
    tool(&["spn", "add", "HTTP/other.corp.test", "svc-other"], "another service's principal");
    let keytab = dir.join("tessera.keytab");
    tool(&["domain", "exportkeytab", &keytab.display().to_string(), "--principal=svc-tessera"], "the service's keytab");
    Realm { krb5_conf: krb5_conf.display().to_string(), keytab: keytab.display().to_string(), dir }
}

impl Realm {
    /// A ticket cache of `principal`'s, from `kinit` with `password` (`lifetime`, e.g. "4s").
    pub(super) fn kinit(&self, principal: &str, password: &str, lifetime: Option<&str>) -> String {
        let cache = format!("FILE:{}", self.dir.join(format!("{principal}-{}.cc", free_port())).display());
        let mut kinit = Command::new("kinit");
        kinit.env("KRB5_CONFIG", &self.krb5_conf).env("KRB5CCNAME", &cache).stdin(Stdio::piped());
        if let Some(lifetime) = lifetime {
            kinit.args(["-l", lifetime]);
        }
        let mut child = kinit.arg(principal).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "kinit {principal}: {}", String::from_utf8_lossy(&out.stderr));
        cache
    }

    /// A ticket cache of `principal`'s, from `kinit -k` with the keys of `keytab` (a computer's).
    pub(super) fn kinit_keytab(&self, principal: &str, keytab: &str) -> String {
        let cache = format!("FILE:{}", self.dir.join(format!("{principal}-{}.cc", free_port())).display());
        let out = Command::new("kinit")
            .env("KRB5_CONFIG", &self.krb5_conf)
            .env("KRB5CCNAME", &cache)
            .args(["-k", "-t", keytab, principal])
            .output()
            .unwrap();
        assert!(out.status.success(), "kinit -k {principal}: {}", String::from_utf8_lossy(&out.stderr));
        cache
    }

    /// `tessera serve` on `port` as `http://tessera.corp.test:PORT`, with this realm's keytab,
    /// 127.0.0.0/8 as the intranet (127.0.0.1 a trusted proxy, so that a forwarded address is
    /// from outside), `vars` added to its environment. MIT's own replay cache is off (it is per
    /// host): a replay refused in these tests is the store's, which every node shares.
    pub(super) fn serve(&self, env: &Env, port: u16, vars: &[(&str, &str)]) -> Server {
        let public_url = format!("http://{SERVICE_HOST}:{port}");
        let flags = [
            "--public-url",
            &public_url,
            "--intranet",
            "127.0.0.0/8",
            "--trusted-proxy",
            "127.0.0.1",
            "--kerberos-keytab",
            &self.keytab,
        ];
        let realm_vars = [("KRB5_CONFIG", self.krb5_conf.as_str()), ("KRB5RCACHETYPE", "none")];
        Server::start_with_environment(env, port, &flags, &[realm_vars.as_slice(), vars].concat())
    }

    /// `curl --negotiate` as `cache`'s principal to `host` (sent to 127.0.0.1:`port`).
    pub(super) fn curl(&self, cache: &str, host: &str, port: u16) -> Command {
        let mut curl = Command::new("curl");
        curl.env("KRB5_CONFIG", &self.krb5_conf).env("KRB5CCNAME", cache).args([
            "-s",
            "--negotiate",
            "-u",
            ":",
            "--resolve",
            &format!("{host}:{port}:127.0.0.1"),
        ]);
        curl
    }

    /// The `Negotiate` token `cache`'s principal sends for `HTTP/host`, caught by a listener of
    /// our own that asks for it (so that Tessera has never seen it).
    pub(super) fn token_for(&self, cache: &str, host: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut curl = self.curl(cache, host, port);
        let mut curl = curl
            .arg(format!("http://{host}:{port}/login"))
            .args(["-v"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut token = None;
        let deadline = Instant::now() + Duration::from_secs(20);
        'connections: while Instant::now() < deadline {
            let mut stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(_) => {
                    if let Ok(Some(_)) = curl.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            loop {
                let mut buffer = vec![0u8; 128 * 1024];
                let n = stream.read(&mut buffer).unwrap_or(0);
                if n == 0 {
                    continue 'connections;
                }
                let request = String::from_utf8_lossy(&buffer[..n]).into_owned();
                if let Some(line) = request.lines().find(|l| l.starts_with("Authorization: Negotiate ")) {
                    token = Some(line["Authorization: Negotiate ".len()..].trim().to_string());
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    break 'connections;
                }
                let challenge =
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n";
                stream.write_all(challenge).unwrap();
            }
        }
        let _ = curl.kill();
        let out = curl.wait_with_output().unwrap();
        token.unwrap_or_else(|| {
            panic!("curl sent no Negotiate token for {host}: {}", String::from_utf8_lossy(&out.stderr))
        })
    }
}

/// A GET of `/login` with `Authorization: Negotiate <token>` (and `extra` headers): the status,
/// the head and the body.
pub(super) fn login_with(port: u16, token: &str, extra: &str) -> (u16, String, String) {
    login_request(port, &format!("Authorization: Negotiate {token}\r\n{extra}"))
}

/// A GET of `/login` with `headers` (each ending in CRLF).
fn login_request(port: u16, headers: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET /login HTTP/1.1\r\nHost: {SERVICE_HOST}:{port}\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The reasons of the Kerberos refusals in the audit trail, oldest first.
fn refusals(env: &Env) -> Vec<String> {
    let failures = env.json(&["audit", "list", "--action", "signin.failure"]);
    failures
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["summary"]["via"] == "kerberos")
        .map(|e| e["summary"]["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_user_with_a_kerberos_ticket_reaches_microsoft_365_without_a_password() {
    let samba = samba();
    let realm = realm();
    let env = Env::sqlite();
    super::samba::corp_connector(samba, &env, &["user12@corp.test", "user13@corp.test"]);
    let port = free_port();
    let public_url = format!("http://{SERVICE_HOST}:{port}");
    let server = realm.serve(&env, port, &[]);

    // Entra sends the user here (SAML, POST binding); the browser is asked for a ticket along
    // with the form, shows it, and is sent on to Entra with a token: no password typed.
    let user12 = realm.kinit("user12@CORP.TEST", "Ad-Pässwort-12!", None);
    let id = "_entra-kerberos-1";
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let request = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="{id}" IssueInstant="{}" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>"#,
        tessera_core::format_millis(now)
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(request);
    let jar = realm.dir.join(format!("jar-{port}")).display().to_string();
    let out = realm
        .curl(&user12, SERVICE_HOST, port)
        .args(["-L", "-c", &jar, "-b", &jar, "--data-urlencode", &format!("SAMLRequest={encoded}")])
        .arg(format!("{public_url}/m365/corp.test/saml/sso"))
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&out.stdout).into_owned();
    // A first sign-in: the password update notice, acknowledged once, then on to Entra.
    let field =
        |page: &str, name: &str| super::web_client::hidden_field(page, name).unwrap_or_else(|| panic!("{page}"));
    let (csrf, continue_id) = (field(&page, "csrf"), field(&page, "continue"));
    let out = realm
        .curl(&user12, SERVICE_HOST, port)
        .args(["-L", "-c", &jar, "-b", &jar, "-d", &format!("csrf={csrf}&continue={continue_id}")])
        .arg(format!("{public_url}/notice"))
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&out.stdout).into_owned();
    let response = field(&page, "SAMLResponse");
    let response = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(response).unwrap()).unwrap();
    assert!(response.contains("urn:federation:authentication:windows"), "{response}");
    let metadata = env.ok(&["app", "metadata", "M365"]);
    if let Some(accepted) = super::pysaml2_accepts(&metadata, &response, id) {
        assert_eq!(accepted["name_id"], samba.read("User12", "objectGUID"), "{accepted}");
    }
    let signed_in = env.json(&["audit", "list", "--action", "signin.kerberos"]);
    assert_eq!(signed_in.as_array().unwrap().len(), 1, "{signed_in}");
    assert_eq!(signed_in[0]["summary"]["principal"], "user12@CORP.TEST");

    // AD FS's insidecorporatenetwork claim in the tokens for Entra: true from the intranet,
    // false from elsewhere (an address a trusted proxy forwarded).
    let path = "/m365/corp.test/adfs/services/trust/13/usernamemixed";
    let rst = |n: usize| {
        let addressed = super::bounds::rst_to(port, path, "user13@corp.test", "Ad-Pässwort-13!", n);
        addressed.replace(&format!("http://127.0.0.1:{port}"), &public_url)
    };
    let soap = ("Content-Type", "application/soap+xml; charset=utf-8");
    let claim = "AttributeName=\"insidecorporatenetwork\" AttributeNamespace=\"http://schemas.microsoft.com/ws/2012/01\"><saml:AttributeValue>";
    let (status, inside) = super::bounds::exchange(port, "POST", path, &[soap], rst(1).as_bytes());
    assert!(status == 200 && inside.contains(&format!("{claim}true<")), "{inside}");
    let forwarded = [soap, ("X-Forwarded-For", "203.0.113.5")];
    let (status, outside) = super::bounds::exchange(port, "POST", path, &forwarded, rst(2).as_bytes());
    assert!(status == 200 && outside.contains(&format!("{claim}false<")), "{outside}");

    // A browser that holds no ticket is asked once: it comes back without answering, and is
    // not asked again in its session (nor after a refused ticket, nor after signing out).
    let (status, head, body) = login_request(port, "");
    assert!(status == 401 && head.contains("www-authenticate: negotiate"), "{head}");
    assert!(head.contains("set-cookie: tessera_windows=asked") && body.contains("action=\"/login\""), "{head}");
    let (status, head, _) = login_request(port, "Cookie: tessera_windows=asked\r\n");
    assert!(status == 200 && !head.contains("www-authenticate") && head.contains("tessera_windows=off"), "{head}");
    let (status, head, _) = login_request(port, "Cookie: tessera_windows=off\r\n");
    assert!(status == 200 && !head.contains("www-authenticate"), "{head}");
    let mut browser = super::web_client::WebClient::new(port);
    browser.get("/login");
    let csrf = browser.cookie("tessera_csrf");
    browser.post("/logout", &[("csrf", &csrf)]);
    assert_eq!(browser.cookie("tessera_windows"), "off", "signed out: not signed straight back in");

    // A sign-on that demands a fresh sign-in (ForceAuthn): the form, whatever the ticket.
    let forced = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_forced" IssueInstant="{}" Version="2.0" ForceAuthn="true"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer></samlp:AuthnRequest>"#,
        tessera_core::format_millis(now)
    );
    let forced = base64::engine::general_purpose::STANDARD.encode(forced);
    let out = realm
        .curl(&user12, SERVICE_HOST, port)
        .args(["-L", "--data-urlencode", &format!("SAMLRequest={forced}")])
        .arg(format!("{public_url}/m365/corp.test/saml/sso"))
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains("action=\"/login\"") && !page.contains("SAMLResponse"), "{page}");
    assert_eq!(env.json(&["audit", "list", "--action", "signin.kerberos"]).as_array().unwrap().len(), 1);

    // Without a ticket to show, or from outside the organization's networks: the form, and no
    // challenge outside (a browser there is never asked).
    let (status, head, body) = login_with(port, "", "");
    assert!(status == 200 && body.contains("Windows sign-in did not work"), "{status} {head}");
    let outside = "X-Forwarded-For: 203.0.113.5\r\n";
    let token = realm.token_for(&user12, SERVICE_HOST);
    let (status, head, body) = login_with(port, &token, outside);
    assert!(status == 200 && !head.contains("www-authenticate") && body.contains("action=\"/login\""), "{head}");
    // (Tessera did not look at the token from outside: it still signs in once, then never again.)
    let (status, head, _) = login_with(port, &token, "");
    assert!(status == 303 && head.contains("set-cookie: tessera_session"), "{head}");
    let (status, _, body) = login_with(port, &token, "");
    assert!(status == 200 && body.contains("Windows sign-in did not work"), "a replayed token: {body}");
    // The same authenticator out of its SPNEGO wrapping (the Kerberos token bare, which GSSAPI
    // takes as well): still the same, still refused.
    let b64 = base64::engine::general_purpose::STANDARD;
    let once = realm.token_for(&user12, SERVICE_HOST);
    assert_eq!(login_with(port, &once, "").0, 303);
    let decoded = b64.decode(&once).unwrap();
    let bare = tessera_auth::kerberos::framing::kerberos_token(&decoded).expect("SPNEGO around Kerberos");
    assert_ne!(bare, decoded.as_slice());
    let (status, _, _) = login_with(port, &b64.encode(bare), "");
    assert_eq!(status, 200, "rewrapped, replayed");

    // NTLM is never taken, bare or inside SPNEGO.
    let ntlm = base64::engine::general_purpose::STANDARD.encode(b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2");
    let (status, head, _) = login_with(port, &ntlm, "");
    assert!(status == 200 && !head.contains("www-authenticate"), "{head}");
    // A ticket for another service; a principal who is no user here (not in the synced OU);
    // an expired ticket (a minute of skew allowed here).
    let (status, _, _) = login_with(port, &realm.token_for(&user12, "other.corp.test"), "");
    assert_eq!(status, 200);
    let administrator = realm.kinit("Administrator@CORP.TEST", super::samba::ADMIN_PASSWORD, None);
    assert_eq!(login_with(port, &realm.token_for(&administrator, SERVICE_HOST), "").0, 200);
    // An expired ticket: one of five minutes (the shortest Samba's KDC serves tickets for),
    // shown to the server ten minutes on (libfaketime), a minute of skew allowed here.
    let short = realm.kinit("user13@CORP.TEST", "Ad-Pässwort-13!", Some("5m"));
    let expired = realm.token_for(&short, SERVICE_HOST);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let later = [
        ("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
        ("FAKETIME", "+10m"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    let server = realm.serve(&env, port, &later);
    let (status, _, body) = login_with(port, &expired, "");
    assert!(status == 200 && body.contains("Windows sign-in did not work"), "{status}");
    assert_eq!(
        refusals(&env),
        [
            "kerberos_malformed",
            "kerberos_replayed",
            "kerberos_replayed",
            "ntlm_refused",
            "kerberos_rejected",
            "unknown_principal",
            "kerberos_rejected"
        ],
        "{}",
        env.ok(&["audit", "list", "--action", "signin.failure"])
    );
    let failures = env.json(&["audit", "list", "--action", "signin.failure"]);
    let last = failures.as_array().unwrap().last().unwrap()["summary"]["detail"].as_str().unwrap().to_lowercase();
    assert!(last.contains("expired"), "GSSAPI's words: {last}");
    assert_eq!(env.json(&["audit", "list", "--action", "signin.kerberos"]).as_array().unwrap().len(), 3);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// `directory kerberos check`: a keytab set against AD. Its own service account (the sign-in
/// test's keys must not change under it): a good keytab passes; one of RC4 keys only (what
/// Samba 4.17 exports by service principal), one exported before the account's password
/// changed, a service principal no account holds, and a file that is no keytab each fail with
/// what to do.
#[test]
fn a_keytab_is_checked_against_active_directory() {
    let samba = samba();
    let realm = realm();
    let env = Env::sqlite();
    add_source(samba, &env, "Corp AD", STAFF_DN);
    let smb_conf = samba.dir.join("etc/smb.conf").display().to_string();
    let tool = |args: &[&str], what: &str| {
        check(Command::new("samba-tool").args(args).args(["-s", &smb_conf]).env("KRB5_CONFIG", &realm.krb5_conf), what)
    };
    tool(&["user", "create", "svc-check", "Svc-Kennwort-3!"], "the checked service account");
    tool(&["spn", "add", "HTTP/check.corp.test", "svc-check"], "its principal");
    let keytab = |name: &str, principal: &str| {
        let path = realm.dir.join(name).display().to_string();
        tool(&["domain", "exportkeytab", &path, &format!("--principal={principal}")], name);
        path
    };
    let good = keytab("check.keytab", "svc-check");
    let rc4 = keytab("check-rc4.keytab", "HTTP/check.corp.test");
    let checked = |keytab: &str| {
        env.run(&[
            "--public-url",
            "https://check.corp.test",
            "--json",
            "directory",
            "kerberos",
            "check",
            "Corp AD",
            "--keytab",
            keytab,
        ])
    };
    let failed = |keytab: &str| -> Vec<String> {
        let out = checked(keytab);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let failing = report["checks"]
            .as_array()
            .map(|checks| {
                checks.iter().filter(|c| c["ok"] == false).map(|c| c["check"].as_str().unwrap().to_string()).collect()
            })
            .unwrap_or_default();
        assert_eq!(out.status.code(), Some(if report["ok"] == true { 0 } else { 1 }), "{report}");
        failing
    };
    assert_eq!(failed(&good), Vec::<String>::new());
    let text = env.ok(&[
        "--public-url",
        "https://check.corp.test",
        "directory",
        "kerberos",
        "check",
        "Corp AD",
        "--keytab",
        &good,
    ]);
    assert!(text.contains("HTTP/check.corp.test is held by CN=svc-check"), "{text}");
    assert_eq!(failed(&rc4), ["aes keys"]);

    // The account's password changes (its key version with it): the keytab is stale.
    tool(&["user", "setpassword", "svc-check", "--newpassword=Svc-Kennwort-4!"], "a new password");
    assert_eq!(failed(&good), ["key version"]);
    let fresh = keytab("check-new.keytab", "svc-check");
    assert_eq!(failed(&fresh), Vec::<String>::new(), "exported again");
    // A public URL whose principal no account holds (Samba, as AD, refuses one on two).
    let unregistered = env.run(&[
        "--public-url",
        "https://nobody.corp.test",
        "directory",
        "kerberos",
        "check",
        "Corp AD",
        "--keytab",
        &fresh,
    ]);
    let said = String::from_utf8_lossy(&unregistered.stdout);
    assert_eq!(unregistered.status.code(), Some(1), "{said}");
    assert!(said.contains("FAIL service principal: no account holds HTTP/nobody.corp.test: register it"), "{said}");

    // Not a keytab, no such file, an address as the public URL, an unknown source: refused, in words.
    let not_keytab = realm.dir.join("not.keytab");
    std::fs::write(&not_keytab, "-----BEGIN CERTIFICATE-----\n").unwrap();
    assert_eq!(failed(&not_keytab.display().to_string()), ["keytab"]);
    let missing = env.run(&["directory", "kerberos", "check", "Corp AD", "--keytab", "/nonexistent.keytab"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the keytab"));
    let address =
        env.run(&["--public-url", "https://10.0.0.5", "directory", "kerberos", "check", "Corp AD", "--keytab", &good]);
    assert!(String::from_utf8_lossy(&address.stderr).contains("needs a public URL with a host name"));
    let unknown = env.run(&["directory", "kerberos", "check", "No such", "--keytab", &good]);
    assert_eq!(unknown.status.code(), Some(1));
}

/// `directory kerberos register`: HTTP/<host> put on the service account, as `setspn -S` does;
/// a second run changes nothing; another account, an unknown one and a malformed name are
/// refused and write nothing; the registered principal then passes the keytab check.
#[test]
fn a_service_principal_is_registered_on_one_account_only() {
    let samba = samba();
    let realm = realm();
    let env = Env::sqlite();
    add_source(samba, &env, "Corp AD", STAFF_DN);
    let smb_conf = samba.dir.join("etc/smb.conf").display().to_string();
    let spns_of = |account: &str| {
        let out = Command::new("samba-tool").args(["spn", "list", account, "-s", &smb_conf]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for account in ["svc-register", "svc-register2"] {
        let out = Command::new("samba-tool")
            .args(["user", "create", account, "Svc-Kennwort-5!", "-s", &smb_conf])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let public = ["--public-url", "https://register.corp.test"];
    let register = |account: &str| {
        env.run(
            &[&public[..], &["--json", "directory", "kerberos", "register", "Corp AD", "--account", account]].concat(),
        )
    };
    let first = register("svc-register");
    let said: Value = serde_json::from_slice(&first.stdout).unwrap_or(Value::Null);
    assert_eq!(first.status.code(), Some(0), "{said} {}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(said["changed"], true, "{said}");
    assert_eq!(said["service_principal"], "HTTP/register.corp.test");
    assert!(said["account"].as_str().unwrap().starts_with("CN=svc-register,"), "{said}");
    assert!(spns_of("svc-register").contains("HTTP/register.corp.test"), "{}", spns_of("svc-register"));
    let again: Value = serde_json::from_slice(&register("svc-register").stdout).unwrap();
    assert_eq!(again["changed"], false, "{again}");

    // Another account, one that does not exist, a name that is none: refused, nothing written.
    let audited = env.json(&["audit", "list", "--action", "directory.kerberos_register"]);
    assert_eq!(audited.as_array().unwrap().len(), 1, "{audited}");
    for (account, expected) in [
        ("svc-register2", "is held by CN=svc-register,"),
        ("svc-nobody", "no account of the domain has the logon name svc-nobody"),
        ("svc/evil", "is not an account's logon name"),
    ] {
        let refused = register(account);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{account}: {stderr}");
        assert!(stderr.contains(expected), "{account}: {stderr}");
    }
    assert!(!spns_of("svc-register2").contains("HTTP/"), "{}", spns_of("svc-register2"));
    assert_eq!(env.json(&["audit", "list", "--action", "directory.kerberos_register"]).as_array().unwrap().len(), 1);

    // Registered, its keys exported: the keytab check passes.
    let keytab = realm.dir.join("register.keytab").display().to_string();
    let out = Command::new("samba-tool")
        .args(["domain", "exportkeytab", &keytab, "--principal=svc-register", "-s", &smb_conf])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let checked = env.run(&[&public[..], &["directory", "kerberos", "check", "Corp AD", "--keytab", &keytab]].concat());
    assert_eq!(checked.status.code(), Some(0), "{}", String::from_utf8_lossy(&checked.stdout));
}
