//! Users and groups in the admin portal, in-process: a CSV import previewed then imported (and
//! bad files refused whole), a user's page with the applications they may use and why, the
//! actions on a user, and a group's applications as checkboxes.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tessera_core::{Actor, AdminRole};

use super::admin_portal::{OWN, admin_login};
use super::signin::{Browser, PASSWORD, Response, World, config};

const BOUNDARY: &str = "----tessera-test-boundary";

/// A multipart form post: text fields, and one file field.
async fn post_multipart(
    browser: &mut Browser<'_>,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> Response {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"users.csv\"\r\n\
                 Content-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let request = Request::post(path).header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"));
    browser.send(request, Body::from(body)).await
}

async fn signed_in<'w>(world: &'w World, name: &str, role: AdminRole) -> Browser<'w> {
    let hash = tessera_auth::password::hash_password(OWN).unwrap();
    world.store.create_admin(&Actor::system(), name, &hash, role, &[]).await.unwrap();
    let mut browser = Browser::new(world).from("10.0.0.30");
    assert_eq!(admin_login(&mut browser, name, OWN).await.location.as_deref(), Some("/admin/applications"));
    browser
}

/// The hidden `csv` value of the preview's confirmation form, as a browser would send it.
fn previewed_csv(page: &str) -> String {
    let start = page.find("name=\"csv\" value=\"").unwrap() + "name=\"csv\" value=\"".len();
    let end = start + page[start..].find('"').unwrap();
    // What a browser does with the attribute: character references back to characters.
    let mut text = page[start..end].replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">");
    while let Some(at) = text.find("&#") {
        let end = at + text[at..].find(';').unwrap();
        let code: u32 = text[at + 2..end].parse().unwrap();
        text.replace_range(at..=end, &char::from_u32(code).unwrap().to_string());
    }
    text.replace("&amp;", "&")
}

#[tokio::test]
async fn an_import_is_previewed_then_written_whole_and_a_bad_file_writes_nothing() {
    let (world, _apps) = World::new(config()).await;
    let mut admin = signed_in(&world, "boss", AdminRole::Admin).await;
    let csrf = admin.csrf();
    let form = admin.get("/admin/users/import").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("CSV file"), "{}", form.body);
    let before = world.audit_actions().await.len();

    let bad: [(&[u8], &str); 3] = [
        (b"email,last_name\nmallory@contoso.com,=cmd|' /C calc'!A0\n", "line 2: last_name: a value starting with"),
        (b"email\nann@contoso.com\nANN@contoso.com\n", "line 3: ANN@contoso.com is also on line 2"),
        (b"email\nalice@contoso.com\n", "line 2: alice@contoso.com or alice@contoso.com is already used"),
    ];
    for (file, said) in bad {
        let refused = post_multipart(&mut admin, "/admin/users/import", &[("csrf", &csrf)], Some(("file", file))).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(
            refused.body.contains("Nothing was imported") && refused.body.contains(said),
            "{said}: {}",
            refused.body
        );
        assert!(!refused.body.contains("Import these users"));
    }
    assert_eq!(world.audit_actions().await.len(), before, "nothing written");

    let csv = "email,first_name,last_name,groups\r\nann@contoso.com,Ann,\"O'Neil <Jr>\",Staff;Finance\r\nbob@contoso.com,Bob,,finance\r\n";
    let preview =
        post_multipart(&mut admin, "/admin/users/import", &[("csrf", &csrf)], Some(("file", csv.as_bytes()))).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    for expected in [
        "Preview: nothing is imported yet",
        "ann@contoso.com",
        "O&#39;Neil &#60;Jr&#62;",
        "New groups to create: Finance",
        "Import these users",
    ] {
        assert!(preview.body.contains(expected), "{expected}: {}", preview.body);
    }
    assert!(world.store.find_user("ann@contoso.com").await.is_err(), "a preview writes nothing");
    assert_eq!(world.audit_actions().await.len(), before);

    let confirmed = post_multipart(
        &mut admin,
        "/admin/users/import",
        &[("csrf", &csrf), ("confirm", "yes"), ("csv", &previewed_csv(&preview.body))],
        None,
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert!(
        confirmed.body.contains("Imported 2 users and 3 group memberships. Created groups: Finance."),
        "{}",
        confirmed.body
    );
    let ann = world.store.find_user("ann@contoso.com").await.unwrap();
    assert_eq!(ann.last_name, "O'Neil <Jr>");
    let users = admin.get("/admin/users?q=contoso").await;
    assert!(users.body.contains("ann@contoso.com") && users.body.contains("bob@contoso.com"), "{}", users.body);
}

