//! SAML ECP with pysaml2's own ECP profile (`interop/pysaml2_ecp.py`) against a running
//! `tessera serve`: pysaml2's SP makes the PAOS request, pysaml2's ECP client finds Tessera's
//! ECP endpoint in its metadata and signs in with Basic credentials, and the SP verifies what
//! comes back. A wrong password and an ungranted user get no token.

use std::process::Command;

use serde_json::Value;

use super::doctor::Server;
use super::{Env, free_port, pysaml2_python};

const SP: &str = "https://sp.example.test/ecp";
const PAOS_ACS: &str = "https://sp.example.test/Shibboleth.sso/SAML2/ECP";
const PASSWORD: &str = "correct horse battery";

#[test]
fn pysaml2_s_ecp_client_and_sp_sign_in_through_tessera() {
    let Some((python, workspace)) = pysaml2_python() else { return };
    let script = workspace.join("interop/pysaml2_ecp.py");
    let env = Env::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let sp_metadata = Command::new(&python).arg(&script).args(["sp-metadata", SP, PAOS_ACS]).output().unwrap();
    assert!(sp_metadata.status.success(), "{}", String::from_utf8_lossy(&sp_metadata.stderr));
    let sp_file = dir.path().join("sp.xml");
    std::fs::write(&sp_file, &sp_metadata.stdout).unwrap();

    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    env.ok(&[
        "--public-url",
        &public,
        "app",
        "add",
        "saml",
        "--label",
        "ECP SP",
        "--sp-metadata",
        sp_file.to_str().unwrap(),
    ]);
    for user in ["alice@contoso.com", "bob@contoso.com"] {
        assert!(
            env.run_with_stdin(&["user", "add", user, "--password-stdin"], &format!("{PASSWORD}\n")).status.success()
        );
    }
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "alice@contoso.com"]);
    env.ok(&["app", "grant", "ECP SP", "Staff"]);
    let _server = Server::start(&env, &public, port, None);
    let app = env.json(&["app", "show", "ECP SP"]);
    let metadata_url = app["endpoints"]["saml_metadata"].as_str().unwrap();
    let metadata = Command::new("curl").args(["-sf", metadata_url]).output().unwrap();
    assert!(metadata.status.success());
    let idp_file = dir.path().join("idp.xml");
    std::fs::write(&idp_file, &metadata.stdout).unwrap();

    let sign_in = |user: &str, password: &str| {
        let out = Command::new(&python)
            .arg(&script)
            .args(["sign-in", idp_file.to_str().unwrap(), SP, PAOS_ACS, user, password])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    let (code, out) = sign_in("alice@contoso.com", PASSWORD);
    assert_eq!(code, Some(0), "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["issuer"], app["issuer"]);
    assert_eq!(report["name_id"], "alice@contoso.com");
    assert_eq!(report["relay_state"], "ecp-relay", "the ECP client keeps the SP's RelayState");

    let (code, out) = sign_in("alice@contoso.com", "wrong password");
    assert_eq!(code, Some(1));
    assert!(out.contains("(401)") && out.contains("user name or password is incorrect"), "{out}");
    let (code, out) = sign_in("bob@contoso.com", PASSWORD);
    assert_eq!(code, Some(1));
    assert!(out.contains("(500)") && !out.contains("Assertion"), "{out}");
    let audit = env.ok(&["audit", "list"]);
    assert!(audit.contains("saml.issued") && audit.contains("saml.denied"), "{audit}");
}
