//! The audit log's filters and the dashboard, in-process: a sign-in, a failure and a refusal
//! show on the chart and in its table, per application; the log filters by action, user,
//! application and time, newest first, a page at a time; bad filters are said, not obeyed.

use axum::http::StatusCode;
use tessera_core::{Actor, AdminRole};

use super::admin_portal::{OWN, admin_login};
use super::signin::{Browser, World, config};

#[tokio::test]
async fn sign_ins_failures_and_refusals_reach_the_dashboard_and_the_filtered_log() {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(OWN).unwrap();
    world.store.create_admin(&Actor::system(), "otto", &hash, AdminRole::Auditor, &[]).await.unwrap();
    // Alice opens the Wiki (a sign-in) and Payroll (refused: no granted group), and someone
    // types a wrong password for her (a failure).
    let mut alice = Browser::signed_in(&world, "10.0.0.5").await;
    assert_eq!(alice.get(&format!("/launch/{}", apps.granted)).await.status, StatusCode::SEE_OTHER);
    alice.get(&format!("/launch/{}", apps.not_granted)).await;
    let mut stranger = Browser::new(&world).from("10.0.0.99");
    stranger.login("alice@contoso.com", "not her password", "").await;

    let mut otto = Browser::new(&world).from("10.0.0.40");
    assert_eq!(admin_login(&mut otto, "otto", OWN).await.location.as_deref(), Some("/admin/applications"));
    let all = otto.get("/admin/dashboard").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert!(all.body.contains("1 sign-ins, 1 failures and 1 refusals over 168 hours"), "{}", all.body);
    assert!(all.body.contains("<polyline") && all.body.contains("role=\"img\""), "{}", all.body);
    // A small chart per application, beside its totals.
    assert_eq!(all.body.matches("class=\"sparkline\"").count(), 3, "{}", all.body);
    let wiki_row = all.body.split("<tr>").find(|row| row.contains(">Wiki</a>")).unwrap();
    assert!(wiki_row.contains("<td>1</td><td>0</td>"), "{wiki_row}");
    // The M365 connector's certificate was made for 30 days.
    let expiring = all.body.split("Certificates that expire within 60 days").nth(1).unwrap();
    assert!(expiring.contains("M365") && expiring.contains("current"), "{expiring}");
    let wiki = otto.get(&format!("/admin/dashboard?app={}&days=2", apps.granted)).await;
    assert!(wiki.body.contains("1 sign-ins, 0 failures and 0 refusals over 48 hours"), "{}", wiki.body);
    for bad in ["/admin/dashboard?days=0", "/admin/dashboard?days=400"] {
        assert_eq!(otto.get(bad).await.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(otto.get("/admin/dashboard?app=nothing-here").await.status, StatusCode::NOT_FOUND);

    let denied = otto.get("/admin/audit?action=signin.denied").await;
    assert_eq!(denied.status, StatusCode::OK);
    assert!(denied.body.contains("signin.denied") && !denied.body.contains("signin.launch"), "{}", denied.body);
    let signins = otto.get("/admin/audit?action=signin.&user=alice%40contoso.com").await;
    for action in ["signin.launch", "signin.denied", "signin.password"] {
        assert!(signins.body.contains(action), "{action}: {}", signins.body);
    }
    assert!(!signins.body.contains("user.create"), "{}", signins.body);
    let wiki_only = otto.get(&format!("/admin/audit?app={}", apps.granted)).await;
    assert!(
        wiki_only.body.contains("signin.launch") && !wiki_only.body.contains("signin.denied"),
        "{}",
        wiki_only.body
    );
    let future = otto.get("/admin/audit?since=2099-01-01T00:00:00Z").await;
    assert!(future.body.contains("No event matches."), "{}", future.body);
    for (bad, said) in [
        ("/admin/audit?action=drop.table", "no audit action"),
        ("/admin/audit?since=yesterday", "RFC 3339"),
        ("/admin/audit?user=nobody%40contoso.com", "nobody@contoso.com"),
    ] {
        let refused = otto.get(bad).await;
        assert_ne!(refused.status, StatusCode::OK, "{bad}");
        assert!(refused.body.contains(said), "{bad}: {}", refused.body);
    }
}
