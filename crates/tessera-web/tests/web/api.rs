//! The admin REST API, driven in-process.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tessera_core::Actor;
use tessera_store::{SqliteStore, Store};
use tower::ServiceExt;

const PUBLIC: &str = "https://idp.example.com";

struct Api {
    router: Router,
    token: String,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn tessera_core::Clock> = Arc::new(tessera_core::SystemClock);
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open_file(&dir.path().join("t.db"), clock.clone()).await.unwrap());
        let keys = Arc::new(tessera_keys::KeyService::open(store.clone(), &[9u8; 32], clock.clone()).await.unwrap());
        let token = "tsr_test-token".to_string();
        let hash = tessera_auth::secret::sha256_hex(&token);
        store.create_api_token(&Actor::system(), "robot", &hash, tessera_core::AdminRole::Admin, &[]).await.unwrap();
        let state = tessera_web::AppState::new(store.clone(), clock, keys, PUBLIC, Default::default(), None).unwrap();
        let router = tessera_web::router(state);
        Api { router, token, store, _dir: dir }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, body)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        let body = match body {
            Some(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).unwrap()).await
    }

    async fn raw_post(&self, path: &str, content_type: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        let request = Request::post(format!("/api/v1{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    async fn audit_len(&self) -> usize {
        self.call(Method::GET, "/audit", None).await.1.as_array().unwrap().len()
    }
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test]
async fn requests_without_a_live_token_are_refused() {
    let api = Api::new().await;
    let anonymous = Request::get("/api/v1/users").body(Body::empty()).unwrap();
    let (status, body) = api.send(anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");
    let wrong =
        Request::get("/api/v1/users").header(header::AUTHORIZATION, "Bearer tsr_wrong").body(Body::empty()).unwrap();
    assert_eq!(api.send(wrong).await.0, StatusCode::UNAUTHORIZED);
    api.store.revoke_api_token(&Actor::system(), "robot").await.unwrap();
    assert_eq!(api.call(Method::GET, "/users", None).await.0, StatusCode::UNAUTHORIZED, "revoked tokens stop at once");
}

#[tokio::test]
async fn directory_flow_authorizes_through_granted_groups() {
    let api = Api::new().await;
    let (status, user) = api
        .call(Method::POST, "/users", Some(json!({"email": "alice@contoso.com", "password": "correct horse"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["has_password"], true);
    assert_eq!(user["immutable_id"].as_str().unwrap().len(), 24);
    let (status, _) = api.call(Method::POST, "/groups", Some(json!({"name": "Staff"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(api.call(Method::PUT, "/groups/Staff/members/alice@contoso.com", None).await.0, StatusCode::CREATED);
    assert_eq!(api.call(Method::PUT, "/groups/Staff/members/alice@contoso.com", None).await.0, StatusCode::NO_CONTENT);
    let (status, app) = api.call(Method::POST, "/apps", Some(json!({"kind": "m365", "domain": "contoso.com"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["label"], "Microsoft 365 (contoso.com)");
    assert_eq!(app["issuer"], "https://idp.example.com/m365/contoso.com");
    assert_eq!(
        app["endpoints"].as_object().unwrap().len(),
        11,
        "usernamemixed and windowstransport for each WS-Trust, and ECP"
    );
    let certificate = app["signing_certificate"].as_str().unwrap().to_string();
    assert!(app["next_signing_certificate"].is_null());
    let (status, rotated) = api
        .call(Method::POST, &format!("/apps/{}/certificate/rotate", app["id"].as_str().unwrap()), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["signing_certificate"].as_str().unwrap(), certificate, "rotation replaces the certificate");
    let app_id = app["id"].as_str().unwrap().to_string();

    // The staged rollover: stage (published as next), promote (the old one stays as next),
    // clear; refusals first, each changing nothing.
    let cert = |step: &str| format!("/apps/{app_id}/certificate{step}");
    let current = rotated["signing_certificate"].clone();
    let (status, refused) = api.call(Method::POST, &cert("/promote"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, staged) = api.call(Method::POST, &cert("/stage"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{staged}");
    let next = staged["next_signing_certificate"].clone();
    assert!(next.is_string() && staged["signing_certificate"] == current);
    assert_eq!(api.call(Method::POST, &cert("/stage"), Some(json!({}))).await.0, StatusCode::CONFLICT);
    let (status, _) = api.call(Method::POST, &cert("/promote"), Some(json!({"grace_days": 91}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api.call(Method::POST, &cert("/promote"), Some(json!({"grace": 3}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused");
    let (status, promoted) = api.call(Method::POST, &cert("/promote"), Some(json!({"grace_days": 7}))).await;
    assert_eq!(status, StatusCode::OK, "{promoted}");
    assert_eq!((&promoted["signing_certificate"], &promoted["next_signing_certificate"]), (&next, &current));
    let (_, timeline) = api.call(Method::GET, &cert(""), None).await;
    assert!(timeline["timeline"]["previous_published_until"].is_string(), "{timeline}");
    assert!(timeline["timeline"]["current"]["sha256"].is_string(), "{timeline}");
    let (status, cleared) = api.call(Method::POST, &cert("/clear-previous"), None).await;
    assert_eq!((status, cleared["next_signing_certificate"].is_null()), (StatusCode::OK, true), "{cleared}");

    let (_, access) = api.call(Method::GET, &format!("/apps/{app_id}/access/alice@contoso.com"), None).await;
    assert_eq!(access["allowed"], false);
    assert_eq!(access["reason"], "no_granted_group");
    // Granting from the group side writes the grant the app side sees.
    assert_eq!(api.call(Method::PUT, &format!("/groups/Staff/apps/{app_id}"), None).await.0, StatusCode::CREATED);
    assert_eq!(api.call(Method::PUT, &format!("/apps/{app_id}/groups/Staff"), None).await.0, StatusCode::NO_CONTENT);
    let (_, groups) = api.call(Method::GET, &format!("/apps/{app_id}/groups"), None).await;
    assert_eq!(groups.as_array().unwrap().len(), 1);
    let (_, access) = api.call(Method::GET, &format!("/apps/{app_id}/access/alice@contoso.com"), None).await;
    assert_eq!(access["allowed"], true);
    let (status, suspended) = api.call(Method::POST, "/users/alice@contoso.com/suspend", None).await;
    assert_eq!((status, suspended["state"].as_str()), (StatusCode::OK, Some("suspended")));
    let (_, access) = api.call(Method::GET, &format!("/apps/{app_id}/access/alice@contoso.com"), None).await;
    assert_eq!(access["reason"], "user_suspended");

    let (_, audit) = api.call(Method::GET, "/audit", None).await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"app.grant") && actions.contains(&"user.set_state"), "{actions:?}");
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] != "api_token.create")
            .all(|e| e["actor"] == "api:robot")
    );
}

#[tokio::test]
async fn bad_user_input_is_refused_and_writes_nothing() {
    let api = Api::new().await;
    api.call(Method::POST, "/users", Some(json!({"email": "bob@contoso.com"}))).await;
    let before = api.audit_len().await;
    let cases = [
        (json!({"email": "not-an-email"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (json!({"email": "BOB@contoso.com"}), StatusCode::CONFLICT, "conflict"),
        (json!({"email": "c@contoso.com", "password": "short"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (json!({"email": "c@contoso.com", "immutable_id": "has space"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (json!({"email": "c@contoso.com", "unknown": 1}), StatusCode::BAD_REQUEST, "malformed_json"),
        (json!({"mail": "c@contoso.com"}), StatusCode::BAD_REQUEST, "malformed_json"),
    ];
    for (body, status, code) in cases {
        let (got, error) = api.call(Method::POST, "/users", Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {error}");
        assert_error(&error, code);
    }
    let (_, error) = api.call(Method::POST, "/users", Some(json!({"email": "BOB@contoso.com"}))).await;
    assert_eq!(error["error"]["field"], "email");
    let (status, error) = api.raw_post("/users", "application/json", "{\"email\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&error, "malformed_json");
    let (status, error) = api.raw_post("/users", "text/plain", "{}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&error, "unsupported_media_type");
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(3 * 1024 * 1024));
    let (status, error) = api.raw_post("/users", "application/json", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&error, "payload_too_large");
    for path in
        ["/users/nobody@contoso.com", "/groups/nope", "/apps/nope", "/users/01a20139-e48c-7538-9b1d-78a6f7e72c40"]
    {
        let (status, error) = api.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error(&error, "not_found");
    }
    let (status, error) = api.call(Method::GET, "/no-such-route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&error, "not_found");
    assert_eq!(api.audit_len().await, before, "refused requests change nothing");
    let (_, users) = api.call(Method::GET, "/users", None).await;
    assert_eq!(users["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_application_input_is_refused_and_writes_nothing() {
    let api = Api::new().await;
    api.call(Method::POST, "/apps", Some(json!({"kind": "m365", "domain": "contoso.com"}))).await;
    let before = api.audit_len().await;
    let doctype = include_str!("../../../../fixtures/saml/sp-metadata-doctype.xml");
    let http_acs = include_str!("../../../../fixtures/saml/sp-metadata-http-acs.xml");
    let cases = [
        (
            json!({"kind": "m365", "domain": "contoso.onmicrosoft.com"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "initial domain",
        ),
        (json!({"kind": "m365", "domain": "not a domain"}), StatusCode::UNPROCESSABLE_ENTITY, "not a domain"),
        (
            json!({"kind": "m365", "domain": "CONTOSO.COM", "label": "Other"}),
            StatusCode::CONFLICT,
            "belongs to another",
        ),
        (
            json!({"kind": "m365", "domain": "fabrikam.com", "label": "microsoft 365 (CONTOSO.com)"}),
            StatusCode::CONFLICT,
            "labelled",
        ),
        (json!({"kind": "m365"}), StatusCode::UNPROCESSABLE_ENTITY, "domain is required"),
        (json!({"kind": "saml", "label": "SP", "sp_metadata": doctype}), StatusCode::UNPROCESSABLE_ENTITY, "DOCTYPE"),
        (json!({"kind": "saml", "label": "SP", "sp_metadata": http_acs}), StatusCode::UNPROCESSABLE_ENTITY, "https"),
        (json!({"kind": "saml", "label": "SP", "sp_metadata": "<x"}), StatusCode::UNPROCESSABLE_ENTITY, "well-formed"),
        (
            json!({"kind": "bookmark", "label": "B", "url": "javascript:alert(1)"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "http",
        ),
        (json!({"kind": "oidc", "label": "X"}), StatusCode::UNPROCESSABLE_ENTITY, "unknown kind"),
        (json!({"kind": "m365", "domain": "fabrikam.com", "key_bits": 1024}), StatusCode::UNPROCESSABLE_ENTITY, "2048"),
        (
            json!({"kind": "m365", "domain": "fabrikam.com", "certificate_validity_days": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validity",
        ),
        (
            json!({"kind": "bookmark", "label": "B", "url": "https://x.example", "portal_image": "data:image/svg+xml;base64,AA"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "PNG",
        ),
    ];
    for (body, status, message) in cases {
        let (got, error) = api.call(Method::POST, "/apps", Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains(message), "{body}: {error}");
    }
    assert_eq!(api.audit_len().await, before);
    let (_, apps) = api.call(Method::GET, "/apps", None).await;
    assert_eq!(apps["items"].as_array().unwrap().len(), 1);
}

/// The whole access policy in one PUT: a passkey only (which keeps `require_mfa` true for
/// readers of that alone), a passkey alone; an unknown field or a wrong type is refused.
#[tokio::test]
async fn an_app_policy_is_put_whole_with_its_passkey_settings() {
    let api = Api::new().await;
    let (_, app) = api.call(Method::POST, "/apps", Some(json!({"kind": "m365", "domain": "contoso.com"}))).await;
    let path = format!("/apps/{}/policy", app["id"].as_str().unwrap());
    let strict = json!({"require_mfa": false, "phishing_resistant": true, "passwordless": true});
    let (status, put) = api.call(Method::PUT, &path, Some(strict)).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(
        put["policy"],
        json!({"require_mfa": true, "phishing_resistant": true, "passwordless": true, "allowed_networks": []})
    );
    let before = api.audit_len().await;
    for bad in [json!({"require_mfa": "phishing-resistant"}), json!({"require_mfa": true, "passkeys": true})] {
        let (status, error) = api.call(Method::PUT, &path, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {error}");
        assert_error(&error, "malformed_json");
    }
    assert_eq!(api.audit_len().await, before, "refused changes write nothing");
    // A client that knows nothing of passkeys does not turn their settings off.
    let (_, kept) = api.call(Method::PUT, &path, Some(json!({"require_mfa": true}))).await;
    assert_eq!((&kept["policy"]["phishing_resistant"], &kept["policy"]["passwordless"]), (&json!(true), &json!(true)));
    let (_, open) = api.call(Method::PUT, &path, Some(json!({"require_mfa": false, "passwordless": false}))).await;
    assert_eq!(
        open["policy"],
        json!({"require_mfa": false, "phishing_resistant": false, "passwordless": false,
                                      "allowed_networks": []})
    );
}

#[tokio::test]
async fn saml_app_from_metadata() {
    let api = Api::new().await;
    let metadata = include_str!("../../../../fixtures/saml/sp-metadata.xml");
    let (status, app) =
        api.call(Method::POST, "/apps", Some(json!({"kind": "saml", "label": "Wiki", "sp_metadata": metadata}))).await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let sp = &app["service_provider"];
    assert_eq!(sp["entity_id"], "https://sp.example.com/saml/metadata");
    assert_eq!(sp["sign_requests"], true);
    assert_eq!(sp["acs"][0]["url"], "https://sp.example.com/saml/acs");
    assert_eq!(app["endpoints"].as_object().unwrap().len(), 4, "a SAML app serves the four SAML endpoints");
    assert!(app["endpoints"]["saml_sso"].as_str().unwrap().starts_with("https://idp.example.com/apps/"));
    let (status, error) = api
        .call(Method::POST, "/apps", Some(json!({"kind": "saml", "label": "Wiki 2", "sp_metadata": metadata})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "one app per SP entity ID: {error}");
}

#[tokio::test]
async fn deleting_apps_requires_the_exact_count() {
    let api = Api::new().await;
    let mut ids = Vec::new();
    for domain in ["a.example.com", "b.example.com"] {
        let (_, app) = api.call(Method::POST, "/apps", Some(json!({"kind": "m365", "domain": domain}))).await;
        ids.push(app["id"].as_str().unwrap().to_string());
    }
    let (status, error) = api.call(Method::POST, "/apps/delete", Some(json!({"ids": ids, "confirm_count": 1}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&error, "confirm_count_mismatch");
    let (status, _) = api
        .call(Method::POST, "/apps/delete", Some(json!({"ids": [ids[0].clone(), "garbage"], "confirm_count": 2})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api.call(Method::POST, "/apps/delete", Some(json!({"ids": [], "confirm_count": 0}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.call(Method::GET, "/apps", None).await.1["items"].as_array().unwrap().len(), 2, "nothing deleted");
    let (status, done) = api.call(Method::POST, "/apps/delete", Some(json!({"ids": ids, "confirm_count": 2}))).await;
    assert_eq!((status, done["deleted"].as_u64()), (StatusCode::OK, Some(2)));
}

#[tokio::test]
async fn lists_paginate() {
    let api = Api::new().await;
    for i in 0..5 {
        api.call(Method::POST, "/groups", Some(json!({"name": format!("g{i}")}))).await;
    }
    let mut names = Vec::new();
    let mut path = "/groups?limit=2".to_string();
    loop {
        let (status, page) = api.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        names.extend(page["items"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => path = format!("/groups?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(names, ["g0", "g1", "g2", "g3", "g4"]);
    for bad in ["/groups?limit=0", "/groups?limit=5000"] {
        assert_eq!(api.call(Method::GET, bad, None).await.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(api.call(Method::GET, "/groups?limit=abc", None).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn openapi_document_describes_every_route() {
    let api = Api::new().await;
    let (status, doc) = api.send(Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    // The document is kept as its text: served again, it still says that it is JSON.
    let again = api.router.clone().oneshot(Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap());
    let again = again.await.unwrap();
    assert_eq!(again.headers()[header::CONTENT_TYPE], "application/json");
    let again = axum::body::to_bytes(again.into_body(), usize::MAX).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&again).unwrap(), doc);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/users", "post"),
        ("/users/{user}", "delete"),
        ("/groups/{group}/members/{user}", "put"),
        ("/apps", "post"),
        ("/apps/delete", "post"),
        ("/apps/{app}/groups/{group}", "put"),
        ("/groups/{group}/apps/{app}", "put"),
        ("/audit", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    openapi_spec_validator_accepts(&doc);
    // Every path parameter is in its path; query parameters are declared as such.
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(parameter["in"] == "path", in_path, "{method} {path}: {parameter}");
            }
        }
    }
}

/// `openapi-spec-validator` (PyPI, in the oracle venv), an implementation of the OpenAPI
/// specification that is not ours, accepts the document.
fn openapi_spec_validator_accepts(doc: &Value) {
    let python = std::env::var_os("TESSERA_ORACLE_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| super::saml::workspace().join(".venv/bin/python"));
    let installed = std::process::Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed && !super::saml::required("openapi-spec-validator (the oracle venv)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    let output =
        std::process::Command::new(&python).args(["-m", "openapi_spec_validator"]).arg(&file).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "openapi-spec-validator refuses the document: {said}");
    assert!(said.contains("OK"), "{said}");
}

#[tokio::test]
async fn health_and_readiness() {
    let api = Api::new().await;
    let (status, body) = api.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body), (StatusCode::OK, Value::String("ok".into())));
    let (status, _) = api.send(Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn metadata_is_published_and_downloadable() {
    let api = Api::new().await;
    let (_, app) = api.call(Method::POST, "/apps", Some(json!({"kind": "m365", "domain": "contoso.com"}))).await;
    let id = app["id"].as_str().unwrap();
    let request = Request::get(format!("/api/v1/apps/{id}/metadata"))
        .header(header::AUTHORIZATION, format!("Bearer {}", api.token))
        .body(Body::empty())
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"tessera-contoso.com-metadata.xml\""
    );
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/samlmetadata+xml");
    let download = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let public = api
        .router
        .clone()
        .oneshot(Request::get("/m365/CONTOSO.com/saml/metadata.xml").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::OK, "the metadata URL needs no token");
    let public = axum::body::to_bytes(public.into_body(), usize::MAX).await.unwrap();
    assert_eq!(download, public);
    let text = String::from_utf8(download.to_vec()).unwrap();
    assert!(text.contains(r#"entityID="https://idp.example.com/m365/contoso.com""#));
    assert!(text.contains(app["signing_certificate"].as_str().unwrap()));
    for path in [
        "/m365/fabrikam.com/saml/metadata.xml",
        &format!("/apps/{id}/saml/metadata.xml"),
        "/apps/not-an-id/saml/metadata.xml",
    ] {
        let response = api.router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (_, bookmark) = api
        .call(Method::POST, "/apps", Some(json!({"kind": "bookmark", "label": "B", "url": "https://b.example"})))
        .await;
    let (status, error) =
        api.call(Method::GET, &format!("/apps/{}/metadata", bookmark["id"].as_str().unwrap()), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["error"]["message"].as_str().unwrap().contains("no IdP metadata"));
}

#[tokio::test]
async fn m365_settings_are_created_and_changed_through_the_api() {
    let api = Api::new().await;
    let (status, app) = api
        .call(
            Method::POST,
            "/apps",
            Some(json!({"kind": "m365", "domain": "contoso.com", "idp_path": "contoso",
                        "settings": {"attributes": [{"name": "givenName", "source": "first_name"}]}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["m365"]["idp_path"], "contoso");
    assert!(app["endpoints"]["saml_sso"].as_str().unwrap().ends_with("/m365/contoso/saml/sso"));
    let id = app["id"].as_str().unwrap();
    let path = format!("/apps/{id}/settings");
    let (status, changed) = api
        .call(Method::PATCH, &path, Some(json!({"login_url": "https://portal.office.com/?domain_hint=contoso.com"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["m365"]["login_url"], "https://portal.office.com/?domain_hint=contoso.com");
    assert_eq!(changed["m365"]["attributes"][0]["name"], "givenName", "other settings unchanged");
    for (body, field) in [
        (json!({}), "settings"),
        (json!({"login_url": "javascript:alert(1)"}), "login_url"),
        (json!({"require_signed_requests": true}), "entra_certificate"),
        (json!({"entra_certificate": "bm90IGEgY2VydA=="}), "entra_certificate"),
        (json!({"sign_response": true}), "sign_response"),
        (json!({"attributes": [{"name": "", "source": "email"}]}), "attributes"),
    ] {
        let (status, error) = api.call(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert!(error.to_string().contains(field), "{body}: {error}");
    }
    let (status, _) = api.call(Method::PATCH, &path, Some(json!({"idp_path": "elsewhere"}))).await;
    assert!(status.is_client_error(), "the IdP path is not a setting");
    let (_, shown) = api.call(Method::GET, &format!("/apps/{id}"), None).await;
    assert_eq!(
        shown["m365"]["login_url"], "https://portal.office.com/?domain_hint=contoso.com",
        "refusals changed nothing"
    );
    let (status, error) = api
        .call(Method::POST, "/apps", Some(json!({"kind": "m365", "domain": "fabrikam.com", "idp_path": "contoso"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
}

#[tokio::test]
async fn federation_command_is_served_as_text_at_both_addresses() {
    let api = Api::new().await;
    let (status, app) = api.call(Method::POST, "/apps", Some(json!({"kind": "m365", "domain": "contoso.com"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let id = app["id"].as_str().unwrap();
    for path in [format!("/apps/{id}/federation-command"), format!("/applications/{id}/federation-command")] {
        let (status, body) = api.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let text = body.as_str().unwrap();
        assert!(text.contains("New-MgDomainFederationConfiguration @federation"), "{text}");
        assert!(text.contains(&format!("    IssuerUri = '{}'\n", app["issuer"].as_str().unwrap())), "{text}");
        assert!(
            text.contains(&format!("    SigningCertificate = '{}'\n", app["signing_certificate"].as_str().unwrap()))
        );
    }
    let (_, legacy) =
        api.call(Method::GET, &format!("/apps/{id}/federation-command?protocol=saml&style=msonline"), None).await;
    assert!(legacy.as_str().unwrap().contains("    PreferredAuthenticationProtocol = 'Samlp'\n"), "{legacy}");
    let (_, bookmark) = api
        .call(
            Method::POST,
            "/apps",
            Some(json!({"kind": "bookmark", "label": "Wiki", "url": "https://wiki.contoso.com/"})),
        )
        .await;
    let bookmark_path = format!("/apps/{}/federation-command", bookmark["id"].as_str().unwrap());
    for (path, status) in [
        (format!("/apps/{id}/federation-command?protocol=ftp"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("/apps/{id}/federation-command?style=azuread"), StatusCode::UNPROCESSABLE_ENTITY),
        (bookmark_path, StatusCode::UNPROCESSABLE_ENTITY),
        ("/apps/nope/federation-command".to_string(), StatusCode::NOT_FOUND),
    ] {
        let (got, body) = api.call(Method::GET, &path, None).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
}

#[tokio::test]
async fn wsfed_relying_parties_are_created_through_the_api() {
    let api = Api::new().await;
    let body = json!({"kind": "wsfed", "label": "Wiki", "realm": "urn:contoso:wiki",
                      "reply_urls": ["https://wiki.contoso.test/wsfed"],
                      "settings": {"attributes": [{"name": "http://schemas.xmlsoap.org/claims/Group", "source": "email"}]}});
    let (status, app) = api.call(Method::POST, "/apps", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["relying_party"]["attribute_mappings"][0]["name"], "http://schemas.xmlsoap.org/claims/Group");
    let before = api.audit_len().await;
    for (body, field) in [
        (json!({"kind": "wsfed", "label": "A", "reply_urls": ["https://a.example/"]}), "realm"),
        (json!({"kind": "wsfed", "label": "A", "realm": "urn:a"}), "reply_urls"),
        (json!({"kind": "wsfed", "label": "A", "realm": "urn:a", "reply_urls": ["ftp://a.example/"]}), "reply_urls"),
        (json!({"kind": "oidc", "label": "A"}), "kind"),
    ] {
        let (status, error) = api.call(Method::POST, "/apps", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    assert_eq!(api.audit_len().await, before);
}

/// The portal's part-2 work through the API: an import (previewed, refused whole, written),
/// sign-out and MFA reset, administrators' roles, traces, tracing and the dashboard.
#[tokio::test]
async fn imports_roles_traces_and_the_dashboard_through_the_api() {
    let api = Api::new().await;
    let csv = "email,groups\nann@contoso.com,Staff\nbob@contoso.com,Staff;Sales\n";
    let before = api.audit_len().await;
    let (status, preview) = api.raw_post("/users/import?dry_run=true", "text/csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!((preview["written"].as_bool(), preview["users"].as_u64()), (Some(false), Some(2)));
    assert_eq!(preview["new_groups"], json!(["Staff", "Sales"]));
    let (status, bad) = api.raw_post("/users/import", "text/csv", "email\nx@contoso.com\n=cmd|calc\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad["error"]["message"].as_str().unwrap().contains("line 3"), "{bad}");
    let big = vec![b'a'; tessera_core::import::MAX_IMPORT_BYTES + 1];
    let (status, body) = api.raw_post("/users/import", "text/csv", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(api.audit_len().await, before, "nothing written");
    let (status, done) = api.raw_post("/users/import", "text/csv", csv).await;
    assert_eq!((status, done["written"].as_bool()), (StatusCode::OK, Some(true)));

    let (status, out) = api.call(Method::POST, "/users/ann@contoso.com/sign-out", None).await;
    assert_eq!((status, out["count"].as_u64()), (StatusCode::OK, Some(0)));
    let (status, reset) = api.call(Method::POST, "/users/ann@contoso.com/mfa/reset", None).await;
    assert_eq!((status, reset["count"].as_u64()), (StatusCode::OK, Some(0)));
    // Passkeys: listed, one removed by name (a name she has not: 404, nothing written).
    let ann = api.store.find_user("ann@contoso.com").await.unwrap();
    let passkey = tessera_store::PasskeyCredential {
        user_id: ann.id,
        name: "YubiKey 5".into(),
        credential_id: vec![4; 16],
        user_handle: vec![5; 16],
        passkey_json: "{}".into(),
        sign_count: 0,
        created_at: 42,
        last_used_at: None,
    };
    api.store.add_passkey(&Actor::system(), &passkey).await.unwrap();
    let (status, listed) = api.call(Method::GET, "/users/ann@contoso.com/passkeys", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!([{"name": "YubiKey 5", "created_at": 42, "last_used_at": null}]));
    let before_removal = api.audit_len().await;
    let (status, missing) = api.call(Method::DELETE, "/users/ann@contoso.com/passkeys/Laptop", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(api.audit_len().await, before_removal, "nothing written");
    let (status, _) = api.call(Method::DELETE, "/users/ann@contoso.com/passkeys/YubiKey%205", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.call(Method::GET, "/users/ann@contoso.com/passkeys", None).await.1, json!([]));
    assert_eq!(api.call(Method::GET, "/users/nobody@contoso.com/passkeys", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.call(Method::POST, "/users/nobody@contoso.com/sign-out", None).await.0, StatusCode::NOT_FOUND);

    let hash = tessera_auth::password::hash_password("an administrator password").unwrap();
    for name in ["erin", "frank"] {
        api.store.create_admin(&Actor::system(), name, &hash, tessera_core::AdminRole::Admin, &[]).await.unwrap();
    }
    let (status, app) = api
        .call(
            Method::POST,
            "/apps",
            Some(json!({"kind": "bookmark", "label": "Wiki", "url": "https://wiki.contoso.com/"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, erin) =
        api.call(Method::PUT, "/admins/erin/role", Some(json!({"role": "app-admin", "apps": ["Wiki"]}))).await;
    assert_eq!(status, StatusCode::OK, "{erin}");
    assert_eq!((erin["role"].as_str(), erin["apps"][0].as_str()), (Some("app-admin"), app["id"].as_str()));
    for (body, status) in [
        (json!({"role": "root"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"role": "app-admin"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"role": "auditor", "is_admin": true}), StatusCode::BAD_REQUEST),
    ] {
        let (got, said) = api.call(Method::PUT, "/admins/erin/role", Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {said}");
    }
    // Frank is the last full administrator now.
    let (status, said) = api.call(Method::PUT, "/admins/frank/role", Some(json!({"role": "auditor"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{said}");
    let (_, admins) = api.call(Method::GET, "/admins", None).await;
    assert_eq!(admins.as_array().unwrap().len(), 2);

    assert_eq!(api.call(Method::GET, "/traces/not-a-trace", None).await.0, StatusCode::NOT_FOUND);
    let (status, _) = api.call(Method::PUT, "/apps/Wiki/tracing", Some(json!({"minutes": 0}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        api.call(Method::PUT, "/apps/Wiki/tracing", Some(json!({"minutes": 30}))).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.call(Method::DELETE, "/apps/Wiki/tracing", None).await.0, StatusCode::NO_CONTENT);
    let (status, dashboard) = api.call(Method::GET, "/dashboard?days=2", None).await;
    assert_eq!(status, StatusCode::OK, "{dashboard}");
    assert_eq!(dashboard["signed_in"].as_array().unwrap().len(), 48);
    assert_eq!(api.call(Method::GET, "/dashboard?days=0", None).await.0, StatusCode::UNPROCESSABLE_ENTITY);
}

/// SECURITY.md §1.7: every REST route, from the router's own list (the OpenAPI document is
/// made from the same route definitions), refuses a request without a token or with a wrong
/// one, before anything is read or changed.
#[tokio::test]
async fn every_rest_route_refuses_a_request_without_a_valid_token() {
    let api = Api::new().await;
    let (_, doc) = api.send(Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await;
    let audit_before = api.audit_len().await;
    let mut swept = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .split('/')
                .map(|part| if part.starts_with('{') { "0190f1a2-0000-7000-8000-000000000001" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            for authorization in [None, Some("Bearer tsr_wrong"), Some("Basic cm9ib3Q6cm9ib3Q="), Some("Bearer ")] {
                let mut builder = Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(format!("/api/v1{concrete}"))
                    .header(header::CONTENT_TYPE, "application/json");
                if let Some(value) = authorization {
                    builder = builder.header(header::AUTHORIZATION, value);
                }
                let (status, body) = api.send(builder.body(Body::from("{}")).unwrap()).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {authorization:?}: {body}");
            }
            swept += 1;
        }
    }
    assert!(swept >= 20, "the document lists the routes: {swept}");
    assert_eq!(api.audit_len().await, audit_before, "nothing was changed");
}
