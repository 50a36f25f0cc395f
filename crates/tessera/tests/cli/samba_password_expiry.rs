//! AD FS's password-expiry claims from Samba's computed expiry: a fine-grained password policy
//! (a PSO of ten days) applied to one user puts their password within AD FS's fourteen-day
//! window; the domain's own policy (42 days) keeps another's outside it.

use super::samba::{corp_connector, samba};
use super::*;

const NS: &str = "http://schemas.microsoft.com/ws/2012/01";

/// The value of the claim `name` (in AD FS's 2012/01 namespace) in a SAML 1.1 token.
fn claim(token: &str, name: &str) -> Option<String> {
    let attribute = format!("AttributeName=\"{name}\" AttributeNamespace=\"{NS}\"><saml:AttributeValue>");
    let (_, after) = token.split_once(&attribute)?;
    Some(after.split('<').next()?.to_string())
}

#[test]
fn a_password_that_expires_soon_is_announced_in_ws_trust_and_ws_federation_tokens() {
    let samba = samba();
    let smb_conf = samba.dir.join("etc/smb.conf").display().to_string();
    let tool = |args: &[&str]| {
        let out = Command::new("samba-tool").args(args).args(["-s", &smb_conf]).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    tool(&["domain", "passwordsettings", "pso", "create", "ten-days", "1", "--max-pwd-age=10"]);
    tool(&["domain", "passwordsettings", "pso", "apply", "ten-days", "user15"]);
    let env = Env::sqlite();
    corp_connector(samba, &env, &["user15@corp.test", "user16@corp.test"]);
    let public_url = "https://sts.corp.test";
    let server = Server::start(&env, &["--public-url", public_url]);
    let port = server.port;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let day = 24 * 60 * 60 * 1000;
    let ws_trust = |upn: &str, password: &str, n: usize| {
        let path = "/m365/corp.test/adfs/services/trust/13/usernamemixed";
        let rst = super::bounds::rst_to(port, path, upn, password, n);
        let rst = rst.replace(&format!("http://127.0.0.1:{port}"), public_url);
        let soap = [("Content-Type", "application/soap+xml; charset=utf-8")];
        super::bounds::exchange(port, "POST", path, &soap, rst.as_bytes())
    };

    // WS-Trust with the AD password: the claims, ten days off less the moments since the
    // password was set.
    let (status, token) = ws_trust("user15@corp.test", "Ad-Pässwort-15!", 1);
    assert_eq!(status, 200, "{token}");
    assert_eq!(claim(&token, "passwordexpirationdays").as_deref(), Some("9"), "{token}");
    let expires = tessera_core::parse_rfc3339_millis(&claim(&token, "passwordexpirationtime").unwrap()).unwrap();
    assert!(expires > now + 9 * day && expires <= now + 10 * day, "{expires}");
    assert_eq!(claim(&token, "passwordchangeurl"), Some(format!("{public_url}/account")));
    // The domain's 42 days: nothing said.
    let (status, token) = ws_trust("user16@corp.test", "Ad-Pässwort-16!", 2);
    assert!(status == 200 && !token.contains("passwordexpiration"), "{token}");

    // WS-Federation, after a password on the sign-in page: the same claims in the wresult.
    let mut browser = super::web_client::WebClient::new(port);
    assert_eq!(browser.sign_in("user15@corp.test", "Ad-Pässwort-15!").status, 303);
    let page = browser.get("/m365/corp.test/wsfed?wa=wsignin1.0&wtrealm=urn:federation:MicrosoftOnline");
    let wresult = super::web_client::hidden_field(&page.body, "wresult").unwrap_or_else(|| panic!("{}", page.body));
    assert_eq!(claim(&wresult, "passwordexpirationdays").as_deref(), Some("9"), "{wresult}");
    assert_eq!(claim(&wresult, "passwordchangeurl"), Some(format!("{public_url}/account")));
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}
