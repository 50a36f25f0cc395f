//! Administrator roles, in the portal and the REST API, swept over every route: an application
//! administrator reaches only their applications (anything else with an id is "not found",
//! whether it exists or not; whole areas are 403), and an auditor reads and changes nothing.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tessera_core::{Actor, AdminRole, AppId};
use tower::ServiceExt;

use super::admin_portal::{OWN, admin_login};
use super::signin::{Apps, Browser, World, config};

/// The pages every administrator reaches, whatever their role.
const OWN_SESSION: &[&str] =
    &["/admin", "/admin/login", "/admin/mfa", "/admin/mfa/enrol", "/admin/password", "/admin/logout"];

pub(crate) async fn administrator<'w>(world: &'w World, name: &str, role: AdminRole, apps: &[&str]) -> Browser<'w> {
    let apps: Vec<AppId> = apps.iter().map(|a| a.parse().unwrap()).collect();
    let hash = tessera_auth::password::hash_password(OWN).unwrap();
    world.store.create_admin(&Actor::system(), name, &hash, role, &apps).await.unwrap();
    let mut browser = Browser::new(world).from("10.0.0.20");
    let signed_in = admin_login(&mut browser, name, OWN).await;
    assert_eq!(signed_in.location.as_deref(), Some("/admin/applications"), "{}", signed_in.body);
    browser
}

async fn world() -> (World, Apps) {
    let (world, apps) = World::new(config()).await;
    let hash = tessera_auth::password::hash_password(OWN).unwrap();
    world.store.create_admin(&Actor::system(), "boss", &hash, AdminRole::Admin, &[]).await.unwrap();
    (world, apps)
}

fn fill(template: &str, app: &str, world_ids: &Ids) -> String {
    template
        .replace("{app}", app)
        .replace("{kind}", "bookmark")
        .replace("{group}", &world_ids.group)
        .replace("{user}", &world_ids.user)
        .replace("{admin}", &world_ids.admin)
        .replace("{trace}", "0123456789abcdef0123456789abcdef")
}

struct Ids {
    group: String,
    user: String,
    admin: String,
}

async fn ids(world: &World) -> Ids {
    Ids {
        group: world.store.find_group("Staff").await.unwrap().id.to_string(),
        user: world.store.find_user("alice@contoso.com").await.unwrap().id.to_string(),
        admin: world.store.find_admin("boss").await.unwrap().id,
    }
}

#[tokio::test]
async fn an_application_administrator_reaches_only_their_applications_in_the_portal() {
    let (world, apps) = world().await;
    let ids = ids(&world).await;
    // Ann administers the Wiki; Payroll and M365 are someone else's.
    let mut ann = administrator(&world, "ann", AdminRole::AppAdmin, &[&apps.granted]).await;
    let list = ann.get("/admin/applications").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains("Wiki") && !list.body.contains("Payroll") && !list.body.contains("M365"),
        "{}",
        list.body
    );
    assert!(!list.body.contains("+ Add New Application") && !list.body.contains(">Users<"), "{}", list.body);

    let csrf = ann.csrf();
    let before = world.audit_actions().await;
    let nowhere = AppId::new().to_string();
    for template in tessera_web::admin_portal_paths() {
        if OWN_SESSION.contains(&template) {
            continue;
        }
        for app in [&apps.not_granted, &apps.m365, &nowhere] {
            let path = fill(template, app, &ids);
            for post in [false, true] {
                let response = if post {
                    let fields = [("csrf", csrf.as_str()), ("id", app), ("count", "1"), ("group", &ids.group)];
                    ann.post(&path, &fields).await
                } else {
                    ann.get(&path).await
                };
                let method = if post { "POST" } else { "GET" };
                let expected = if ["{app}", "{user}", "{group}", "{admin}"].iter().any(|p| template.contains(p)) {
                    StatusCode::NOT_FOUND
                } else if template == "/admin/applications" && !post {
                    StatusCode::OK // the list, of their applications only
                } else {
                    StatusCode::FORBIDDEN
                };
                assert!(
                    response.status == expected || response.status == StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: {} {:?}",
                    response.status,
                    response.location
                );
                for secret in ["Payroll", "payroll.contoso.com", "contoso.com</", "M365</"] {
                    assert!(!response.body.contains(secret), "{method} {path} shows {secret}: {}", response.body);
                }
            }
        }
    }
    // Another's application and one that does not exist answer alike: nothing to learn.
    let theirs = ann.get(&format!("/admin/applications/{}/general", apps.not_granted)).await;
    let missing = ann.get(&format!("/admin/applications/{nowhere}/general")).await;
    assert_eq!((theirs.status, theirs.body.clone()), (missing.status, missing.body));
    assert_eq!(world.audit_actions().await, before, "nothing changed");

    // Their own application: every tab opens, and a change goes through.
    for tab in ["general", "sso", "groups", "policy", "sign-ins"] {
        let page = ann.get(&format!("/admin/applications/{}/{tab}", apps.granted)).await;
        assert_eq!(page.status, StatusCode::OK, "{tab}: {}", page.body);
    }
    let saved = ann
        .post(
            &format!("/admin/applications/{}/groups", apps.granted),
            &[("csrf", csrf.as_str()), ("group", &ids.group)],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("Saved."), "{}", saved.body);
    // Nor raising their own role: administrators are beyond their reach.
    let ann_id = world.store.find_admin("ann").await.unwrap().id;
    let escalate =
        ann.post(&format!("/admin/administrators/{ann_id}/role"), &[("csrf", csrf.as_str()), ("role", "admin")]).await;
    assert_eq!(escalate.status, StatusCode::NOT_FOUND);
    assert_eq!(world.store.find_admin("ann").await.unwrap().role, AdminRole::AppAdmin);
    // But not deleting it: that is a full administrator's act.
    let delete = ann.post("/admin/applications/delete", &[("csrf", csrf.as_str()), ("id", &apps.granted)]).await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    assert!(world.store.find_app(&apps.granted).await.is_ok());
}

