//! Directory syncs against the test slapd: users created, updated, suspended and reactivated,
//! a mass suspension stopped, groups with nested members, the schedule in `serve`, and
//! pass-through sign-in.

use super::super::*;
use super::slapd::{immutable_id_by_ldapsearch, ldap_change, person, slapd};
use super::{BASE_DN, BIND_PASSWORD, PEOPLE_DN, add_args};

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
    // SECURITY.md §5 item 33: a DN whose value holds every character a DN escapes.
    ldif.push_str(&format!(
        "dn: cn=O\\,dd\\+One \\\"x\\<\\>\\;\\=,ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: inetOrgPerson\n\
         uid: u4\ncn: O,dd+One \"x<>;=\nsn: Odd\nmail: u4@{ou}.test\nuserPassword: Pässwort-4!\n\n"
    ));
    ldap_change(slapd, &ldif);
    let base = format!("ou={ou},{BASE_DN}");
    let urls = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    let ca = slapd.ca_file();
    let mut args = add_args("Pass-through", &urls, &["--ca-file", &ca, "--authenticate", "bind"]);
    let position = args.iter().position(|a| *a == PEOPLE_DN).unwrap();
    args[position] = &base;
    assert!(env.run_with_stdin(&args, &format!("{BIND_PASSWORD}\n")).status.success());
    assert_eq!(sync(&env, "Pass-through", &[])["created"], 4);
    env.ok(&["group", "add", "Staff"]);
    for n in [1, 2, 4] {
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
    // Filter syntax in the password reaches the directory only as a bind's password; in the
    // name, it names no user (and would reach a filter only escaped).
    let (status, _) = trust("u1@pt.test", "*)(uid=*", 3);
    assert_eq!(status, 400);
    assert_eq!(trust("*)(uid=*", "Pässwort-1!", 30).0, 400);
    for (n, name) in ["*", "*)(uid=*))(|(uid=*", "\\00admin", "admin)("].into_iter().enumerate() {
        assert_eq!(trust(name, "Pässwort-1!", 31 + n).0, 400, "{name}");
    }
    // An empty password would be an unauthenticated bind, which the directory lets pass: it is
    // refused before any directory is asked (WS-Trust takes none, and the bind refuses one).
    assert_eq!(trust("u1@pt.test", "", 35).0, 400);
    // The user whose DN needs escaping signs in with their own password, and only with it.
    let (status, token) = trust("u4@pt.test", "Pässwort-4!", 36);
    assert_eq!(status, 200, "{token}");
    assert_eq!(trust("u4@pt.test", "Pässwort-1!", 37).0, 400);

    // Gone from the directory: suspended at the next sync, and refused.
    ldap_change(slapd, &format!("dn: uid=u2,ou={ou},{BASE_DN}\nchangetype: delete\n\n"));
    assert_eq!(trust("u2@pt.test", "Pässwort-2!", 4).0, 400, "the directory no longer knows them");
    assert_eq!(sync(&env, "Pass-through", &["--allow-mass-suspend"])["suspended"], 1);
    assert_eq!(env.json(&["user", "show", "u2@pt.test"])["state"], "suspended");
    assert_eq!(trust("u2@pt.test", "Pässwort-2!", 5).0, 400);
    // Suspended in Tessera, the directory's yes is not enough.
    env.ok(&["user", "suspend", "u1@pt.test"]);
    assert_eq!(trust("u1@pt.test", "Pässwort-1!", 6).0, 400);
    // u3's account deleted and made again with the same UPN, before any sync: the new account
    // is not u3 (another anchor), whatever its password.
    ldap_change(
        slapd,
        &format!(
            "dn: uid=u3,ou={ou},{BASE_DN}\nchangetype: delete\n\n{}",
            person(ou, 3).replace("\n\n", "\nuserPassword: Taken-Over-3!\n\n")
        ),
    );
    assert_eq!(trust("u3@pt.test", "Taken-Over-3!", 7).0, 400);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");

    let failures = env.json(&["audit", "list", "--action", "signin.failure"]);
    let reasons: Vec<&str> =
        failures.as_array().unwrap().iter().filter_map(|e| e["summary"]["reason"].as_str()).collect();
    assert_eq!(
        reasons,
        [
            "wrong_password",
            "wrong_password",
            "unknown_user",
            "unknown_user",
            "unknown_user",
            "unknown_user",
            "unknown_user",
            "wrong_password",
            "directory_account_disabled",
            "directory_account_disabled",
            "suspended",
            "directory_account_disabled"
        ],
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

fn members_of(env: &Env, group: &str) -> Vec<String> {
    let shown = env.json(&["group", "show", group]);
    let mut emails: Vec<String> =
        shown["members"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap().to_string()).collect();
    emails.sort();
    emails
}

#[test]
fn groups_follow_the_source_with_nested_groups_and_one_gone_is_kept_with_its_grants() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ou = "grp";
    let dn = |cn: &str| format!("cn={cn},ou={ou},{BASE_DN}");
    let user = |n: u32| format!("uid=u{n},ou={ou},{BASE_DN}");
    let mut ldif = format!("dn: ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: {ou}\n\n");
    for n in 1..=4 {
        ldif.push_str(&person(ou, n));
    }
    for (cn, members) in [
        ("platform", vec![user(2)]),
        ("eng", vec![user(1), dn("platform")]),
        ("all", vec![dn("eng"), user(3)]),
        ("sales", vec![user(4)]),
    ] {
        ldif.push_str(&format!("dn: {}\nchangetype: add\nobjectClass: groupOfNames\ncn: {cn}\n", dn(cn)));
        for member in members {
            ldif.push_str(&format!("member: {member}\n"));
        }
        ldif.push('\n');
    }
    ldap_change(slapd, &ldif);
    env.ok(&["group", "add", "Sales"]);
    let base = format!("ou={ou},{BASE_DN}");
    let urls = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    let ca = slapd.ca_file();
    let mut args = add_args("Groups", &urls, &["--ca-file", &ca]);
    let position = args.iter().position(|a| *a == PEOPLE_DN).unwrap();
    args[position] = &base;
    assert!(env.run_with_stdin(&args, &format!("{BIND_PASSWORD}\n")).status.success());

    let first = sync(&env, "Groups", &[]);
    assert_eq!((first["groups_created"].as_u64(), first["errors"].as_u64()), (Some(3), Some(1)), "{first}");
    assert!(first["messages"][0].as_str().unwrap().contains("exists already"), "a local group keeps its name: {first}");
    assert_eq!(members_of(&env, "platform"), ["u2@grp.test"]);
    assert_eq!(members_of(&env, "eng"), ["u1@grp.test", "u2@grp.test"], "platform's members through it");
    assert_eq!(members_of(&env, "all"), ["u1@grp.test", "u2@grp.test", "u3@grp.test"], "two levels down");
    assert!(members_of(&env, "Sales").is_empty(), "the local group is not the source's");
    env.ok(&["app", "add", "bookmark", "--label", "Intranet", "--url", "https://intranet.grp.test"]);
    env.ok(&["app", "grant", "Intranet", "all"]);

    // u2 leaves platform for u4, platform takes eng in (a cycle), and all goes away.
    ldap_change(
        slapd,
        &format!(
            "dn: {}\nchangetype: modify\nreplace: member\nmember: {}\nmember: {}\n\n\
             dn: {}\nchangetype: delete\n\n",
            dn("platform"),
            user(4),
            dn("eng"),
            dn("all")
        ),
    );
    let second = sync(&env, "Groups", &[]);
    assert_eq!(second["groups_orphaned"], 1, "{second}");
    assert_eq!(members_of(&env, "platform"), ["u1@grp.test", "u4@grp.test"]);
    assert_eq!(members_of(&env, "eng"), ["u1@grp.test", "u4@grp.test"]);
    assert_eq!(members_of(&env, "all"), ["u1@grp.test", "u2@grp.test", "u3@grp.test"], "kept as it was");
    let all = env.json(&["group", "show", "all"]);
    assert_eq!(all["apps"][0]["label"], "Intranet", "an orphaned group keeps its grants: {all}");
    let quiet = sync(&env, "Groups", &[]);
    assert_eq!(
        (quiet["memberships_added"].as_u64(), quiet["memberships_removed"].as_u64(), quiet["groups_orphaned"].as_u64()),
        (Some(0), Some(0), Some(0)),
        "a second sync with nothing new changes nothing: {quiet}"
    );
}

/// Two thousand users: more than slapd's default size limit (500) and AD's page limit (1,000),
/// so only a paged search reads them all.
#[test]
fn two_thousand_users_are_read_page_by_page() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ou = "big";
    let mut ldif = format!("dn: ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: {ou}\n\n");
    for n in 1..=2000 {
        ldif.push_str(&person(ou, n));
    }
    ldap_change(slapd, &ldif);
    let base = format!("ou={ou},{BASE_DN}");
    let urls = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    let ca = slapd.ca_file();
    let mut args = add_args("Big", &urls, &["--ca-file", &ca]);
    let position = args.iter().position(|a| *a == PEOPLE_DN).unwrap();
    args[position] = &base;
    assert!(env.run_with_stdin(&args, &format!("{BIND_PASSWORD}\n")).status.success());
    let started = Instant::now();
    let first = sync(&env, "Big", &[]);
    eprintln!("2,000 users synced in {:?}", started.elapsed());
    assert_eq!((first["created"].as_u64(), first["errors"].as_u64()), (Some(2000), Some(0)), "{first}");
    assert_eq!((first["read"].as_str(), first["read_in_full"].as_u64()), (Some("full"), Some(2000)), "{first}");
    let started = Instant::now();
    let again = sync(&env, "Big", &[]);
    eprintln!("2,000 users, none changed, synced incrementally in {:?}", started.elapsed());
    assert_eq!(again["unchanged"], 2000, "{again}");
    // Only the entries at the last change marker are read again.
    assert_eq!(again["read"], "incremental", "{again}");
    assert!(again["read_in_full"].as_u64().unwrap() <= 1, "{again}");
    assert_eq!(env.json(&["user", "show", "u2000@big.test"])["last_name"], "Number2000");

    // One changed, one deleted: the change is read, the deletion found by the full anchor list.
    ldap_change(
        slapd,
        &format!(
            "dn: uid=u5,ou={ou},{BASE_DN}\nchangetype: modify\nreplace: sn\nsn: Renamed\n\n\
             dn: uid=u7,ou={ou},{BASE_DN}\nchangetype: delete\n\n"
        ),
    );
    let third = sync(&env, "Big", &[]);
    assert_eq!(
        (third["read"].as_str(), third["updated"].as_u64(), third["suspended"].as_u64()),
        (Some("incremental"), Some(1), Some(1)),
        "{third}"
    );
    assert!(third["read_in_full"].as_u64().unwrap() <= 2, "{third}");
    assert_eq!(third["unchanged"], 1998, "{third}");
    assert_eq!(env.json(&["user", "show", "u5@big.test"])["last_name"], "Renamed");
    assert_eq!(env.json(&["user", "show", "u7@big.test"])["state"], "suspended");
    // A change the sync cannot take (the new name is a local user's) is read again by the next
    // incremental sync, and taken once the clash is gone.
    env.ok(&["user", "add", "taken@big.test"]);
    ldap_change(
        slapd,
        &format!("dn: uid=u9,ou={ou},{BASE_DN}\nchangetype: modify\nreplace: mail\nmail: taken@big.test\n\n"),
    );
    let refused = sync(&env, "Big", &[]);
    assert_eq!((refused["errors"].as_u64(), refused["updated"].as_u64()), (Some(1), Some(0)), "{refused}");
    let again = sync(&env, "Big", &[]);
    assert_eq!(
        (again["read"].as_str(), again["errors"].as_u64()),
        (Some("incremental"), Some(1)),
        "still refused, not forgotten: {again}"
    );
    env.ok(&["user", "delete", "taken@big.test"]);
    let taken = sync(&env, "Big", &[]);
    assert_eq!(
        (taken["read"].as_str(), taken["updated"].as_u64(), taken["errors"].as_u64()),
        (Some("incremental"), Some(1), Some(0)),
        "{taken}"
    );
    assert_eq!(env.json(&["user", "show", "taken@big.test"])["last_name"], "Number9");

    // --full reads everything, and finds nothing more.
    let full = sync(&env, "Big", &["--full"]);
    assert_eq!(
        (full["read"].as_str(), full["read_in_full"].as_u64(), full["unchanged"].as_u64()),
        (Some("full"), Some(1999), Some(1999)),
        "{full}"
    );

    // On a terminal (a pseudo-terminal from script(1)), a progress display on stderr; in a
    // pipe, none.
    let binary = std::env::var("TESSERA_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tessera").to_string());
    let command = format!("{binary} --data-dir {} directory sync Big --dry-run", env.data_dir().display());
    let out = Command::new("script").args(["-qefc", &command, "/dev/null"]).output().unwrap();
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{terminal}");
    assert!(terminal.contains("Big: ") && terminal.contains("would sync Big"), "{terminal}");
    let piped = env.run(&["directory", "sync", "Big", "--dry-run"]);
    assert!(piped.status.success());
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("Big: "), "no progress display in a pipe");
}

