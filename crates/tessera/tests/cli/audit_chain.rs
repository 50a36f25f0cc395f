//! `tessera audit verify`: the chain of the audit trail, checked by the command and, from the
//! database and the master key alone, by an independent implementation (Python's `hmac`), then
//! tampered with as someone holding the database file could.

use super::*;

/// Recomputes every link from `tessera.db` and `master.key` as the format says (see the
/// store's `audit_chain.rs`): prints the number of records whose MAC matched, or the first
/// place that did not.
const PYTHON_CHAIN_CHECK: &str = r#"
import base64, hashlib, hmac, sqlite3, struct, sys
data = sys.argv[1]
master = base64.b64decode(open(data + "/master.key").read().strip())
key = hmac.new(master, b"tessera-audit-chain-key:v1", hashlib.sha256).digest()
db = sqlite3.connect(data + "/tessera.db")
rows = db.execute("SELECT chain_seq, chain_mac, at, actor, action, target_kind, target_id, summary "
                  "FROM audit_events WHERE chain_seq IS NOT NULL ORDER BY chain_seq").fetchall()
previous, expected = "", 1
for seq, mac, at, actor, action, kind, target, summary in rows:
    h = hmac.new(key, b"tessera-audit-chain-v1", hashlib.sha256)
    for part in (str(seq), previous, str(at), actor, action, kind, target, summary):
        part = part.encode()
        h.update(struct.pack(">Q", len(part)) + part)
    if seq != expected or h.hexdigest() != mac:
        print("broken", seq)
        sys.exit(0)
    previous, expected = mac, expected + 1
print("ok", len(rows))
"#;

fn python_check(env: &Env) -> String {
    let out = Command::new("python3").arg("-c").arg(PYTHON_CHAIN_CHECK).arg(env.data_dir()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs SQL on the database file directly, with the append-only triggers dropped first.
fn tamper(env: &Env, sql: &str) {
    let script = "import sqlite3, sys\n\
                  db = sqlite3.connect(sys.argv[1] + '/tessera.db')\n\
                  db.executescript('DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;' + sys.argv[2])\n\
                  db.commit()\n";
    let out = Command::new("python3").arg("-c").arg(script).arg(env.data_dir()).arg(sql).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn audit_verify_walks_the_chain_that_an_independent_implementation_recomputes_and_finds_tampering() {
    let env = Env::sqlite();
    env.ok(&["user", "add", "alice@contoso.com"]);
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "alice@contoso.com"]);
    env.ok(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
    let records = env.json(&["audit", "list"]).as_array().unwrap().len();
    assert!(records >= 5, "{records}");

    let out = env.ok(&["audit", "verify"]);
    assert!(out.contains(&format!("checked {records} record(s), 1 to {records}")), "{out}");
    assert!(out.contains("the audit chain is intact"), "{out}");
    let report = env.json(&["audit", "verify"]);
    assert_eq!(report["intact"], true);
    assert_eq!(report["checked"], records);
    assert_eq!(report["head_seq"], records);
    assert_eq!(report["broken"], Value::Null);
    assert_eq!(python_check(&env), format!("ok {records}"), "Python's hmac finds every link as Tessera made it");

    // Bad input changes nothing and says what was wrong.
    let error = env.fails(&["audit", "verify", "--since", "yesterday"], 1);
    assert!(error.contains("--since"), "{error}");
    let since = env.json(&["audit", "verify", "--since", "2000-01-01T00:00:00Z"]);
    assert_eq!(since["checked"], records);

    // One record's summary edited in the file.
    tamper(&env, "UPDATE audit_events SET summary = '{\"name\":\"Admins\"}' WHERE chain_seq = 2");
    let out = env.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("the audit chain is broken at record 2 (id 2, at "), "{error}");
    assert!(error.contains("its MAC does not match"), "{error}");
    assert_eq!(python_check(&env), "broken 2", "the independent check agrees");
    let report: Value = serde_json::from_slice(&env.run(&["audit", "verify", "--json"]).stdout).unwrap();
    assert_eq!(report["intact"], false);
    assert_eq!(report["broken"]["seq"], 2);
    assert_eq!(report["broken"]["problem"], "altered");
    // A walk from after the edited record trusts the link before it and finds the rest whole.
    let later = env.json(&["audit", "list"]).as_array().unwrap()[3]["at"].as_str().unwrap().to_string();
    let after: Value =
        serde_json::from_slice(&env.run(&["audit", "verify", "--since", &later, "--json"]).stdout).unwrap();
    assert!(after["first_seq"].as_i64().unwrap() >= 3, "{after}");
    assert_eq!(after["intact"], true, "{after}");

    // A record deleted in the middle.
    tamper(&env, "DELETE FROM audit_events WHERE chain_seq = 1");
    let error = env.fails(&["audit", "verify"], 1);
    assert!(error.contains("broken at record 1: the record is missing"), "{error}");

    // Without the master key nothing runs, not even a read: the chain cannot be checked or
    // extended without it.
    std::fs::remove_file(env.data_dir().join("master.key")).unwrap();
    let error = env.fails(&["audit", "verify"], 1);
    assert!(error.contains("master.key is missing"), "{error}");
}
