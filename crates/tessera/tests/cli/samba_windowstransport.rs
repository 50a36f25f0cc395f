//! WS-Trust windowstransport against the Samba domain controller as the KDC: a domain-joined
//! computer's ticket (its account's keys exported, `kinit -k` as `WS01$`) gets the hybrid join
//! token whose claims are what AD holds for the computer, read here by `ldapsearch` and
//! `samba-tool`; a user's ticket gets the user's token. `curl --negotiate` is the client,
//! answering the 401 challenge as Windows' HTTP stack does, and the RST is MSAL for .NET's
//! (no security header, `wsa:messageID`). MSAL Python reads MEX and the reply; xmlsec1 and
//! passport-wsfed-saml2 check the tokens.

use base64::Engine;

use super::samba::{corp_connector, samba};
use super::samba_kerberos::{SERVICE_HOST, realm};
use super::*;

const PATH_13: &str = "/m365/corp.test/adfs/services/trust/13/windowstransport";
const PATH_2005: &str = "/m365/corp.test/adfs/services/trust/2005/windowstransport";
const SOAP: (&str, &str) = ("Content-Type", "application/soap+xml; charset=utf-8");
const KERBEROS_AP_REQ: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-kerberos-token-profile-1.1#GSS_Kerberosv5_AP_REQ";

/// The RST MSAL for .NET sends for Windows integrated authentication, to `public_url` + `path`,
/// with `security` (a WS-Security header, or nothing as MSAL sends).
fn windows_rst(public_url: &str, path: &str, security: &str) -> String {
    let (action, trust, key_type) = if path.contains("/13/") {
        (
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue",
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512",
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer",
        )
    } else {
        (
            "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue",
            "http://schemas.xmlsoap.org/ws/2005/02/trust",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><wsa:Action s:mustUnderstand="1">{action}</wsa:Action><wsa:messageID>urn:uuid:{id}</wsa:messageID><wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo><wsa:To s:mustUnderstand="1">{public_url}{path}</wsa:To>{security}</s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="{trust}"><wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:KeyType>{key_type}</wst:KeyType><wst:RequestType>{trust}/Issue</wst:RequestType></wst:RequestSecurityToken></s:Body></s:Envelope>"#,
        id = message_number(),
    )
}

/// A fresh message number for a MessageID (the store remembers each).
fn message_number() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{:06}{n:06}", std::process::id() % 1_000_000)
}

/// A security header carrying `token` (base64) as a Kerberos BinarySecurityToken.
fn binary_token(token: &str, value_type: &str) -> String {
    format!(
        r#"<wsse:Security s:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:BinarySecurityToken ValueType="{value_type}" EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">{token}</wsse:BinarySecurityToken></wsse:Security>"#
    )
}

/// The RSTR's token, as MSAL Python extracts it (cut out by hand where MSAL is not installed,
/// outside CI); panics on a fault with what it said.
fn msal_token(python: Option<&Path>, reply: &str) -> String {
    let body = reply.split_once("\r\n\r\n").map_or(reply, |(_, body)| body);
    let Some(python) = python else {
        let start = body.find("<saml:Assertion ").unwrap_or_else(|| panic!("no token: {reply}"));
        let end = body.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
        return body[start..end].to_string();
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("reply.xml"), body).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(python)
        .arg(root.join("interop/msal_wstrust.py"))
        .arg("parse")
        .arg(dir.path().join("reply.xml"))
        .output()
        .unwrap();
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(out.status.success(), "MSAL read no token: {parsed} {reply}");
    assert_eq!(parsed["type"], "urn:oasis:names:tc:SAML:1.0:assertion");
    parsed["token"].as_str().unwrap().to_string()
}