/// An entry with a 2 MB attribute (slapd takes up to 4 MB from a bound client): reported, and
/// every other entry synced.
#[test]
fn an_entry_with_a_huge_attribute_is_reported_and_the_rest_synced() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ou = "huge";
    let mut ldif = format!("dn: ou={ou},{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: {ou}\n\n");
    ldif.push_str(&person(ou, 1));
    ldif.push_str(&person(ou, 2).replace("givenName: User", &format!("givenName: {}", "G".repeat(2 * 1024 * 1024))));
    ldap_change(slapd, &ldif);
    let base = format!("ou={ou},{BASE_DN}");
    let urls = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    let ca = slapd.ca_file();
    let mut args = add_args("Huge", &urls, &["--ca-file", &ca]);
    let position = args.iter().position(|a| *a == PEOPLE_DN).unwrap();
    args[position] = &base;
    assert!(env.run_with_stdin(&args, &format!("{BIND_PASSWORD}\n")).status.success());
    let synced = sync(&env, "Huge", &[]);
    assert_eq!((synced["created"].as_u64(), synced["errors"].as_u64()), (Some(1), Some(1)), "{synced}");
    let message = synced["messages"][0].as_str().unwrap();
    assert!(message.contains("uid=u2") && message.contains("first_name") && message.len() < 400, "{message}");
    env.fails(&["user", "show", "u2@huge.test"], 1);
}
