//! A Microsoft Graph and Entra ID test double that follows M365-PROTOCOLS.md §4 and §8 items
//! 25–30: client-credentials tokens (a secret, or a certificate assertion checked as Entra
//! does: RS256 under the registered certificate, `x5t#S256`, audience, expiry), domains,
//! `federationConfiguration` create/get/patch/delete with the documented statuses, enums and
//! certificate checks, permissions (403 without them), Global Administrators, the organization
//! and the security-defaults policy; and faults on demand: 429 with `Retry-After`, a 500 after a
//! partial write. Every write is logged, and every request body kept, for the tests to read.

#![allow(clippy::result_large_err)] // A refusal is the response itself; this is a test double.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Map, Value, json};

pub const TENANT: &str = "8f7b2c1e-0000-4000-8000-00000000c0de";
pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

#[derive(Clone)]
pub struct Client {
    pub secret: Option<String>,
    pub certificate: Option<Vec<u8>>,
    pub permissions: Vec<&'static str>,
}

/// A device-code sign-in in progress: how many more polls are pending, and whether the
/// administrator declines.
#[derive(Clone)]
pub struct DeviceSignIn {
    pub client_id: String,
    pub pending_polls: u32,
    pub decline: bool,
}

#[derive(Clone, Debug)]
pub struct DomainRecord {
    pub authentication_type: &'static str,
    pub verified: bool,
    pub root: bool,
    pub initial: bool,
    pub default: bool,
}

/// An Entra user (M365-PROTOCOLS.md §6).
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub upn: String,
    pub immutable_id: Option<String>,
    /// Entra Connect writes this user.
    pub synced: bool,
    pub enabled: bool,
    pub display_name: String,
}

impl UserRecord {
    pub fn new(upn: &str, immutable_id: Option<&str>) -> UserRecord {
        UserRecord {
            upn: upn.into(),
            immutable_id: immutable_id.map(Into::into),
            synced: false,
            enabled: true,
            display_name: upn.into(),
        }
    }
}

#[derive(Default)]
pub struct Graph {
    pub clients: HashMap<String, Client>,
    tokens: HashMap<String, String>,
    pub domains: BTreeMap<String, DomainRecord>,
    pub configurations: HashMap<String, Map<String, Value>>,
    pub global_admins: Vec<String>,
    pub security_defaults: bool,
    pub directory_sync: bool,
    /// "METHOD path" of every write that changed something.
    pub writes: Vec<String>,
    /// Every request: method, path and body, for leak checks.
    pub seen: Vec<String>,
    /// The next this many Graph calls answer 429 with `Retry-After: 1`.
    pub throttle: u32,
    /// The next PATCH of a configuration applies its first field only, then answers 500.
    pub fail_patch_partially: bool,
    /// The next create stores part of the configuration (no certificate), then answers 500.
    pub fail_create_after_write: bool,
    /// The next this many reads of a domain's configurations lag behind the writes (an empty
    /// list), as Graph's replication can right after a write.
    pub stale_reads: u32,
    /// Device codes issued, by code.
    pub device_codes: HashMap<String, DeviceSignIn>,
    /// What the next device-code sign-in does: decline it.
    pub decline_device_sign_in: bool,
    /// Entra's users by object id.
    pub users: BTreeMap<String, UserRecord>,
    /// The largest page of users Graph answers (`$top` may ask for fewer).
    pub user_page: usize,
    /// The next page link of a user list points to another host.
    pub foreign_next_link: bool,
    /// Every user-creating POST body, for the tests to read.
    pub created_users: Vec<Value>,
    /// How far ahead (or behind, negative) of the real time the double's `Date` headers are.
    pub date_offset_secs: i64,
    next_id: u32,
}

impl Graph {
    pub fn add_user(&mut self, record: UserRecord) -> String {
        self.next_id += 1;
        let id = format!("0b5e11a1-0000-4000-8000-{:012}", self.next_id);
        self.users.insert(id.clone(), record);
        id
    }

    pub fn user(&self, upn: &str) -> Option<&UserRecord> {
        self.users.values().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }
}

pub type Shared = Arc<Mutex<Graph>>;

/// The double on an ephemeral port, served from its own thread.
pub struct Double {
    pub port: u16,
    pub graph: Shared,
}

