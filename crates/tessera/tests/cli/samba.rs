//! Active Directory: a real Samba domain controller (LDAP and Kerberos, on 127.0.0.2 so that its
//! ports stay apart), started once for this test binary. Users synced with the ImmutableID Entra
//! expects (base64 of objectGUID, or of mS-DS-ConsistencyGuid when set, as ldapsearch reads
//! them), signing in with their AD password (WS-Trust, and SAML as Entra starts it, checked by
//! pysaml2 in Entra's place), a password AD wants changed told so, the Entra side compared and
//! the domain federated through the Graph double, a user disabled in AD refused after the
//! (incremental) sync, and a group of 1,600 members read range by range.

use std::process::Stdio;
use std::sync::OnceLock;

use base64::Engine;

use super::*;

pub(super) const STAFF_DN: &str = "OU=Staff,DC=corp,DC=test";
const ADMIN_DN: &str = "CN=Administrator,CN=Users,DC=corp,DC=test";
pub(super) const ADMIN_PASSWORD: &str = "Adm1n-Pässword!";
pub(super) const HOST: &str = "127.0.0.2";

pub(super) struct Samba {
    pub(super) dir: PathBuf,
    _watchdog: Child,
}

impl Samba {
    fn ca_file(&self) -> String {
        self.dir.join("tls/ca.pem").display().to_string()
    }