/// The passkeys on a user's page: listed with when each was enrolled and last used, each with
/// its own Remove button (named for a screen reader), removed and audited; a name the user has
/// not is refused and changes nothing; an auditor sees them without the buttons.
#[tokio::test]
async fn a_users_page_lists_their_passkeys_and_removes_one() {
    let (world, _) = World::new(config()).await;
    let mut admin = signed_in(&world, "boss", AdminRole::Admin).await;
    let csrf = admin.csrf();
    let alice = world.store.find_user("alice@contoso.com").await.unwrap();
    let id = alice.id.to_string();
    let empty = admin.get(&format!("/admin/users/{id}")).await;
    assert!(empty.body.contains("No passkey or security key."), "{}", empty.body);
    for (name, credential, used) in [("Laptop <touch>", 1u8, Some(1_700_000_100_000)), ("YubiKey 5", 2, None)] {
        let passkey = tessera_store::PasskeyCredential {
            user_id: alice.id,
            name: name.into(),
            credential_id: vec![credential; 16],
            user_handle: vec![7; 16],
            passkey_json: "{}".into(),
            sign_count: 0,
            created_at: 1_700_000_000_000,
            last_used_at: used,
        };
        world.store.add_passkey(&Actor::cli("setup"), &passkey).await.unwrap();
    }
    let page = admin.get(&format!("/admin/users/{id}")).await;
    for expected in [
        "Laptop &#60;touch&#62;",
        "YubiKey 5",
        "2023-11-14 22:13 UTC",
        "2023-11-14 22:15 UTC",
        "Never",
        "aria-label=\"Remove the passkey YubiKey 5\"",
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }

    let removed =
        admin.post(&format!("/admin/users/{id}/passkey-remove"), &[("csrf", &csrf), ("name", "YubiKey 5")]).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert!(removed.body.contains("was removed.") && !removed.body.contains("Never"), "{}", removed.body);
    let left: Vec<String> = world.store.passkeys(alice.id).await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(left, ["Laptop <touch>"]);

    let audit_before =
        world.store.list_audit(&tessera_store::AuditQuery { limit: 1000, ..Default::default() }).await.unwrap();
    let again =
        admin.post(&format!("/admin/users/{id}/passkey-remove"), &[("csrf", &csrf), ("name", "YubiKey 5")]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
    assert!(again.body.contains("role=\"alert\""), "{}", again.body);
    let forged = admin.post(&format!("/admin/users/{id}/passkey-remove"), &[("name", "Laptop <touch>")]).await;
    assert_ne!(forged.status, StatusCode::OK, "no CSRF token: {}", forged.body);
    let audit_after =
        world.store.list_audit(&tessera_store::AuditQuery { limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(audit_before.len(), audit_after.len(), "refusals write nothing");
    assert_eq!(world.store.passkeys(alice.id).await.unwrap().len(), 1);
    let removal = audit_before.iter().find(|e| e.action == "user.mfa_reset").expect("the removal is audited");
    assert_eq!(removal.summary["name"], "YubiKey 5");

    let mut auditor = signed_in(&world, "reader", AdminRole::Auditor).await;
    let read = auditor.get(&format!("/admin/users/{id}")).await;
    assert!(read.body.contains("Laptop &#60;touch&#62;") && !read.body.contains("passkey-remove"), "{}", read.body);
    let auditor_csrf = auditor.csrf();
    let refused = auditor
        .post(&format!("/admin/users/{id}/passkey-remove"), &[("csrf", &auditor_csrf), ("name", "Laptop <touch>")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "an auditor reads, never removes: {}", refused.body);
    assert_eq!(world.store.passkeys(alice.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_users_page_says_what_they_may_use_and_why_and_acts_for_them() {
    let (world, apps) = World::new(config()).await;
    let mut admin = signed_in(&world, "boss", AdminRole::Admin).await;
    let csrf = admin.csrf();
    // Alice signs in to the user portal: a session to end.
    let mut alice = Browser::signed_in(&world, "10.0.0.5").await;
    assert_eq!(alice.get("/").await.status, StatusCode::OK);
    let id = world.store.find_user("alice@contoso.com").await.unwrap().id.to_string();
    let page = admin.get(&format!("/admin/users/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for expected in ["alice@contoso.com", "Staff", "Wiki", "M365", "Granted through"] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    assert!(!page.body.contains("Payroll"), "not granted: {}", page.body);

    let out = admin.post(&format!("/admin/users/{id}/sign-out"), &[("csrf", &csrf)]).await;
    assert!(out.body.contains("Signed out everywhere: 1 session(s) ended."), "{}", out.body);
    assert_ne!(alice.get("/").await.status, StatusCode::OK, "her session is over");

    let mismatch = admin
        .post(
            &format!("/admin/users/{id}/password"),
            &[("csrf", &csrf), ("password", "a new password 1"), ("confirm", "another")],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    let short = admin
        .post(&format!("/admin/users/{id}/password"), &[("csrf", &csrf), ("password", "x"), ("confirm", "x")])
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    let user = world.store.find_user(&id).await.unwrap();
    assert!(tessera_auth::password::verify_password(PASSWORD, user.password_hash.as_deref().unwrap()).unwrap());

    let suspended = admin.post(&format!("/admin/users/{id}/suspend"), &[("csrf", &csrf)]).await;
    assert!(suspended.body.contains("Suspended.") && suspended.body.contains("Activate"), "{}", suspended.body);
    assert_eq!(world.store.find_user(&id).await.unwrap().state, tessera_core::UserState::Suspended);
    let reset = admin.post(&format!("/admin/users/{id}/mfa-reset"), &[("csrf", &csrf)]).await;
    assert!(reset.body.contains("had no second factor"), "{}", reset.body);

    // A group's applications, from its own panel.
    let staff = world.store.find_group("Staff").await.unwrap().id.to_string();
    let group = admin.get(&format!("/admin/groups/{staff}")).await;
    assert!(group.body.contains("alice@contoso.com") && group.body.contains("Payroll"), "{}", group.body);
    let saved = admin
        .post(
            &format!("/admin/groups/{staff}/apps"),
            &[("csrf", &csrf), ("app", &apps.not_granted), ("app", &apps.m365)],
        )
        .await;
    assert!(saved.body.contains("Saved: 1 granted, 1 revoked."), "{}", saved.body);
    let forged = admin.post(&format!("/admin/groups/{staff}/apps"), &[("csrf", &csrf), ("app", "Payroll")]).await;
    assert_eq!(forged.status, StatusCode::UNPROCESSABLE_ENTITY);
    let granted: Vec<String> =
        world.store.apps_of_group(staff.parse().unwrap()).await.unwrap().into_iter().map(|a| a.label).collect();
    assert_eq!(granted.len(), 2, "{granted:?}");
    assert!(granted.contains(&"Payroll".to_string()) && !granted.contains(&"Wiki".to_string()));
    let added =
        admin.post(&format!("/admin/groups/{staff}/members"), &[("csrf", &csrf), ("user", "nobody@contoso.com")]).await;
    assert_eq!(added.status, StatusCode::NOT_FOUND, "{}", added.body);
    let new = admin.post("/admin/groups/new", &[("csrf", &csrf), ("name", "staff")]).await;
    assert_eq!(new.status, StatusCode::CONFLICT, "{}", new.body);
}