impl Double {
    pub fn start(graph: Graph) -> Double {
        let shared: Shared = Arc::new(Mutex::new(graph));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let router = router(shared.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, router).await.unwrap();
            });
        });
        Double { port, graph: shared }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Graph) -> T) -> T {
        f(&mut self.graph.lock().unwrap())
    }
}

fn router(graph: Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
        .route("/v1.0/domains", get(list_domains))
        .route("/v1.0/domains/{domain}", get(get_domain).patch(patch_domain))
        .route("/v1.0/domains/{domain}/federationConfiguration", get(list_configurations).post(create_configuration))
        .route(
            "/v1.0/domains/{domain}/federationConfiguration/{id}",
            get(get_configuration).patch(patch_configuration).delete(delete_configuration),
        )
        .route("/v1.0/users", get(list_users).post(create_user))
        .route("/v1.0/users/{id}", axum::routing::patch(patch_user))
        .route("/v1.0/directoryRoles", get(directory_roles))
        .route("/v1.0/directoryRoles/{id}/members", get(role_members))
        .route("/v1.0/organization", get(organization))
        .route("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy", get(security_defaults))
        .layer(axum::middleware::map_response_with_state(graph.clone(), shift_date))
        .with_state(graph)
}

/// Graph's `Date`, moved by `date_offset_secs` (a clock that is not ours to trust).
async fn shift_date(State(graph): State<Shared>, mut response: Response) -> Response {
    let offset = graph.lock().unwrap().date_offset_secs;
    if offset != 0 {
        let shift = std::time::Duration::from_secs(offset.unsigned_abs());
        let now = std::time::SystemTime::now();
        let at = if offset > 0 { now + shift } else { now - shift };
        response.headers_mut().insert("date", httpdate::fmt_http_date(at).parse().unwrap());
    }
    response
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message, "innerError": {"request-id": "x"}}})))
        .into_response()
}

fn entra_error(code: &str, aadsts: &str) -> Response {
    let body = json!({"error": code, "error_description": format!("{aadsts}\r\nTrace ID: 1\r\nCorrelation ID: 2"), "error_codes": [1]});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// A token shaped as Entra's (a JWT whose claims say what it may do); the double knows its
/// own tokens by their text, so the signature part is a placeholder.
fn access_token(claims: &Value) -> String {
    let part = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.double", part(&json!({"typ": "JWT", "alg": "RS256"})), part(claims))
}

fn b64url(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()
}

/// A client assertion checked as Entra does.
fn assertion_ok(assertion: &str, certificate: &[u8], client_id: &str, audience: &str) -> bool {
    use sha2::Digest;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else { return false };
    let (Some(h), Some(c), Some(sig)) = (b64url(header), b64url(claims), b64url(signature)) else { return false };
    let (Ok(h), Ok(c)) = (serde_json::from_slice::<Value>(&h), serde_json::from_slice::<Value>(&c)) else {
        return false;
    };
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(certificate));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(certificate) else { return false };
    let key = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        parsed.public_key().subject_public_key.data.as_ref(),
    );
    h["alg"] == "RS256"
        && h["typ"] == "JWT"
        && c["jti"].as_str().is_some_and(|j| !j.is_empty())
        && c["nbf"].as_i64().is_some_and(|nbf| nbf <= now + 60)
        && h["x5t#S256"] == thumbprint.as_str()
        && c["aud"] == audience
        && c["iss"] == client_id
        && c["sub"] == client_id
        && c["exp"].as_i64().is_some_and(|exp| exp > now)
        && key.verify(format!("{header}.{claims}").as_bytes(), &sig).is_ok()
}

async fn device_code(
    State(graph): State<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut graph = graph.lock().unwrap();
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    if tenant != TENANT && tenant != "contoso.onmicrosoft.com" {
        return entra_error("invalid_request", &format!("AADSTS90002: Tenant '{tenant}' not found."));
    }
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("");
    let wanted = format!("http://{host}/Domain-InternalFederation.ReadWrite.All");
    if !form.get("scope").is_some_and(|s| s.split(' ').any(|scope| scope == wanted)) {
        return entra_error("invalid_scope", "AADSTS70011: The provided value for scope is not valid.");
    }
    if !graph.clients.get(&client_id).is_some_and(|c| c.secret.is_none() && c.certificate.is_none()) {
        return entra_error(
            "invalid_client",
            &format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory."),
        );
    }
    graph.next_id += 1;
    let code = format!("device-code-{}", graph.next_id);
    let decline = std::mem::take(&mut graph.decline_device_sign_in);
    graph.device_codes.insert(code.clone(), DeviceSignIn { client_id, pending_polls: 1, decline });
    axum::Json(json!({
        "device_code": code, "user_code": "TESS-ERA1", "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900, "interval": 1,
        "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code TESS-ERA1 to authenticate.",
    }))
    .into_response()
}