/// passport-wsfed-saml2's profile of a SAML 1.1 token (Node, from the browser tests' packages).
fn passport_accepts(token: &str, certificate: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.xml"), token).unwrap();
    let out = Command::new("node")
        .arg(root.join("interop/browser/wsfed-accept.mjs"))
        .arg(dir.path().join("token.xml"))
        .arg(certificate)
        .output()
        .unwrap();
    assert!(out.status.success(), "passport-wsfed-saml2 refused: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the claim `namespace`/`name` in a SAML 1.1 token.
fn claim(token: &str, namespace: &str, name: &str) -> Option<String> {
    let attribute = format!("AttributeName=\"{name}\" AttributeNamespace=\"{namespace}\"><saml:AttributeValue>");
    let (_, after) = token.split_once(&attribute)?;
    Some(after.split('<').next()?.to_string())
}

/// An attribute of a domain computer (`cn`) as `ldapsearch` prints it, from the domain's root.
fn ldapsearch_computer(cn: &str, attribute: &str) -> String {
    let samba = samba();
    let out = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", samba.dir.join("tls/ca.pem"))
        .args(["-x", "-H", &format!("ldaps://{}", super::samba::HOST), "-D"])
        .arg("CN=Administrator,CN=Users,DC=corp,DC=test")
        .args(["-w", super::samba::ADMIN_PASSWORD, "-LLL", "-b", "DC=corp,DC=test"])
        .arg(format!("(&(objectClass=computer)(cn={cn}))"))
        .arg(attribute)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let prefix = format!("{attribute}:: ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{attribute} of {cn}: {text}"))
        .to_string()
}

#[test]
fn a_domain_computer_gets_a_hybrid_join_token_whose_claims_match_active_directory() {
    let samba = samba();
    let realm = realm();
    let env = Env::sqlite();
    corp_connector(samba, &env, &["user14@corp.test"]);
    let smb_conf = samba.dir.join("etc/smb.conf").display().to_string();
    let tool = |args: &[&str], what: &str| {
        let out = Command::new("samba-tool")
            .args(args)
            .args(["-s", &smb_conf])
            .env("KRB5_CONFIG", &realm.krb5_conf)
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{what}: {said}");
        said
    };
    // Two domain computers, their keys exported as `net ads join` would leave them on the PC.
    let mut caches = Vec::new();
    for computer in ["WS01", "WS02"] {
        tool(&["computer", "create", computer, "--prepare-oldjoin"], "a domain computer");
        let keytab = realm.dir.join(format!("{computer}.keytab")).display().to_string();
        let said = tool(&["domain", "exportkeytab", &keytab, &format!("--principal={computer}$")], "its keys");
        assert!(Path::new(&keytab).exists(), "exportkeytab wrote nothing: {said}");
        caches.push(realm.kinit_keytab(&format!("{computer}$@CORP.TEST"), &keytab));
    }
    let port = free_port();
    let public_url = format!("http://{SERVICE_HOST}:{port}");
    let server = realm.serve(&env, port, &[]);
    let connector = env.json(&["app", "show", "M365"]);
    let certificate = connector["signing_certificate"].as_str().unwrap().to_string();

    // MEX lists windowstransport to the intranet only (MSAL's reading of it is the golden
    // `mex-intranet.xml`'s test: MSAL takes https addresses only, and this server's is http).
    let mex_path = "/m365/corp.test/adfs/services/trust/mex";
    let (_, inside) = super::bounds::exchange(port, "GET", mex_path, &[], b"");
    let (_, outside) = super::bounds::exchange(port, "GET", mex_path, &[("X-Forwarded-For", "203.0.113.5")], b"");
    assert!(inside.contains(&format!("{public_url}{PATH_13}")) && inside.contains(&format!("{public_url}{PATH_2005}")));
    assert!(!outside.contains("windowstransport") && outside.contains("usernamemixed"), "{outside}");
    let python = super::msal_python();

    // Without a ticket: 401 and the Negotiate challenge, a fault in the body.
    let rst = windows_rst(&public_url, PATH_13, "");
    let (status, reply) = super::bounds::exchange(port, "POST", PATH_13, &[SOAP], rst.as_bytes());
    let head = reply.to_ascii_lowercase();
    assert!(status == 401 && head.contains("www-authenticate: negotiate\r\n"), "{reply}");
    assert!(reply.contains("FailedAuthentication"), "{reply}");

    // WS01 answers the challenge (curl as Windows' HTTP stack): the hybrid join token.
    let post = |cache: &str, path: &str, rst: &str| -> (u16, String) {
        let out = realm
            .curl(cache, SERVICE_HOST, port)
            .args(["-i", "-H", &format!("{}: {}", SOAP.0, SOAP.1), "--data-binary", rst])
            .arg(format!("{public_url}{path}"))
            .output()
            .unwrap();
        let reply = String::from_utf8_lossy(&out.stdout).into_owned();
        // The last response of the exchange (the 401 comes first).
        let last = reply.rfind("HTTP/1.1 ").map_or(reply.as_str(), |at| &reply[at..]);
        (last.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), last.to_string())
    };
    // Not before the connector vouches for the computers of CORP.TEST (a realm that is none is
    // refused, and changes nothing).
    let (status, reply) = post(&caches[0], PATH_13, &windows_rst(&public_url, PATH_13, ""));
    assert!(status == 400 && reply.contains("gives no device tokens to computers of CORP.TEST"), "{reply}");
    let bad = env.run(&["app", "set", "M365", "--device-realm", "CORP TEST"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("is not a Kerberos realm"));
    env.ok(&["app", "set", "M365", "--device-realm", "corp.test"]);
    assert_eq!(env.json(&["app", "show", "M365"])["m365"]["device_realms"], serde_json::json!(["CORP.TEST"]));
    // (The server reads the change once its one-second cache of the connector has passed.)
    std::thread::sleep(Duration::from_millis(1500));
    let (status, reply) = post(&caches[0], PATH_13, &windows_rst(&public_url, PATH_13, ""));
    assert_eq!(status, 200, "{reply}");
    let token = msal_token(python.as_deref(), &reply);
    let guid = ldapsearch_computer("WS01", "objectGUID");
    let shown = tool(&["computer", "show", "WS01", "--attributes=objectSid"], "the computer's SID");
    let sid = shown.lines().find_map(|l| l.strip_prefix("objectSid: ")).unwrap().trim().to_string();
    assert!(sid.starts_with("S-1-5-21-"), "{shown}");
    assert_eq!(claim(&token, "http://schemas.microsoft.com/ws/2012/01", "accounttype").as_deref(), Some("DJ"));
    assert_eq!(claim(&token, "http://schemas.microsoft.com/identity/claims", "onpremobjectguid"), Some(guid.clone()));
    assert_eq!(claim(&token, "http://schemas.microsoft.com/ws/2008/06/identity/claims", "primarysid"), Some(sid));
    assert_eq!(
        claim(&token, "http://schemas.microsoft.com/LiveID/Federation/2008/05", "ImmutableID"),
        Some(guid.clone())
    );
    assert!(token.contains(&format!(">{guid}</saml:NameIdentifier>")), "{token}");
    assert!(token.contains("urn:federation:authentication:windows"), "{token}");
    assert_eq!(
        claim(&token, "http://schemas.microsoft.com/ws/2008/06/identity/claims", "issuerid"),
        None,
        "one domain"
    );
    assert!(claim(&token, "http://schemas.xmlsoap.org/claims", "UPN").is_none(), "a computer has no UPN");
    assert!(super::rollover::xmlsec1_verifies(&token, &certificate));
    passport_accepts(&token, &certificate);

    // A second federated domain: the computer's token names its domain's issuer.
    env.ok(&["--public-url", &public_url, "app", "add", "m365", "--domain", "fabrikam.test", "--label", "Fabrikam"]);
    let (status, reply) = post(&caches[0], PATH_2005, &windows_rst(&public_url, PATH_2005, ""));
    assert_eq!(status, 200, "{reply}");
    let token = msal_token(python.as_deref(), &reply);
    let issuer = connector["issuer"].as_str().map(str::to_string);
    assert_eq!(claim(&token, "http://schemas.microsoft.com/ws/2008/06/identity/claims", "issuerid"), issuer);

    // A user's ticket gets the user's token, here in the header's BinarySecurityToken.
    let user14 = realm.kinit("user14@CORP.TEST", "Ad-Pässwort-14!", None);
    let ticket = realm.token_for(&user14, SERVICE_HOST);
    let rst = windows_rst(&public_url, PATH_13, &binary_token(&ticket, KERBEROS_AP_REQ));
    let (status, reply) = super::bounds::exchange(port, "POST", PATH_13, &[SOAP], rst.as_bytes());
    assert_eq!(status, 200, "{reply}");
    let token = msal_token(python.as_deref(), &reply);
    assert_eq!(claim(&token, "http://schemas.xmlsoap.org/claims", "UPN").as_deref(), Some("user14@corp.test"));
    assert_eq!(claim(&token, "http://schemas.microsoft.com/ws/2012/01", "accounttype").as_deref(), Some("User"));
    assert_eq!(
        claim(&token, "http://schemas.microsoft.com/ws/2012/01", "insidecorporatenetwork").as_deref(),
        Some("true")
    );
    let profile = passport_accepts(&token, &certificate);
    assert!(profile.to_string().contains("user14@corp.test"), "{profile}");

    // Refused, each with its fault and no token: the same ticket again (another message), a
    // ticket for another service, NTLM, a password at this endpoint, a client outside the
    // intranet, a user with no granted group, a computer disabled in AD since its ticket.
    let user13 = realm.kinit("user13@CORP.TEST", "Ad-Pässwort-13!", None);
    let ungranted = realm.token_for(&user13, SERVICE_HOST);
    let ntlm = base64::engine::general_purpose::STANDARD.encode(b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2");
    let other_service = realm.token_for(&user14, "other.corp.test");
    let disabled = realm.token_for(&caches[1], SERVICE_HOST);
    samba.change(
        "dn: CN=WS02,CN=Computers,DC=corp,DC=test\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 4098\n",
    );
    let password = "<wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\"><wsse:UsernameToken><wsse:Username>user14@corp.test</wsse:Username><wsse:Password>Ad-Pässwort-14!</wsse:Password></wsse:UsernameToken></wsse:Security>";
    let outside = [SOAP, ("X-Forwarded-For", "203.0.113.5")];
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: Vec<(String, Headers, &str)> = vec![
        (binary_token(&ticket, KERBEROS_AP_REQ), &[SOAP], "FailedAuthentication"),
        (binary_token(&other_service, KERBEROS_AP_REQ), &[SOAP], "FailedAuthentication"),
        (binary_token(&ntlm, KERBEROS_AP_REQ), &[SOAP], "FailedAuthentication"),
        (binary_token(&ticket, "urn:x509"), &[SOAP], "only a Kerberos AP-REQ"),
        (password.to_string(), &[SOAP], "a password goes to usernamemixed"),
        (binary_token(&realm.token_for(&user14, SERVICE_HOST), KERBEROS_AP_REQ), &outside, "own networks only"),
        (binary_token(&ungranted, KERBEROS_AP_REQ), &[SOAP], "RequestFailed"),
        (binary_token(&disabled, KERBEROS_AP_REQ), &[SOAP], "FailedAuthentication"),
    ];
    let issued = env.json(&["audit", "list", "--action", "wstrust.issued"]).as_array().unwrap().len();
    for (security, headers, expected) in cases {
        let rst = windows_rst(&public_url, PATH_13, &security);
        let (status, reply) = super::bounds::exchange(port, "POST", PATH_13, headers, rst.as_bytes());
        assert!(status == 400 && reply.contains(expected), "{expected}: {reply}");
        assert!(!reply.contains("saml:Assertion"), "{reply}");
    }
    // The app's networks hold for devices too.
    env.ok(&["app", "policy", "M365", "--allowed-network", "10.0.0.0/8"]);
    std::thread::sleep(Duration::from_millis(1500));
    let (status, reply) = post(&caches[0], PATH_13, &windows_rst(&public_url, PATH_13, ""));
    assert!(status == 400 && reply.contains("cannot be used from the network you are on"), "{reply}");
    assert_eq!(env.json(&["audit", "list", "--action", "wstrust.issued"]).as_array().unwrap().len(), issued);
    // A computer's ticket at the login page: no session, the form.
    let computer_at_login = realm.token_for(&caches[0], SERVICE_HOST);
    let (status, head, body) = super::samba_kerberos::login_with(port, &computer_at_login, "");
    assert!(status == 200 && !head.contains("tessera_session") && body.contains("action=\"/login\""), "{head}");
    let failures = env.json(&["audit", "list", "--action", "signin.failure"]);
    let kerberos: Vec<&serde_json::Value> =
        failures.as_array().unwrap().iter().filter(|e| e["summary"]["via"] == "kerberos").collect();
    let reasons: Vec<&str> = kerberos.iter().map(|e| e["summary"]["reason"].as_str().unwrap()).collect();
    let details: Vec<&serde_json::Value> = kerberos.iter().map(|e| &e["summary"]["detail"]).collect();
    assert_eq!(
        reasons,
        ["kerberos_replayed", "kerberos_rejected", "ntlm_refused", "suspended", "unknown_principal"],
        "GSSAPI's words: {details:?}"
    );
    let denied = env.json(&["audit", "list", "--action", "wstrust.denied"]);
    let denied: Vec<&str> =
        denied.as_array().unwrap().iter().map(|e| e["summary"]["reason"].as_str().unwrap()).collect();
    assert_eq!(denied, ["device_realm_not_granted", "no_granted_group", "network_not_allowed"]);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// Without `--kerberos-keytab` the windowstransport endpoints do not exist, and MEX does not
/// list them, whatever the client's network.
#[test]
fn without_a_keytab_there_is_no_windowstransport() {
    let env = Env::sqlite();
    env.ok(&["app", "add", "m365", "--domain", "corp.test", "--label", "M365"]);
    let server = Server::start(&env, &["--intranet", "127.0.0.0/8"]);
    let rst = windows_rst(&format!("http://127.0.0.1:{}", server.port), PATH_13, "");
    let (status, _) = super::bounds::exchange(server.port, "POST", PATH_13, &[SOAP], rst.as_bytes());
    assert_eq!(status, 404);
    let (status, mex) =
        super::bounds::exchange(server.port, "GET", "/m365/corp.test/adfs/services/trust/mex", &[], b"");
    assert!(status == 200 && !mex.contains("windowstransport"), "{mex}");
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}