    /// ldapmodify / ldapsearch as Administrator over LDAPS.
    fn ldap(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool);
        cmd.env("LDAPTLS_CACERT", self.dir.join("tls/ca.pem")).args([
            "-x",
            "-H",
            &format!("ldaps://{HOST}"),
            "-D",
            ADMIN_DN,
            "-w",
            ADMIN_PASSWORD,
        ]);
        cmd
    }

    pub(super) fn change(&self, ldif: &str) {
        let path = self.dir.join(format!("change-{}.ldif", free_port()));
        std::fs::write(&path, ldif).unwrap();
        let out = self.ldap("ldapmodify").args(["-f", &path.display().to_string()]).output().unwrap();
        assert!(out.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A text attribute of `cn` as ldapsearch prints it (`name: value`).
    fn read_text(&self, cn: &str, attribute: &str) -> String {
        self.search(cn, attribute, ": ")
    }

    /// An attribute of `cn` as ldapsearch prints it (`name:: base64` for binary values).
    pub(super) fn read(&self, cn: &str, attribute: &str) -> String {
        self.search(cn, attribute, ":: ")
    }

    fn search(&self, cn: &str, attribute: &str, separator: &str) -> String {
        let out =
            self.ldap("ldapsearch").args(["-LLL", "-b", STAFF_DN, &format!("(cn={cn})"), attribute]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let prefix = format!("{attribute}{separator}");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{attribute} of {cn}: {text}"))
            .to_string()
    }
}

/// A WS-Trust usernamemixed sign-in of `upn` at corp.test's connector (message number `n`): the
/// status and body.
pub(super) fn ws_trust(port: u16, upn: &str, password: &str, n: usize) -> (u16, String) {
    let path = "/m365/corp.test/adfs/services/trust/13/usernamemixed";
    let soap = [("Content-Type", "application/soap+xml; charset=utf-8")];
    super::bounds::exchange(port, "POST", path, &soap, super::bounds::rst_to(port, path, upn, password, n).as_bytes())
}

pub(super) fn samba() -> &'static Samba {
    static SAMBA: OnceLock<Samba> = OnceLock::new();
    SAMBA.get_or_init(start_samba)
}

pub(super) fn check(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_samba() -> Samba {
    let dir = tempfile::tempdir().unwrap().keep();
    let at = |name: &str| dir.join(name).display().to_string();
    // 127.0.0.0/8 is loopback on Linux already; the address is added where it is not.
    let _ = Command::new("ip").args(["addr", "add", "127.0.0.2/8", "dev", "lo"]).output();
    check(
        Command::new("samba-tool")
            .args([
                "domain",
                "provision",
                "--realm=CORP.TEST",
                "--domain=CORP",
                "--server-role=dc",
                "--dns-backend=NONE",
            ])
            .arg(format!("--adminpass={ADMIN_PASSWORD}"))
            .arg(format!("--targetdir={}", dir.display()))
            .args([&format!("--host-ip={HOST}"), "--use-rfc2307", &format!("--option=interfaces={HOST}")])
            .arg("--option=bind interfaces only=yes"),
        "provisioning the domain",
    );
    // Our own CA and a certificate naming 127.0.0.2, so that TLS is checked as in production.
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    check(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Corp test CA"])
            .args(["-keyout", &at("tls/ca.key"), "-out", &at("tls/ca.pem")]),
        "the CA",
    );
    std::fs::write(dir.join("tls/san.ext"), format!("subjectAltName=IP:{HOST}\nbasicConstraints=CA:FALSE\n")).unwrap();
    check(
        Command::new("openssl").args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", &format!("/CN={HOST}")]).args([
            "-keyout",
            &at("tls/key.pem"),
            "-out",
            &at("tls/dc.csr"),
        ]),
        "the DC key",
    );
    check(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in", &at("tls/dc.csr"), "-CA", &at("tls/ca.pem")])
            .args([
                "-CAkey",
                &at("tls/ca.key"),
                "-CAcreateserial",
                "-out",
                &at("tls/cert.pem"),
                "-extfile",
                &at("tls/san.ext"),
            ]),
        "the DC certificate",
    );
    std::fs::set_permissions(dir.join("tls/key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::create_dir_all(dir.join("run")).unwrap();
    let conf_path = dir.join("etc/smb.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    // The file server part exits in this environment and takes samba down: an AD DC for LDAP
    // and Kerberos does not need it (TESTBEDS.md).
    let extra = format!(
        "[global]\n\tserver services = rpc, nbt, ldap, cldap, kdc, drepl, kcc, winbindd\n\tpid directory = {run}\n\
         \ttls enabled = yes\n\ttls keyfile = {key}\n\ttls certfile = {cert}\n\ttls cafile = {ca}\n",
        run = at("run"),
        key = at("tls/key.pem"),
        cert = at("tls/cert.pem"),
        ca = at("tls/ca.pem")
    );
    std::fs::write(&conf_path, conf.replacen("[global]\n", &extra, 1)).unwrap();
    let script = format!(
        "samba --foreground -s {conf} </dev/null & pid=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; kill $pid 2>/dev/null",
        conf = conf_path.display(),
        parent = std::process::id()
    );
    let watchdog = Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let samba = Samba { dir, _watchdog: watchdog };
    let started = Instant::now();
    loop {
        let probe =
            samba.ldap("ldapsearch").args(["-LLL", "-b", "", "-s", "base", "defaultNamingContext"]).output().unwrap();
        if probe.status.success() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "samba did not answer: {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    samba.change(&format!("dn: {STAFF_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: Staff\n\n"));
    let mut ldif = String::new();
    for n in 1..=20 {
        let password = format!("\"Ad-Pässwort-{n}!\"");
        let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
        ldif.push_str(&format!(
            "dn: CN=User{n},{STAFF_DN}\nchangetype: add\nobjectClass: user\nsAMAccountName: user{n}\n\
             userPrincipalName: user{n}@corp.test\nmail: user{n}@corp.test\ngivenName: User\nsn: Number{n}\n\
             unicodePwd:: {}\nuserAccountControl: 512\n\n",
            base64::engine::general_purpose::STANDARD.encode(utf16)
        ));
    }
    samba.change(&ldif);
    samba
}

/// A source of the Samba domain's users under `base`, read as Administrator over LDAPS.
pub(super) fn add_source(samba: &Samba, env: &Env, name: &str, base: &str) {
    let (url, ca) = (format!("ldaps://{HOST}"), samba.ca_file());
    let add = [
        "directory",
        "add",
        "ldap",
        "--name",
        name,
        "--kind",
        "ad",
        "--url",
        &url,
        "--ca-file",
        &ca,
        "--bind-dn",
        ADMIN_DN,
        "--bind-password-stdin",
        "--base-dn",
        base,
    ];
    let out = env.run_with_stdin(&add, &format!("{ADMIN_PASSWORD}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The domain's users synced from `STAFF_DN` into `env` (source "Corp AD"), corp.test's
/// Microsoft 365 connector ("M365"), and group "Staff" of `members` granted to it.
pub(super) fn corp_connector(samba: &Samba, env: &Env, members: &[&str]) {
    add_source(samba, env, "Corp AD", STAFF_DN);
    env.json(&["directory", "sync", "Corp AD"]);
    env.ok(&["app", "add", "m365", "--domain", "corp.test", "--label", "M365"]);
    env.ok(&["group", "add", "Staff"]);
    for member in members {
        env.ok(&["group", "add-member", "Staff", member]);
    }
    env.ok(&["app", "grant", "M365", "Staff"]);
}

#[test]
fn active_directory_users_sync_with_their_guid_as_immutable_id_and_sign_in_with_their_ad_password() {
    let samba = samba();
    let env = Env::sqlite();
    // Entra Connect's anchor, when set, wins over objectGUID.
    let consistency = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
    samba.change(&format!("dn: CN=User2,{STAFF_DN}\nchangetype: modify\nreplace: mS-DS-ConsistencyGuid\nmS-DS-ConsistencyGuid:: {consistency}\n\n"));
    add_source(samba, &env, "Corp AD", STAFF_DN);
    let tested = env.json(&["directory", "test", "Corp AD"]);
    assert_eq!(tested["users"], 20, "{tested}");

    let synced = env.json(&["directory", "sync", "Corp AD"]);
    assert_eq!((synced["created"].as_u64(), synced["errors"].as_u64()), (Some(20), Some(0)), "{synced}");
    let user1 = env.json(&["user", "show", "user1@corp.test"]);
    assert_eq!(user1["immutable_id"].as_str().unwrap(), samba.read("User1", "objectGUID"), "{user1}");
    assert_eq!(env.json(&["user", "show", "user2@corp.test"])["immutable_id"], consistency);

    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "user1@corp.test"]);
    env.ok(&["app", "add", "m365", "--domain", "corp.test", "--label", "M365"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
    let server = Server::start(&env, &[]);
    let port = server.port;
    let trust = |password: &str, n: usize| ws_trust(port, "user1@corp.test", password, n);
    let (status, token) = trust("Ad-Pässwort-1!", 1);
    assert_eq!(status, 200, "{token}");
    assert!(token.contains(user1["immutable_id"].as_str().unwrap()), "{token}");
    assert_eq!(trust("not-the-password", 2).0, 400);

    // Through SAML, as Entra starts it: the sign-in page takes the AD password, and pysaml2 in
    // Entra's place accepts the Response, whose NameID is the objectGUID's base64.
    let mut browser = super::web_client::WebClient::new(port);
    let signed_in = browser.sign_in("user1@corp.test", "Ad-Pässwort-1!");
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let id = "_entra-samba-1";
    let posted = browser.entra_sign_on("corp.test", id);
    assert_eq!(posted.status, 200, "{}", posted.body);
    let response = super::web_client::hidden_field(&posted.body, "SAMLResponse").expect("an auto-POST page");
    let response = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(response).unwrap()).unwrap();
    let metadata = env.ok(&["app", "metadata", "M365"]);
    if let Some(accepted) = super::pysaml2_accepts(&metadata, &response, id) {
        assert_eq!(accepted["name_id"], samba.read("User1", "objectGUID"), "{accepted}");
        assert_eq!(accepted["name_id_format"], "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
    }

    // "Must change at next logon" in AD (pwdLastSet 0): the right password is told so (AD says
    // 773 only after the password checks); a wrong one gets the one failure message.
    samba.change(&format!("dn: CN=User3,{STAFF_DN}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 0\n\n"));
    let mut browser = super::web_client::WebClient::new(port);
    let told = browser.sign_in("user3@corp.test", "Ad-Pässwort-3!");
    assert!(told.status == 200 && told.body.contains("wants it changed before you sign in"), "{}", told.body);
    let wrong = browser.sign_in("user3@corp.test", "Ad-Pässwort-4!");
    assert!(wrong.body.contains("incorrect") && !wrong.body.contains("wants it changed"), "{}", wrong.body);
    let (status, fault) = ws_trust(port, "user3@corp.test", "Ad-Pässwort-3!", 9);
    assert!(status == 400 && fault.contains("must be changed in the organization"), "{fault}");

    // Entra, coming from another IdP, holds another ImmutableID for user2: --from-entra reports
    // the conflict with the source's anchor and changes nothing; user1 matches.
    let mut graph = super::m365_graph::tenant();
    graph.clients.get_mut("tessera").unwrap().permissions.push("User.ReadWrite.All");
    graph.domains.insert(
        "corp.test".into(),
        super::graph_double::DomainRecord {
            authentication_type: "Managed",
            verified: true,
            root: true,
            initial: false,
            default: false,
        },
    );
    graph.add_user(super::graph_double::UserRecord::new("user1@corp.test", user1["immutable_id"].as_str()));
    graph.add_user(super::graph_double::UserRecord::new("user2@corp.test", Some("ZnJvbS1hZGZz")));
    let double = super::graph_double::Double::start(graph);
    let run = super::m365_graph::Run { env: &env, double: &double };
    let report = run.json(&["users", "--domain", "corp.test"]);
    let row = |upn: &str| report["users"].as_array().unwrap().iter().find(|r| r["upn"] == upn).unwrap().clone();
    assert_eq!(
        (&row("user1@corp.test")["status"], &row("user2@corp.test")["status"]),
        (&"match".into(), &"different".into())
    );
    assert_eq!(row("user2@corp.test")["source"], "Corp AD", "{report}");
    assert_eq!(report["counts"]["no_entra_user"], 18, "{report}");
    let copied = run.json(&["users", "--domain", "corp.test", "--from-entra"]);
    assert!(copied["copies"].as_array().unwrap().is_empty(), "{copied}");
    assert!(copied["conflicts"][0]["reason"].as_str().unwrap().contains("Corp AD"), "{copied}");
    assert_eq!(env.json(&["user", "show", "user2@corp.test"])["immutable_id"], consistency);
    // The domain federated with the connector through Graph: Entra now sends corp.test's users
    // here, and matches them by the ImmutableIDs above.
    let plan = run.json(&["enable", "--domain", "corp.test"]);
    assert_eq!(plan["action"], "create", "{plan}");
    let issuer = env.json(&["app", "show", "M365"])["issuer"].as_str().unwrap().to_string();
    let federated = double.with(|g| g.configurations.get("corp.test").cloned()).expect("federated");
    assert_eq!(federated["issuerUri"], issuer.as_str());
    assert_eq!(double.with(|g| g.domains["corp.test"].authentication_type), "Federated");

    // Disabled in AD: suspended at the next sync, and refused with the right password.
    samba.change(&format!(
        "dn: CN=User1,{STAFF_DN}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n\n"
    ));
    let resynced = env.json(&["directory", "sync", "Corp AD"]);
    assert_eq!((resynced["suspended"].as_u64(), resynced["unchanged"].as_u64()), (Some(1), Some(19)), "{resynced}");
    // Read incrementally by uSNChanged: the entries changed since (User1, User3's pwdLastSet).
    assert_eq!(resynced["read"], "incremental", "{resynced}");
    assert!(resynced["read_in_full"].as_u64().unwrap() <= 3, "{resynced}");
    assert_eq!(env.json(&["user", "show", "user1@corp.test"])["state"], "suspended");
    assert_eq!(trust("Ad-Pässwort-1!", 3).0, 400);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// A group of more members than AD gives at once (MaxValRange, 1,500): its members come as
/// `member;range=0-1499` (Tessera asks for that range, as AD gives it unasked; Samba ranges
/// only when asked), and the sync reads the rest range by range.
#[test]
fn a_group_of_more_than_1500_members_is_read_range_by_range() {
    let samba = samba();
    let env = Env::sqlite();
    let ou = "OU=Many,DC=corp,DC=test";
    let mut ldif = format!("dn: {ou}\nchangetype: add\nobjectClass: organizationalUnit\nou: Many\n\n");
    for n in 1..=1600 {
        // 544: an enabled account that needs no password (quicker to make than 1,600 hashes).
        ldif.push_str(&format!(
            "dn: CN=M{n},{ou}\nchangetype: add\nobjectClass: user\nsAMAccountName: m{n}\n\
             userPrincipalName: m{n}@many.test\nuserAccountControl: 544\n\n"
        ));
    }
    ldif.push_str(&format!(
        "dn: CN=Everyone Many,{ou}\nchangetype: add\nobjectClass: group\nsAMAccountName: everyone-many\n"
    ));
    for n in 1..=1600 {
        ldif.push_str(&format!("member: CN=M{n},{ou}\n"));
    }
    ldif.push('\n');
    let started = Instant::now();
    samba.change(&ldif);
    eprintln!("1,600 users and their group made in Samba in {:?}", started.elapsed());
    // Asked for a range, the server gives one (so that this test is about ranges).
    let out = samba
        .ldap("ldapsearch")
        .args(["-LLL", "-b", &format!("CN=Everyone Many,{ou}"), "-s", "base", "(objectClass=*)", "member;range=0-1499"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("member;range=0-1499"), "Samba ranges member values: {}", &listed[..listed.len().min(400)]);
    assert_eq!(listed.matches("\nmember;range").count(), 1500, "the first range only");

    add_source(samba, &env, "Many", ou);
    let synced = env.json(&["directory", "sync", "Many"]);
    assert_eq!(
        (synced["created"].as_u64(), synced["groups_created"].as_u64(), synced["memberships_added"].as_u64()),
        (Some(1600), Some(1), Some(1600)),
        "{synced}"
    );
    let group = env.json(&["group", "show", "Everyone Many"]);
    assert_eq!(group["members"].as_array().unwrap().len(), 1600);
}

/// The account page's password change for an AD user: AD's own policy decides (its refusal said
/// in its words, nothing changed), then the change is made at AD (the old value deleted and the
/// new one added, which AD checks as the user's own change): the new password signs in at once,
/// through the sign-in page and through WS-Trust (a bind AD answers), and the old one is refused.
#[test]
fn an_ad_user_changes_their_password_on_the_account_page_under_ads_policy() {
    let samba = samba();
    let env = Env::sqlite();
    add_source(samba, &env, "Corp AD", STAFF_DN);
    // (Another test of this binary may have disabled User1 meanwhile: user10 is this test's.)
    env.json(&["directory", "sync", "Corp AD"]);
    assert_eq!(env.json(&["user", "show", "user10@corp.test"])["state"], "active");
    let server = Server::start(&env, &[]);
    let mut browser = super::web_client::WebClient::new(server.port);
    assert_eq!(browser.sign_in("user10@corp.test", "Ad-Pässwort-10!").status, 303);
    assert!(browser.get("/account").body.contains("Your password is kept by Corp AD"));
    let mut change = |current: &str, new: &str| {
        browser.get("/account");
        let csrf = browser.cookie("tessera_csrf");
        browser.post("/account/password", &[("csrf", &csrf), ("current", current), ("new", new), ("again", new)])
    };
    // Lower case only: AD's complexity rule refuses it, in its words.
    let refused = change("Ad-Pässwort-10!", "onlylowercaseletters");
    assert!(refused.body.contains("Corp AD refused the new password:"), "{}", refused.body);
    // A new domain keeps a password a day before its user may change it: made 0 here, as an
    // administrator would for this test's users.
    samba.change("dn: DC=corp,DC=test\nchangetype: modify\nreplace: minPwdAge\nminPwdAge: 0\n\n");
    let set_before = samba.read_text("User10", "pwdLastSet");
    let changed = change("Ad-Pässwort-10!", "Neues-Kennwort-10!");
    assert_eq!(changed.location.as_deref(), Some("/account?done=password"), "{}", changed.body);
    env.ok(&["app", "add", "m365", "--domain", "corp.test", "--label", "M365"]);
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "user10@corp.test"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
    let port = server.port;
    let trust = |password: &str, n: usize| ws_trust(port, "user10@corp.test", password, n).0;
    assert_ne!(samba.read_text("User10", "pwdLastSet"), set_before, "changed at AD");
    assert_eq!(trust("Neues-Kennwort-10!", 1), 200, "AD takes the new password");
    // (AD, and Samba, go on taking the previous password for a while after a change, its "old
    // password allowed period"; that is the directory's rule, not checked here.)
    let mut again = super::web_client::WebClient::new(port);
    assert_eq!(again.sign_in("user10@corp.test", "Neues-Kennwort-10!").status, 303);
    // AD's history rule: the old password cannot come back.
    let mut browser = again;
    browser.get("/account");
    let csrf = browser.cookie("tessera_csrf");
    let back = browser.post(
        "/account/password",
        &[("csrf", &csrf), ("current", "Neues-Kennwort-10!"), ("new", "Ad-Pässwort-10!"), ("again", "Ad-Pässwort-10!")],
    );
    assert!(back.body.contains("Corp AD refused the new password:"), "{}", back.body);
    assert_eq!(trust("Neues-Kennwort-10!", 3), 200, "unchanged");
    // Told by AD to change it at next logon (pwdLastSet 0) while signed in: the account page is
    // where it is changed (AD checks the old password itself; a bind with it would be refused).
    samba.change(&format!("dn: CN=User10,{STAFF_DN}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 0\n\n"));
    browser.get("/account");
    let csrf = browser.cookie("tessera_csrf");
    let expired = browser.post(
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", "Neues-Kennwort-10!"),
            ("new", "Drittes-Kennwort-10!"),
            ("again", "Drittes-Kennwort-10!"),
        ],
    );
    assert_eq!(expired.location.as_deref(), Some("/account?done=password"), "{}", expired.body);
    assert_eq!(trust("Drittes-Kennwort-10!", 4), 200, "AD takes it, and no longer asks for a change");
    let changes = env.json(&["audit", "list", "--action", "user.set_password"]);
    assert_eq!(changes.as_array().unwrap().len(), 2, "{changes}");
    assert_eq!(changes[0]["summary"]["source"], "Corp AD", "{changes}");
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// An AD password that must be changed at next logon, changed from the sign-in page: the right
/// password leads to the change form (old, new, confirm), AD's policy decides (its refusal in
/// its words), and the new password signs the user in at once; the form is bound to that
/// sign-in and that browser (a ticket posted cold or from another browser changes nothing).
#[test]
fn an_ad_password_that_must_be_changed_is_changed_from_the_sign_in_page() {
    use super::web_client::{WebClient, hidden_field};
    let samba = samba();
    let env = Env::sqlite();
    add_source(samba, &env, "Corp AD", STAFF_DN);
    env.json(&["directory", "sync", "Corp AD"]);
    samba.change("dn: DC=corp,DC=test\nchangetype: modify\nreplace: minPwdAge\nminPwdAge: 0\n\n");
    samba.change(&format!("dn: CN=User11,{STAFF_DN}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 0\n\n"));
    let server = Server::start(&env, &[]);
    let port = server.port;
    let mut browser = WebClient::new(port);
    let offered = browser.sign_in("user11@corp.test", "Ad-Pässwort-11!");
    assert_eq!(offered.status, 200, "{}", offered.body);
    assert!(offered.body.contains("action=\"/login/password\""), "{}", offered.body);
    let csrf = browser.cookie("tessera_csrf");
    let ticket = hidden_field(&offered.body, "ticket").expect("a change ticket");
    let change = |browser: &mut WebClient, ticket: &str, current: &str, new: &str, again: &str| {
        let csrf = browser.cookie("tessera_csrf");
        let fields = [
            ("csrf", csrf.as_str()),
            ("continue", ""),
            ("ticket", ticket),
            ("username", "user11@corp.test"),
            ("current", current),
            ("new", new),
            ("again", again),
        ];
        browser.post("/login/password", &fields)
    };
    let unchanged = |what: &str| assert_eq!(samba.read_text("User11", "pwdLastSet"), "0", "{what}");

    // The two new passwords differ: said, nothing sent to AD, the same ticket still serves.
    let differ = change(&mut browser, &ticket, "Ad-Pässwort-11!", "Neues-Kennwort-11!", "Neues-Kennwort-12!");
    assert!(differ.body.contains("are not the same"), "{}", differ.body);
    assert_eq!(hidden_field(&differ.body, "ticket").as_deref(), Some(ticket.as_str()));
    // A ticket made up, and this ticket from another browser: back to the sign-in, unchanged.
    let cold = change(&mut browser, "made-up-ticket", "Ad-Pässwort-11!", "Neues-Kennwort-11!", "Neues-Kennwort-11!");
    assert!(cold.body.contains("has expired") && cold.body.contains("action=\"/login\""), "{}", cold.body);
    let mut other = WebClient::new(port);
    other.get("/login");
    let stolen = change(&mut other, &ticket, "Ad-Pässwort-11!", "Neues-Kennwort-11!", "Neues-Kennwort-11!");
    assert!(stolen.body.contains("has expired"), "{}", stolen.body);
    unchanged("a ticket of no browser's, or of another, changes nothing");
    // (The other browser's try took nothing: the ticket is this browser's still.)
    // AD's complexity rule: its refusal, in its words; a new ticket for the next try.
    let weak = change(&mut browser, &ticket, "Ad-Pässwort-11!", "onlylowercaseletters", "onlylowercaseletters");
    assert!(weak.body.contains("Corp AD refused the new password:"), "{}", weak.body);
    let spent_ticket = ticket;
    let ticket = hidden_field(&weak.body, "ticket").expect("a new ticket");
    assert_ne!(ticket, spent_ticket);
    // The ticket just spent is no longer good.
    let spent = change(&mut browser, &spent_ticket, "Ad-Pässwort-11!", "Neues-Kennwort-11!", "Neues-Kennwort-11!");
    assert!(spent.body.contains("has expired"), "{}", spent.body);
    let wrong = change(&mut browser, &ticket, "Not-the-password-11!", "Neues-Kennwort-11!", "Neues-Kennwort-11!");
    assert!(wrong.body.contains("current password is not right"), "{}", wrong.body);
    unchanged("refused by AD, or the current password wrong");
    let ticket = hidden_field(&wrong.body, "ticket").expect("a new ticket");

    // The change: made at AD, and the user signed in with the new password.
    let done = change(&mut browser, &ticket, "Ad-Pässwort-11!", "Neues-Kennwort-11!", "Neues-Kennwort-11!");
    assert_eq!(done.status, 303, "{}", done.body);
    assert_ne!(samba.read_text("User11", "pwdLastSet"), "0", "changed at AD");
    let notice = done.location.clone().unwrap_or_default();
    assert!(notice == "/notice" || notice == "/", "{notice}");
    let csrf_now = browser.cookie("tessera_csrf");
    assert_eq!(csrf_now, csrf);
    browser.post("/notice", &[("csrf", &csrf_now), ("continue", "")]);
    assert!(browser.get("/").body.contains("Sign out"), "signed in");
    env.ok(&["app", "add", "m365", "--domain", "corp.test", "--label", "M365"]);
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "user11@corp.test"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
    assert_eq!(ws_trust(port, "user11@corp.test", "Neues-Kennwort-11!", 1).0, 200, "AD takes the new password");
    let changes = env.json(&["audit", "list", "--action", "user.set_password"]);
    assert_eq!(changes.as_array().unwrap().len(), 1, "{changes}");
    assert_eq!(changes[0]["summary"]["source"], "Corp AD", "{changes}");
    let sign_ins = env.json(&["audit", "list", "--action", "signin.password"]);
    assert_eq!(sign_ins.as_array().unwrap().len(), 2, "the new password's sign-in, then WS-Trust's: {sign_ins}");
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}