async fn token(State(graph): State<Shared>, Path(tenant): Path<String>, headers: HeaderMap, body: String) -> Response {
    let mut graph = graph.lock().unwrap();
    graph.seen.push(format!("POST /{tenant}/oauth2/v2.0/token {body}"));
    if tenant != TENANT && tenant != "contoso.onmicrosoft.com" {
        return entra_error("invalid_request", &format!("AADSTS90002: Tenant '{tenant}' not found."));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    if field("grant_type") == "urn:ietf:params:oauth:grant-type:device_code" {
        let code = field("device_code").to_string();
        let Some(sign_in) = graph.device_codes.get_mut(&code) else {
            return entra_error(
                "expired_token",
                "AADSTS70020: The provided value for the input parameter 'device_code' is not valid.",
            );
        };
        if sign_in.client_id != field("client_id") {
            return entra_error("invalid_grant", "AADSTS70000: The device code was issued to another client.");
        }
        if sign_in.pending_polls > 0 {
            sign_in.pending_polls -= 1;
            return entra_error(
                "authorization_pending",
                "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
            );
        }
        if sign_in.decline {
            return entra_error("authorization_declined", "AADSTS70000: The user declined the sign-in.");
        }
        let client_id = sign_in.client_id.clone();
        graph.device_codes.remove(&code);
        graph.next_id += 1;
        let scopes = graph.clients.get(&client_id).map(|c| c.permissions.join(" ")).unwrap_or_default();
        let token = access_token(&json!({"appid": client_id, "scp": scopes, "n": graph.next_id}));
        graph.tokens.insert(token.clone(), client_id);
        return axum::Json(json!({"token_type": "Bearer", "scope": "Domain.Read.All", "expires_in": 3599, "access_token": token, "refresh_token": "r"}))
            .into_response();
    }
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    if field("grant_type") != "client_credentials" || field("scope") != format!("http://{host}/.default") {
        return entra_error("invalid_request", "AADSTS900144: The request body must contain grant_type and scope.");
    }
    let client_id = field("client_id").to_string();
    let Some(client) = graph.clients.get(&client_id).cloned() else {
        return entra_error(
            "unauthorized_client",
            &format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory."),
        );
    };
    let audience = format!("http://{host}/{tenant}/oauth2/v2.0/token");
    let good = match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(secret), None) => client.secret.as_deref() == Some(secret.as_str()),
        (None, Some(assertion)) => {
            field("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                && client.certificate.as_deref().is_some_and(|c| assertion_ok(assertion, c, &client_id, &audience))
        }
        _ => false,
    };
    if !good {
        return match form.contains_key("client_assertion") {
            true => entra_error("invalid_client", "AADSTS700027: Client assertion failed signature validation."),
            false => entra_error("invalid_client", "AADSTS7000215: Invalid client secret provided."),
        };
    }
    graph.next_id += 1;
    let token = access_token(&json!({"appid": client_id, "roles": client.permissions, "n": graph.next_id}));
    graph.tokens.insert(token.clone(), client_id);
    axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
        .into_response()
}

/// The caller's permissions, or the refusal: a missing token is 401, a throttled call 429.
fn caller(graph: &mut Graph, headers: &HeaderMap, what: String) -> Result<Vec<&'static str>, Response> {
    graph.seen.push(what);
    if graph.throttle > 0 {
        graph.throttle -= 1;
        let mut response = graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests.");
        response.headers_mut().insert("retry-after", "1".parse().unwrap());
        return Err(response);
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let client = token.and_then(|t| graph.tokens.get(t)).cloned();
    match client.and_then(|c| graph.clients.get(&c).cloned()) {
        Some(client) => Ok(client.permissions),
        None => Err(graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "Access token is empty.")),
    }
}