#[tokio::test]
async fn an_auditor_reads_every_page_and_changes_nothing() {
    let (world, apps) = world().await;
    let ids = ids(&world).await;
    let mut otto = administrator(&world, "otto", AdminRole::Auditor, &[]).await;
    let csrf = otto.csrf();
    let before = world.audit_actions().await;
    let page = otto.get(&format!("/admin/applications/{}/general", apps.m365)).await;
    assert!(page.body.contains("Read-only") && !page.body.contains(">Save Application<"), "{}", page.body);
    for template in tessera_web::admin_portal_paths() {
        if OWN_SESSION.contains(&template) {
            continue;
        }
        let path = fill(template, &apps.m365, &ids);
        let read = otto.get(&path).await;
        assert!(
            matches!(
                read.status,
                StatusCode::OK | StatusCode::SEE_OTHER | StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED
            ) || (template.contains("{trace}") && read.status == StatusCode::NOT_FOUND),
            "GET {path}: {}",
            read.status
        );
        let fields = [("csrf", csrf.as_str()), ("id", apps.m365.as_str()), ("count", "1"), ("group", &ids.group)];
        let write = otto.post(&path, &fields).await;
        assert!(
            matches!(write.status, StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED),
            "POST {path}: {} {:?}",
            write.status,
            write.location
        );
    }
    let otto_id = world.store.find_admin("otto").await.unwrap().id;
    let escalate = otto
        .post(&format!("/admin/administrators/{otto_id}/role"), &[("csrf", csrf.as_str()), ("role", "admin")])
        .await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);
    assert_eq!(world.audit_actions().await, before, "nothing changed");
    assert!(world.store.find_app(&apps.m365).await.is_ok());
    assert_eq!(world.store.find_admin("otto").await.unwrap().role, AdminRole::Auditor);
}

#[tokio::test]
async fn a_full_administrator_sets_roles_in_the_portal_and_the_last_one_keeps_theirs() {
    let (world, apps) = world().await;
    let mut erin = administrator(&world, "erin", AdminRole::Admin, &[]).await;
    let csrf = erin.csrf();
    let hash = tessera_auth::password::hash_password(OWN).unwrap();
    let ann = world.store.create_admin(&Actor::system(), "ann", &hash, AdminRole::Auditor, &[]).await.unwrap();
    let page = erin.get("/admin/administrators").await;
    assert!(page.body.contains("ann: Auditor (read-only)") && page.body.contains("Save role of ann"), "{}", page.body);
    let path = format!("/admin/administrators/{}/role", ann.id);
    let done = erin.post(&path, &[("csrf", &csrf), ("role", "app-admin"), ("app", &apps.granted)]).await;
    assert!(done.body.contains("ann is now: Application administrator."), "{}", done.body);
    let authority = world.store.admin_apps(&ann.id).await.unwrap();
    assert_eq!(authority.len(), 1);
    for (fields, status) in [
        (vec![("role", "root")], StatusCode::UNPROCESSABLE_ENTITY),
        (vec![("role", "app-admin")], StatusCode::UNPROCESSABLE_ENTITY),
        (vec![("role", "auditor"), ("app", apps.granted.as_str())], StatusCode::UNPROCESSABLE_ENTITY),
        (vec![("role", "app-admin"), ("app", "0123")], StatusCode::NOT_FOUND),
    ] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields.iter().copied());
        assert_eq!(erin.post(&path, &form).await.status, status, "{fields:?}");
    }
    // Two full administrators: erin makes the boss an auditor; then she is the last one, and keeps the role.
    let erin_id = world.store.find_admin("erin").await.unwrap().id;
    let boss_id = world.store.find_admin("boss").await.unwrap().id;
    erin.post(&format!("/admin/administrators/{boss_id}/role"), &[("csrf", &csrf), ("role", "auditor")]).await;
    let last =
        erin.post(&format!("/admin/administrators/{erin_id}/role"), &[("csrf", &csrf), ("role", "auditor")]).await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert!(last.body.contains("last full administrator"), "{}", last.body);
}

