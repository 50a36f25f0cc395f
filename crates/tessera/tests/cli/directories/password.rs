//! A directory user changing their own password on the account page, as OpenLDAP allows it
//! (Password Modify bound as themselves, where its ACLs let them write their password): the new
//! one works at once, at the directory (ldapwhoami says so) and at Tessera; the old one no
//! longer does; a directory that refuses says so in its words and nothing changes.

use super::super::web_client::WebClient;
use super::super::*;
use super::slapd::{Slapd, ldap_change, person, slapd};
use super::{BASE_DN, PEOPLE_DN, add_args};

/// Whether the directory itself takes `password` for `uid` in `ou` (a simple bind).
fn directory_takes(slapd: &Slapd, ou: &str, uid: &str, password: &str) -> bool {
    Command::new("ldapwhoami")
        .env("LDAPTLS_CACERT", slapd.dir.join("ca.pem"))
        .args(["-x", "-H", &format!("ldaps://127.0.0.1:{}", slapd.ldaps)])
        .args(["-D", &format!("uid={uid},ou={ou},{BASE_DN}"), "-w", password])
        .output()
        .unwrap()
        .status
        .success()
}

fn change_password(browser: &mut WebClient, current: &str, new: &str) -> super::super::web_client::Page {
    browser.get("/account");
    let csrf = browser.cookie("tessera_csrf");
    browser.post("/account/password", &[("csrf", &csrf), ("current", current), ("new", new), ("again", new)])
}

#[test]
fn a_directory_user_changes_their_password_on_the_account_page_as_the_directory_allows() {
    let slapd = slapd();
    let env = Env::sqlite();
    let mut ldif = String::new();
    for ou in ["selfserve", "frozen"] {
        ldif.push_str(&format!(
            "dn: ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: {ou}\n\n"
        ));
        ldif.push_str(&person(ou, 1).replace("\n\n", "\nuserPassword: Alt-Pässwort-1!\n\n"));
    }
    ldap_change(slapd, &ldif);
    for ou in ["selfserve", "frozen"] {
        let base = format!("ou={ou},{BASE_DN}");
        let urls = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
        let ca = slapd.ca_file();
        let mut args = add_args(ou, &urls, &["--ca-file", &ca, "--authenticate", "bind"]);
        let position = args.iter().position(|a| *a == PEOPLE_DN).unwrap();
        args[position] = &base;
        assert!(env.run_with_stdin(&args, &format!("{}\n", super::BIND_PASSWORD)).status.success());
        assert_eq!(env.json(&["directory", "sync", ou])["created"], 1);
    }
    let server = Server::start(&env, &[]);
    let mut browser = WebClient::new(server.port);
    assert_eq!(browser.sign_in("u1@selfserve.test", "Alt-Pässwort-1!").status, 303);
    let page = browser.get("/account");
    assert!(page.body.contains("Your password is kept by selfserve"), "{}", page.body);

    // Refused before the directory is asked, or by it: nothing changes.
    let wrong = change_password(&mut browser, "not it", "Neu-Pässwort-1!");
    assert!(wrong.body.contains("The current password is not right"), "{}", wrong.body);
    let short = change_password(&mut browser, "Alt-Pässwort-1!", "short");
    assert!(short.body.contains("does not meet the rules"), "{}", short.body);
    assert!(directory_takes(slapd, "selfserve", "u1", "Alt-Pässwort-1!"));

    let changed = change_password(&mut browser, "Alt-Pässwort-1!", "Neu-Pässwort-1!");
    assert_eq!(changed.location.as_deref(), Some("/account?done=password"), "{}", changed.body);
    assert!(browser.get("/account?done=password").body.contains("Your password has been changed"));
    assert!(directory_takes(slapd, "selfserve", "u1", "Neu-Pässwort-1!"), "changed at the directory");
    assert!(!directory_takes(slapd, "selfserve", "u1", "Alt-Pässwort-1!"));
    let mut again = WebClient::new(server.port);
    assert!(again.sign_in("u1@selfserve.test", "Alt-Pässwort-1!").body.contains("incorrect"));
    assert_eq!(again.sign_in("u1@selfserve.test", "Neu-Pässwort-1!").status, 303, "the new one works at once");

    // Where the directory's rules do not let users write their own password, it says so, in
    // its words (slapd: "unwilling to verify old password", as the ACL lets them not even
    // compare it).
    let mut frozen = WebClient::new(server.port);
    assert_eq!(frozen.sign_in("u1@frozen.test", "Alt-Pässwort-1!").status, 303);
    let refused = change_password(&mut frozen, "Alt-Pässwort-1!", "Neu-Pässwort-1!");
    assert!(
        refused.body.contains("frozen refused the new password: unwilling to verify old password"),
        "{}",
        refused.body
    );
    assert!(directory_takes(slapd, "frozen", "u1", "Alt-Pässwort-1!"), "unchanged");
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let changes = env.json(&["audit", "list", "--action", "user.set_password"]);
    assert_eq!(changes.as_array().unwrap().len(), 1, "one change, at the directory: {changes}");
    assert_eq!(changes[0]["summary"]["at"], "directory", "{changes}");
}