fn may(permissions: &[&str], any_of: &[&str]) -> Result<(), Response> {
    if permissions.iter().any(|p| any_of.contains(p)) {
        Ok(())
    } else {
        Err(graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ))
    }
}

const READ_DOMAINS: [&str; 4] =
    ["Domain.Read.All", "Domain.ReadWrite.All", "Domain-InternalFederation.ReadWrite.All", "Directory.Read.All"];
const WRITE_FEDERATION: [&str; 2] = ["Domain-InternalFederation.ReadWrite.All", "Domain.ReadWrite.All"];

fn domain_json(id: &str, d: &DomainRecord) -> Value {
    json!({
        "id": id, "authenticationType": d.authentication_type, "availabilityStatus": null,
        "isAdminManaged": true, "isDefault": d.default, "isInitial": d.initial, "isRoot": d.root,
        "isVerified": d.verified, "passwordNotificationWindowInDays": 14, "passwordValidityPeriodInDays": 90,
        "supportedServices": ["Email", "OfficeCommunicationsOnline"], "state": null,
    })
}

macro_rules! guard {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

async fn list_domains(State(graph): State<Shared>, headers: HeaderMap) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, "GET /domains".into()));
    guard!(may(&permissions, &READ_DOMAINS));
    let value: Vec<Value> = graph.domains.iter().map(|(id, d)| domain_json(id, d)).collect();
    axum::Json(json!({"@odata.context": "x", "value": value})).into_response()
}

async fn get_domain(State(graph): State<Shared>, Path(domain): Path<String>, headers: HeaderMap) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, format!("GET /domains/{domain}")));
    guard!(may(&permissions, &READ_DOMAINS));
    match graph.domains.get(&domain) {
        Some(d) => axum::Json(domain_json(&domain, d)).into_response(),
        None => graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{domain}' does not exist."),
        ),
    }
}

async fn patch_domain(
    State(graph): State<Shared>,
    Path(domain): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, format!("PATCH /domains/{domain} {body}")));
    guard!(may(&permissions, &WRITE_FEDERATION));
    let Ok(patch) = serde_json::from_str::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid JSON.");
    };
    let Some(record) = graph.domains.get_mut(&domain) else {
        return graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "No such domain.");
    };
    match patch["authenticationType"].as_str() {
        Some("Managed") => {
            record.authentication_type = "Managed";
            graph.configurations.remove(&domain);
        }
        Some("Federated") => record.authentication_type = "Federated",
        _ => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "Only authenticationType may change here.",
            );
        }
    }
    graph.writes.push(format!("PATCH /domains/{domain}"));
    StatusCode::NO_CONTENT.into_response()
}

async fn list_configurations(State(graph): State<Shared>, Path(domain): Path<String>, headers: HeaderMap) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, format!("GET /domains/{domain}/federationConfiguration")));
    guard!(may(&permissions, &READ_DOMAINS));
    if !graph.domains.contains_key(&domain) {
        return graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "No such domain.");
    }
    if graph.stale_reads > 0 {
        graph.stale_reads -= 1;
        return axum::Json(json!({"value": []})).into_response();
    }
    let value: Vec<Value> = graph.configurations.get(&domain).cloned().map(Value::Object).into_iter().collect();
    axum::Json(json!({"value": value})).into_response()
}

/// §8 item 26: the enums and certificates Graph checks.
fn invalid_field(config: &Map<String, Value>) -> Option<String> {
    let one_of = |field: &str, allowed: &[&str]| {
        config.get(field).filter(|v| !v.is_null()).is_some_and(|v| !v.as_str().is_some_and(|s| allowed.contains(&s)))
    };
    if one_of("preferredAuthenticationProtocol", &["wsFed", "saml"]) {
        return Some("preferredAuthenticationProtocol".into());
    }
    if one_of(
        "federatedIdpMfaBehavior",
        &["acceptIfMfaDoneByFederatedIdp", "enforceMfaByFederatedIdp", "rejectMfaByFederatedIdp"],
    ) {
        return Some("federatedIdpMfaBehavior".into());
    }
    if one_of("promptLoginBehavior", &["translateToFreshPasswordAuthentication", "nativeSupport", "disabled"]) {
        return Some("promptLoginBehavior".into());
    }
    for field in ["signingCertificate", "nextSigningCertificate"] {
        if let Some(text) = config.get(field).and_then(Value::as_str).filter(|t| !t.is_empty()) {
            let der = base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default();
            if x509_parser::parse_x509_certificate(&der).is_err() {
                return Some(field.into());
            }
        }
    }
    None
}