/// One REST call with a bearer token.
async fn call(world: &World, token: &str, method: &Method, path: &str) -> (StatusCode, String) {
    let mut request = Request::builder().method(method.clone()).uri(format!("/api/v1{path}"));
    request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = if matches!(*method, Method::GET | Method::DELETE) {
        Body::empty()
    } else {
        request = request.header(header::CONTENT_TYPE, "application/json");
        Body::from(
            r#"{"group":"Staff","label":"X","password":"a long enough password","require_mfa":"yes","email":"x@contoso.com","name":"X","kind":"bookmark","url":"https://x.contoso.com/","ids":[],"count":0}"#,
        )
    };
    let response = world.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn token(world: &World, name: &str, role: AdminRole, apps: &[&str]) -> String {
    let apps: Vec<AppId> = apps.iter().map(|a| a.parse().unwrap()).collect();
    let secret = format!("tsr_{name}-secret");
    let hash = tessera_auth::secret::sha256_hex(&secret);
    world.store.create_api_token(&Actor::system(), name, &hash, role, &apps).await.unwrap();
    secret
}

/// Every operation of the OpenAPI document, as (method, template).
async fn operations(world: &World, token: &str) -> Vec<(Method, String)> {
    let (status, document) = call(world, token, &Method::GET, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let document: Value = serde_json::from_str(&document).unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase().parse().unwrap(), path.clone()));
        }
    }
    assert!(operations.len() >= 30, "{operations:?}");
    operations
}

#[tokio::test]
async fn the_api_holds_every_token_to_its_role_and_applications() {
    let (world, apps) = world().await;
    let ids = ids(&world).await;
    let scoped = token(&world, "wiki-bot", AdminRole::AppAdmin, &[&apps.granted]).await;
    let reader = token(&world, "reader", AdminRole::Auditor, &[]).await;
    let before = world.audit_actions().await;
    let nowhere = AppId::new().to_string();
    for (method, template) in operations(&world, &scoped).await {
        for app in [&apps.not_granted, &nowhere] {
            let path = fill(&template, app, &ids);
            let (status, body) = call(&world, &scoped, &method, &path).await;
            let object = ["{app}", "{user}", "{group}", "{admin}"].iter().any(|p| template.contains(p));
            if template == "/apps" && method == Method::GET {
                assert_eq!(status, StatusCode::OK);
                assert!(body.contains("Wiki") && !body.contains("Payroll") && !body.contains("M365"), "{body}");
                continue;
            }
            let expected = if object { StatusCode::NOT_FOUND } else { StatusCode::FORBIDDEN };
            assert_eq!(status, expected, "{method} {path}: {body}");
            for secret in ["Payroll", "alice", "Staff\""] {
                assert!(!body.contains(secret), "{method} {path} shows {secret}: {body}");
            }
        }
        // The auditor reads everything and changes nothing.
        let path = fill(&template, &apps.m365, &ids);
        let (status, body) = call(&world, &reader, &method, &path).await;
        if method == Method::GET {
            assert_ne!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        }
    }
    assert_eq!(world.audit_actions().await, before, "nothing changed");

    // Within its reach, the scoped token works: its application's policy and grants.
    let (status, body) = call(&world, &scoped, &Method::GET, &format!("/apps/{}", apps.granted)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        call(&world, &scoped, &Method::PUT, &format!("/apps/{}/groups/{}", apps.granted, ids.group)).await;
    assert!(status.is_success(), "{status} {body}");
    let (status, _) = call(&world, &scoped, &Method::DELETE, &format!("/apps/{}", apps.granted)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "deleting is a full administrator's act");
}
