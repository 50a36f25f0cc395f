//! `tessera m365 users` against the Graph test double: the coverage report (read across
//! Graph's pages, never following a page link elsewhere), `--fix` (refused under Entra
//! Connect and, for ImmutableIDs, on a federated domain; a dry run writes nothing; a write Graph
//! refuses is reported and the rest made) and `--from-entra` (Entra's values copied, conflicts
//! reported); bad usage exits 2.

use serde_json::Value;

use super::Env;
use super::graph_double::{Double, UserRecord};
use super::m365_graph::{PUBLIC, Run, tenant};

fn status_of(report: &Value, upn: &str) -> String {
    let row = report["users"].as_array().unwrap().iter().find(|r| r["upn"].as_str().unwrap().eq_ignore_ascii_case(upn));
    row.unwrap_or_else(|| panic!("{upn} not in {report}"))["status"].as_str().unwrap().to_string()
}

fn tessera_immutable_id(env: &Env, upn: &str) -> String {
    env.json(&["user", "show", upn])["immutable_id"].as_str().unwrap().to_string()
}

#[test]
fn tessera_users_against_entra_report_fix_and_copy() {
    let env = Env::sqlite();
    let mut graph = tenant();
    graph.clients.get_mut("tessera").unwrap().permissions.push("User.ReadWrite.All");
    graph.user_page = 2;
    graph.add_user(UserRecord::new("alice@contoso.com", Some("QUxJQ0U=")));
    graph.add_user(UserRecord::new("bob@contoso.com", None));
    graph.add_user(UserRecord::new("carol@contoso.com", Some("Q0FST0wtRU5UUkE=")));
    graph.add_user(UserRecord::new("erin@contoso.com", Some("RVJJTg==")));
    graph.add_user(UserRecord::new("frank@northwind.com", None));
    let double = Double::start(graph);
    let run = Run { env: &env, double: &double };
    env.ok(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", "contoso.com"]);
    env.ok(&["user", "add", "alice@contoso.com", "--immutable-id", "QUxJQ0U="]);
    env.ok(&["user", "add", "Bob@Contoso.com", "--first-name", "Bob", "--last-name", "Berg"]);
    env.ok(&["user", "add", "carol@contoso.com", "--immutable-id", "Q0FST0wtVEVTU0VSQQ=="]);
    env.ok(&["user", "add", "dave@contoso.com", "--first-name", "Dave", "--last-name", "Dahl"]);
    env.ok(&["user", "add", "gina@contoso.com"]);
    env.ok(&["user", "suspend", "gina@contoso.com"]);
    env.ok(&["user", "add", "hal@northwind.com"]);

    // The report: read across Graph's pages of two, the domain's users only.
    let report = run.json(&["users", "--domain", "contoso.com"]);
    assert_eq!(status_of(&report, "alice@contoso.com"), "match");
    assert_eq!(status_of(&report, "bob@contoso.com"), "missing_in_entra");
    assert_eq!(status_of(&report, "carol@contoso.com"), "different");
    assert_eq!(status_of(&report, "dave@contoso.com"), "no_entra_user");
    assert_eq!(status_of(&report, "erin@contoso.com"), "entra_only");
    assert_eq!(report["users"].as_array().unwrap().len(), 6, "{report}");
    assert!(!report.to_string().contains("northwind"), "{report}");
    assert_eq!(report["authenticationType"], "Managed");
    assert_eq!(report["counts"]["different"], 1);
    // bob, carol, dave, erin; not gina, who is suspended.
    assert_eq!(report["would_fail"], 4, "{report}");
    let table = String::from_utf8(run.m365(&["users", "--domain", "contoso.com"]).stdout).unwrap();
    assert!(table.contains("missing in Entra") && table.contains("4 active user(s) would fail"), "{table}");

    // Bad usage and bad input: nothing written.
    for args in [
        vec!["users", "--domain", "contoso.com", "--fix", "--from-entra"],
        vec!["users", "--domain", "contoso.com", "--dry-run"],
        vec!["users"],
    ] {
        assert_eq!(run.m365(&args).status.code(), Some(2), "{args:?}");
    }
    assert!(run.fails("tessera", &["users", "--domain", "nowhere.com"]).contains("no domain nowhere.com"));
    assert!(run.fails("tessera", &["users", "--domain", "bad domain!"]).contains("domain"));
    // Without a user permission, the error names it.
    assert!(run.fails("reader", &["users", "--domain", "contoso.com"]).contains("User.Read.All"));
    // A page link to another host is never followed (it would carry the token there).
    double.with(|g| g.foreign_next_link = true);
    assert!(run.fails("tessera", &["users", "--domain", "contoso.com"]).contains("not followed"));
    double.with(|g| g.foreign_next_link = false);
    assert!(!double.with(|g| g.seen.iter().any(|s| s.contains("elsewhere"))));

    // --fix is refused as a whole while Entra Connect owns the tenant's users.
    double.with(|g| g.directory_sync = true);
    assert!(run.fails("tessera", &["users", "--domain", "contoso.com", "--fix"]).contains("Entra Connect"));
    double.with(|g| g.directory_sync = false);
    assert_eq!(run.writes(), 0);

    // A dry run says what it would do and writes nothing.
    let dry = run.json(&["users", "--domain", "contoso.com", "--fix", "--dry-run"]);
    let actions: Vec<(String, String)> = dry["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["action"].as_str().unwrap().to_string(), f["upn"].as_str().unwrap().to_lowercase()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("set_immutable_id".to_string(), "bob@contoso.com".to_string()),
            ("create".to_string(), "dave@contoso.com".to_string())
        ]
    );
    assert!(dry["fixes"].as_array().unwrap().iter().all(|f| f["done"] == false));
    assert!(dry["skipped"].to_string().contains("carol@contoso.com"), "{dry}");
    assert_eq!(run.writes(), 0);

    // --fix: bob's ImmutableID set, dave created with his; carol's different one left alone.
    let bob = tessera_immutable_id(&env, "bob@contoso.com");
    let dave = tessera_immutable_id(&env, "dave@contoso.com");
    let fixed = run.m365(&["users", "--domain", "contoso.com", "--fix"]);
    assert!(fixed.status.success(), "{}", String::from_utf8_lossy(&fixed.stderr));
    assert_eq!(double.with(|g| g.user("bob@contoso.com").unwrap().immutable_id.clone()), Some(bob));
    let created = double.with(|g| g.created_users.clone());
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["onPremisesImmutableId"], dave.as_str());
    assert_eq!(created[0]["displayName"], "Dave Dahl");
    assert_eq!(created[0]["mailNickname"], "dave");
    assert_eq!(
        double.with(|g| g.user("carol@contoso.com").unwrap().immutable_id.clone()).as_deref(),
        Some("Q0FST0wtRU5UUkE=")
    );
    let audit = env.json(&["audit", "list"]);
    assert!(audit.to_string().contains("m365.users_fix"), "{audit}");
    // Again: nothing left to fix, nothing written.
    let writes = run.writes();
    let again = run.json(&["users", "--domain", "contoso.com", "--fix"]);
    assert!(again["fixes"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(run.writes(), writes);

    // --from-entra: carol's Entra value copied into Tessera (a dry run first changes nothing).
    let dry = run.json(&["users", "--domain", "contoso.com", "--from-entra", "--dry-run"]);
    assert_eq!(dry["copies"][0]["upn"], "carol@contoso.com", "{dry}");
    assert_eq!(tessera_immutable_id(&env, "carol@contoso.com"), "Q0FST0wtVEVTU0VSQQ==");
    let copied = run.json(&["users", "--domain", "contoso.com", "--from-entra"]);
    assert_eq!(copied["copies"][0]["done"], true, "{copied}");
    assert_eq!(tessera_immutable_id(&env, "carol@contoso.com"), "Q0FST0wtRU5UUkE=");
    assert!(env.json(&["audit", "list"]).to_string().contains("user.set_identity"));
    let report = run.json(&["users", "--domain", "contoso.com"]);
    assert_eq!(report["would_fail"], 1, "only erin, whom Tessera does not know: {report}");

    // Entra's value that another Tessera user holds is a conflict, not a copy.
    double.with(|g| {
        let id = g.users.iter().find(|(_, u)| u.upn == "alice@contoso.com").map(|(id, _)| id.clone()).unwrap();
        g.users.get_mut(&id).unwrap().immutable_id = Some("Q0FST0wtRU5UUkE=".into());
    });
    let conflicted = run.json(&["users", "--domain", "contoso.com", "--from-entra"]);
    assert!(conflicted["copies"].as_array().unwrap().is_empty());
    assert!(conflicted["conflicts"][0]["reason"].as_str().unwrap().contains("another Tessera user"), "{conflicted}");
    assert_eq!(tessera_immutable_id(&env, "alice@contoso.com"), "QUxJQ0U=");

    // A write Graph refuses (an ImmutableID another Entra user holds) is reported, the
    // others made, and the command fails.
    env.ok(&["user", "add", "ivan@contoso.com", "--immutable-id", "RVJJTg=="]);
    env.ok(&["user", "add", "judy@contoso.com"]);
    let out = run.m365(&["users", "--domain", "contoso.com", "--fix"]);
    assert_eq!(out.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("FAILED: could not create ivan@contoso.com") && printed.contains("already exists"),
        "{printed}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 2"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(double.with(|g| g.user("judy@contoso.com").is_some()));
    assert!(double.with(|g| g.user("ivan@contoso.com").is_none()));

    // On a federated domain an ImmutableID can no longer be set: refused before any write.
    double.with(|g| g.domains.get_mut("contoso.com").unwrap().authentication_type = "Federated");
    double.with(|g| g.add_user(UserRecord::new("kim@contoso.com", None)));
    env.ok(&["user", "add", "kim@contoso.com"]);
    let writes = run.writes();
    assert!(
        run.fails("tessera", &["users", "--domain", "contoso.com", "--fix"])
            .contains("only while the domain is Managed")
    );
    assert_eq!(run.writes(), writes);
}