async fn create_configuration(
    State(graph): State<Shared>,
    Path(domain): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions =
        guard!(caller(&mut graph, &headers, format!("POST /domains/{domain}/federationConfiguration {body}")));
    guard!(may(&permissions, &WRITE_FEDERATION));
    let Ok(Value::Object(mut config)) = serde_json::from_str::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid JSON.");
    };
    let Some(record) = graph.domains.get(&domain).cloned() else {
        return graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "No such domain.");
    };
    if config.remove("@odata.type").as_ref().and_then(Value::as_str)
        != Some("#microsoft.graph.internalDomainFederation")
    {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "@odata.type is required.");
    }
    if record.initial || !record.verified {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "This domain cannot be federated.");
    }
    if graph.configurations.contains_key(&domain) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The domain has a federation configuration already.",
        );
    }
    if let Some(field) = invalid_field(&config) {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", &format!("Invalid value for {field}."));
    }
    graph.next_id += 1;
    let id = format!("6601d14b-d113-8f64-fda2-{:012}", graph.next_id);
    config.insert("id".into(), Value::String(id));
    let partial = graph.fail_create_after_write;
    if partial {
        // A partial write: the configuration is stored without its certificate.
        config.remove("signingCertificate");
    }
    graph.configurations.insert(domain.clone(), config.clone());
    if let Some(record) = graph.domains.get_mut(&domain) {
        record.authentication_type = "Federated";
    }
    graph.writes.push(format!("POST /domains/{domain}/federationConfiguration"));
    if std::mem::take(&mut graph.fail_create_after_write) {
        return graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "Something went wrong.");
    }
    (StatusCode::CREATED, axum::Json(Value::Object(config))).into_response()
}

async fn get_configuration(
    State(graph): State<Shared>,
    Path((domain, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions =
        guard!(caller(&mut graph, &headers, format!("GET /domains/{domain}/federationConfiguration/{id}")));
    guard!(may(&permissions, &READ_DOMAINS));
    match graph.configurations.get(&domain).filter(|c| c["id"] == id.as_str()) {
        Some(config) => axum::Json(Value::Object(config.clone())).into_response(),
        None => graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "No such configuration."),
    }
}

async fn patch_configuration(
    State(graph): State<Shared>,
    Path((domain, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions =
        guard!(caller(&mut graph, &headers, format!("PATCH /domains/{domain}/federationConfiguration/{id} {body}")));
    guard!(may(&permissions, &WRITE_FEDERATION));
    let Ok(Value::Object(patch)) = serde_json::from_str::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid JSON.");
    };
    if let Some(field) = invalid_field(&patch) {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", &format!("Invalid value for {field}."));
    }
    let not_nullable =
        ["signingCertificate", "preferredAuthenticationProtocol", "federatedIdpMfaBehavior", "promptLoginBehavior"];
    if let Some(field) = not_nullable.iter().find(|f| patch.get(**f).is_some_and(Value::is_null)) {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", &format!("{field} cannot be null."));
    }
    let partial = std::mem::take(&mut graph.fail_patch_partially);
    let Some(config) = graph.configurations.get_mut(&domain).filter(|c| c["id"] == id.as_str()) else {
        return graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "No such configuration.");
    };
    for (field, value) in patch.iter().take(if partial { 1 } else { usize::MAX }) {
        config.insert(field.clone(), value.clone());
    }
    let updated = config.clone();
    graph.writes.push(format!("PATCH /domains/{domain}/federationConfiguration/{id}"));
    if partial {
        return graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "Something went wrong.");
    }
    axum::Json(Value::Object(updated)).into_response()
}

async fn delete_configuration(
    State(graph): State<Shared>,
    Path((domain, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions =
        guard!(caller(&mut graph, &headers, format!("DELETE /domains/{domain}/federationConfiguration/{id}")));
    guard!(may(&permissions, &WRITE_FEDERATION));
    if graph.configurations.get(&domain).is_none_or(|c| c["id"] != id.as_str()) {
        return graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "No such configuration.");
    }
    graph.configurations.remove(&domain);
    if let Some(record) = graph.domains.get_mut(&domain) {
        record.authentication_type = "Managed";
    }
    graph.writes.push(format!("DELETE /domains/{domain}/federationConfiguration/{id}"));
    StatusCode::NO_CONTENT.into_response()
}

async fn directory_roles(
    State(graph): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, "GET /directoryRoles".into()));
    guard!(may(&permissions, &["RoleManagement.Read.Directory", "Directory.Read.All"]));
    let filter = query.get("$filter").cloned().unwrap_or_default();
    let value = if filter == format!("roleTemplateId eq '{GLOBAL_ADMINISTRATOR}'") {
        vec![json!({"id": "role-ga", "displayName": "Global Administrator", "roleTemplateId": GLOBAL_ADMINISTRATOR})]
    } else {
        vec![]
    };
    axum::Json(json!({"value": value})).into_response()
}

async fn role_members(State(graph): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, format!("GET /directoryRoles/{id}/members")));
    guard!(may(&permissions, &["RoleManagement.Read.Directory", "Directory.Read.All"]));
    let value: Vec<Value> = graph
        .global_admins
        .iter()
        .map(|upn| json!({"@odata.type": "#microsoft.graph.user", "userPrincipalName": upn}))
        .collect();
    axum::Json(json!({"value": value})).into_response()
}

async fn organization(State(graph): State<Shared>, headers: HeaderMap) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, "GET /organization".into()));
    guard!(may(&permissions, &["Organization.Read.All", "Directory.Read.All"]));
    let sync = graph.directory_sync;
    axum::Json(json!({"value": [{"id": TENANT, "displayName": "Contoso", "onPremisesSyncEnabled": if sync { json!(true) } else { Value::Null }}]}))
        .into_response()
}

async fn security_defaults(State(graph): State<Shared>, headers: HeaderMap) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions =
        guard!(caller(&mut graph, &headers, "GET /policies/identitySecurityDefaultsEnforcementPolicy".into()));
    guard!(may(&permissions, &["Policy.Read.All"]));
    let enabled = graph.security_defaults;
    axum::Json(json!({"id": "00000000-0000-0000-0000-000000000005", "isEnabled": enabled})).into_response()
}

const READ_USERS: [&str; 3] = ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"];
const WRITE_USERS: [&str; 2] = ["User.ReadWrite.All", "Directory.ReadWrite.All"];

/// A user as Graph returns it: only the `$select`ed properties (`onPremisesImmutableId` is
/// returned only when selected).
fn user_json(id: &str, u: &UserRecord, select: &[&str]) -> Value {
    let all = json!({
        "id": id, "userPrincipalName": u.upn, "displayName": u.display_name,
        "onPremisesImmutableId": u.immutable_id, "onPremisesSyncEnabled": if u.synced { json!(true) } else { Value::Null },
        "accountEnabled": u.enabled,
    });
    let wanted: Vec<&str> =
        if select.is_empty() { vec!["id", "userPrincipalName", "displayName"] } else { select.to_vec() };
    Value::Object(wanted.iter().filter_map(|f| all.get(*f).map(|v| (f.to_string(), v.clone()))).collect())
}

async fn list_users(
    State(graph): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, "GET /users".into()));
    guard!(may(&permissions, &READ_USERS));
    let select: Vec<&str> = query.get("$select").map(|s| s.split(',').collect()).unwrap_or_default();
    let page = if graph.user_page == 0 { 999 } else { graph.user_page };
    let top = query.get("$top").and_then(|t| t.parse::<usize>().ok()).unwrap_or(100).clamp(1, 999).min(page);
    let skip = query.get("$skiptoken").and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
    let value: Vec<Value> = graph.users.iter().skip(skip).take(top).map(|(id, u)| user_json(id, u, &select)).collect();
    let mut body = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": value});
    if skip + top < graph.users.len() {
        let host = match graph.foreign_next_link {
            true => "graph.elsewhere.example".to_string(),
            false => headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_string(),
        };
        let select = query.get("$select").cloned().unwrap_or_default();
        body["@odata.nextLink"] =
            json!(format!("http://{host}/v1.0/users?$select={select}&$top={top}&$skiptoken={}", skip + top));
    }
    axum::Json(body).into_response()
}

/// Graph's checks of an `onPremisesImmutableId` (§6): no `$` or `_`, unique in the tenant.
fn immutable_id_refusal(graph: &Graph, except: Option<&str>, value: &str) -> Option<Response> {
    if value.is_empty() || value.contains(['$', '_']) || value.len() >= 60 {
        return Some(graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid value specified for property 'onPremisesImmutableId' of resource 'User'.",
        ));
    }
    if graph.users.iter().any(|(id, u)| Some(id.as_str()) != except && u.immutable_id.as_deref() == Some(value)) {
        return Some(graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Another object with the same value for property onPremisesImmutableId already exists.",
        ));
    }
    None
}

fn user_domain_federated(graph: &Graph, upn: &str) -> Option<bool> {
    let domain = upn.rsplit_once('@')?.1.to_lowercase();
    graph.domains.get(&domain).map(|d| d.authentication_type == "Federated")
}

async fn patch_user(State(graph): State<Shared>, Path(id): Path<String>, headers: HeaderMap, body: String) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, format!("PATCH /users/{id} {body}")));
    guard!(may(&permissions, &WRITE_USERS));
    let Ok(Value::Object(patch)) = serde_json::from_str::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid JSON.");
    };
    let Some(user) = graph.users.get(&id).cloned() else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    if user.synced {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
        );
    }
    if patch.keys().any(|k| k != "onPremisesImmutableId") {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "This double changes onPremisesImmutableId only.",
        );
    }
    let Some(value) = patch["onPremisesImmutableId"].as_str() else {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "onPremisesImmutableId must be a string.");
    };
    if user_domain_federated(&graph, &user.upn) == Some(true) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Property 'onPremisesImmutableId' cannot be changed for a user of a federated domain.",
        );
    }
    if let Some(refusal) = immutable_id_refusal(&graph, Some(&id), value) {
        return refusal;
    }
    if let Some(record) = graph.users.get_mut(&id) {
        record.immutable_id = Some(value.to_string());
    }
    graph.writes.push(format!("PATCH /users/{id}"));
    StatusCode::NO_CONTENT.into_response()
}

async fn create_user(State(graph): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut graph = graph.lock().unwrap();
    let permissions = guard!(caller(&mut graph, &headers, format!("POST /users {body}")));
    guard!(may(&permissions, &WRITE_USERS));
    let Ok(Value::Object(new)) = serde_json::from_str::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid JSON.");
    };
    let text = |field: &str| new.get(field).and_then(Value::as_str).filter(|s| !s.is_empty());
    for required in ["displayName", "mailNickname", "userPrincipalName"] {
        if text(required).is_none() {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                &format!("Property '{required}' is required."),
            );
        }
    }
    if new.get("accountEnabled").and_then(Value::as_bool).is_none()
        || new["passwordProfile"]["password"].as_str().is_none_or(|p| p.len() < 8)
    {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "accountEnabled and passwordProfile.password are required.",
        );
    }
    let upn = text("userPrincipalName").unwrap_or_default().to_string();
    let Some(federated) = user_domain_federated(&graph, &upn) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
        );
    };
    let immutable_id = text("onPremisesImmutableId").map(str::to_string);
    if federated && immutable_id.is_none() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Property 'onPremisesImmutableId' is required for a user of a federated domain.",
        );
    }
    if graph.user(&upn).is_some() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Another object with the same value for property userPrincipalName already exists.",
        );
    }
    if let Some(refusal) = immutable_id.as_deref().and_then(|v| immutable_id_refusal(&graph, None, v)) {
        return refusal;
    }
    let record = UserRecord {
        upn: upn.clone(),
        immutable_id,
        synced: false,
        enabled: new["accountEnabled"].as_bool().unwrap_or(true),
        display_name: text("displayName").unwrap_or_default().to_string(),
    };
    let id = graph.add_user(record.clone());
    graph.created_users.push(Value::Object(new));
    graph.writes.push("POST /users".into());
    (StatusCode::CREATED, axum::Json(user_json(&id, &record, &[]))).into_response()
}
