//! A Microsoft Graph client, no SDK: app-only tokens (cached until shortly before they
//! expire), JSON calls under `/v1.0`, bounded retries on 429 and 503 that honour
//! `Retry-After`, and Graph's and Entra's error bodies turned into one line that says what to
//! do.

mod credential;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tessera_core::Clock;

pub use credential::{Credential, GRAPH_COMMAND_LINE_TOOLS, PERMISSIONS, delegated_scopes};

use crate::M365Error;

/// Where Graph and Entra's token endpoint are (national clouds and tests replace them).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Graph's base without a version (`https://graph.microsoft.com`).
    pub graph_url: String,
    /// The base that `/{tenant}/oauth2/v2.0/token` is added to.
    pub login_url: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            graph_url: "https://graph.microsoft.com".into(),
            login_url: "https://login.microsoftonline.com".into(),
        }
    }
}

/// A base URL: https, or http on a loopback address only (a test double).
pub fn base_url(name: &str, text: &str) -> Result<String, M365Error> {
    let url = url::Url::parse(text.trim()).map_err(|_| M365Error::Config(format!("{name} {text:?} is not a URL")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(M365Error::Config(format!("{name} must be https (http only on a loopback address)"))),
    }
    if url.query().is_some() || !url.username().is_empty() {
        return Err(M365Error::Config(format!("{name} takes no query and no credentials")));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// How many times a throttled call is tried, and the longest wait Tessera accepts.
const MAX_ATTEMPTS: u32 = 4;
const MAX_WAIT: Duration = Duration::from_secs(30);
/// A cached token is renewed this long before Entra says it expires (or at half its life, for
/// a short one).
const TOKEN_MARGIN_MS: i64 = 5 * 60 * 1000;

struct Token {
    value: String,
    /// When it is renewed.
    renew_at: i64,
}

/// A Graph session for one tenant and app registration.
pub struct Graph {
    http: reqwest::Client,
    /// Graph's base, the resource tokens are for (`https://graph.microsoft.com`).
    graph_base: String,
    graph_url: String,
    token_url: String,
    device_code_url: String,
    credential: Credential,
    clock: Arc<dyn Clock>,
    token: tokio::sync::Mutex<Option<Token>>,
    /// The `Date` of Graph's last answer, and this clock when it came.
    last_date: std::sync::Mutex<Option<ServerDate>>,
}

/// A server's clock as its HTTP `Date` header gave it (whole seconds), and ours when the answer
/// came: what `tessera doctor` compares two servers' clocks with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerDate {
    pub server_millis: i64,
    pub received_millis: i64,
}

impl ServerDate {
    /// The `Date` of `headers`, received at `received_millis`.
    pub fn of(headers: &reqwest::header::HeaderMap, received_millis: i64) -> Option<ServerDate> {
        let text = headers.get(reqwest::header::DATE)?.to_str().ok()?;
        let at = httpdate::parse_http_date(text).ok()?;
        let since = at.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(ServerDate { server_millis: i64::try_from(since.as_millis()).ok()?, received_millis })
    }

    /// How far the server's clock was ahead of ours.
    pub fn offset_millis(&self) -> i64 {
        self.server_millis - self.received_millis
    }
}

/// A permission a call needs, named in the error when Graph refuses it.
#[derive(Debug, Clone, Copy)]
pub struct Needs(pub &'static str);

impl Graph {
    pub fn new(
        endpoints: &Endpoints,
        tenant: &str,
        credential: Credential,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, M365Error> {
        let tenant = tenant.trim();
        if tenant.is_empty() || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) {
            return Err(M365Error::Config(format!("{tenant:?} is not a tenant id or domain")));
        }
        let graph_url = base_url("--graph-url", &endpoints.graph_url)?;
        let login_url = base_url("--login-url", &endpoints.login_url)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("Tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| M365Error::Config(format!("the HTTP client could not be built: {e}")))?;
        Ok(Graph {
            http,
            graph_base: graph_url.clone(),
            graph_url: format!("{graph_url}/v1.0"),
            token_url: format!("{login_url}/{tenant}/oauth2/v2.0/token"),
            device_code_url: format!("{login_url}/{tenant}/oauth2/v2.0/devicecode"),
            credential,
            clock,
            token: tokio::sync::Mutex::new(None),
            last_date: std::sync::Mutex::new(None),
        })
    }

    /// A token for Graph: the cached one, or a new one.
    async fn token(&self) -> Result<String, M365Error> {
        let mut cached = self.token.lock().await;
        let now = self.clock.now_millis();
        if let Some(token) = cached.as_ref().filter(|t| t.renew_at > now) {
            return Ok(token.value.clone());
        }
        let body = match &self.credential {
            Credential::DeviceCode { client_id, show } => self.device_code(client_id, show.as_ref()).await?,
            _ => {
                let jti = uuid::Uuid::new_v4().to_string();
                let form = self.credential.token_form(&self.token_url, &self.graph_base, now / 1000, &jti)?;
                let (status, body) = self.post_form(&self.token_url, &form).await?;
                if !status.is_success() {
                    return Err(token_error(status, &body));
                }
                body
            }
        };
        let value = body["access_token"]
            .as_str()
            .ok_or_else(|| M365Error::Graph("the token endpoint answered without an access_token".into()))?
            .to_string();
        let expires_in =
            body["expires_in"].as_i64().or_else(|| body["expires_in"].as_str()?.parse().ok()).unwrap_or(300);
        // Read after the token came: a device-code sign-in may have taken minutes.
        let now = self.clock.now_millis();
        let life = expires_in.max(0) * 1000;
        *cached = Some(Token { value: value.clone(), renew_at: now + life - TOKEN_MARGIN_MS.min(life / 2) });
        Ok(value)
    }

    async fn post_form(&self, url: &str, form: &[(&str, String)]) -> Result<(StatusCode, Value), M365Error> {
        let response = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(|e| M365Error::Unreachable(format!("{url}: {}", deepest(&e))))?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// The device-code sign-in: a code for the administrator to enter elsewhere, then polling
    /// until they have signed in (or declined, or the code expired).
    async fn device_code(&self, client_id: &str, show: &(dyn Fn(&str) + Send + Sync)) -> Result<Value, M365Error> {
        let form = [("client_id", client_id.to_string()), ("scope", delegated_scopes(&self.graph_base))];
        let (status, started) = self.post_form(&self.device_code_url, &form).await?;
        if !status.is_success() {
            return Err(token_error(status, &started));
        }
        let device_code = started["device_code"]
            .as_str()
            .ok_or_else(|| M365Error::Token("Entra answered the device-code request without a code".into()))?;
        let message = started["message"].as_str().map(str::to_string).unwrap_or_else(|| {
            format!(
                "To sign in, open {} and enter the code {}",
                started["verification_uri"].as_str().unwrap_or("https://microsoft.com/devicelogin"),
                started["user_code"].as_str().unwrap_or("")
            )
        });
        show(&message);
        let mut interval = started["interval"].as_u64().unwrap_or(5).clamp(1, 60);
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(started["expires_in"].as_u64().unwrap_or(900).min(900));
        let poll = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".to_string()),
            ("client_id", client_id.to_string()),
            ("device_code", device_code.to_string()),
        ];
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            if tokio::time::Instant::now() > deadline {
                return Err(M365Error::Token(
                    "the sign-in code expired before anyone signed in: run the command again".into(),
                ));
            }
            let (status, body) = self.post_form(&self.token_url, &poll).await?;
            if status.is_success() {
                return Ok(body);
            }
            match body["error"].as_str() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += 5,
                Some("authorization_declined") => {
                    return Err(M365Error::Token("the sign-in was declined on the other device".into()));
                }
                Some("expired_token") => {
                    return Err(M365Error::Token(
                        "the sign-in code expired before anyone signed in: run the command again".into(),
                    ));
                }
                _ => return Err(token_error(status, &body)),
            }
        }
    }

    /// A call to `path` (under `/v1.0`), with retries on throttling; the JSON answer, or
    /// `None` for 204.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        needs: Needs,
    ) -> Result<Option<Value>, M365Error> {
        let url = format!("{}{path}", self.graph_url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token().await?;
            let mut request = self.http.request(method.clone(), &url).bearer_auth(&token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response =
                request.send().await.map_err(|e| M365Error::Unreachable(format!("{url}: {}", deepest(&e))))?;
            let status = response.status();
            if let (Some(date), Ok(mut last)) =
                (ServerDate::of(response.headers(), self.clock.now_millis()), self.last_date.lock())
            {
                *last = Some(date);
            }
            if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE)
                && attempt < MAX_ATTEMPTS
            {
                let wait = retry_after(response.headers()).unwrap_or(Duration::from_secs(u64::from(attempt)));
                if wait > MAX_WAIT {
                    return Err(M365Error::Rejected(format!(
                        "Graph is throttling {method} {path} for {} s; try again later",
                        wait.as_secs()
                    )));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                if text.trim().is_empty() {
                    return Ok(None);
                }
                return serde_json::from_str(&text).map(Some).map_err(|_| {
                    M365Error::Graph(format!("{method} {path}: Graph answered with something that is not JSON"))
                });
            }
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let delegated = matches!(self.credential, Credential::DeviceCode { .. });
            return Err(graph_error(&method, path, status, &body, needs, delegated));
        }
    }

    /// Whether the token carries a permission, by its `roles` (app-only) or `scp` (delegated)
    /// claim; `None` when the token does not say (it is not a JWT Tessera can read).
    pub async fn token_grants(&self, any_of: &[&str]) -> Result<Option<bool>, M365Error> {
        use base64::Engine;
        let token = self.token().await?;
        let Some(payload) = token.split('.').nth(1) else { return Ok(None) };
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
            return Ok(None);
        };
        let Ok(claims) = serde_json::from_slice::<Value>(&bytes) else { return Ok(None) };
        let mut held: Vec<String> =
            claims["roles"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_string)).collect();
        held.extend(claims["scp"].as_str().unwrap_or("").split_whitespace().map(str::to_string));
        if claims.get("roles").is_none() && claims.get("scp").is_none() {
            return Ok(None);
        }
        Ok(Some(held.iter().any(|h| any_of.contains(&h.as_str()))))
    }

    /// Every item of a collection, following `@odata.nextLink` (only within this Graph: a
    /// link elsewhere would carry the token there), at most `max_items`.
    pub async fn get_all(&self, path: &str, needs: Needs, max_items: usize) -> Result<Vec<Value>, M365Error> {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(path) = next.take() {
            let mut page = self.get(&path, needs).await?;
            let Some(value) = page["value"].as_array_mut() else {
                return Err(M365Error::Graph(format!("GET {path}: Graph answered without a value list")));
            };
            items.append(value);
            if items.len() > max_items {
                return Err(M365Error::Refused(format!(
                    "GET {path}: more than {max_items} items; Tessera reads at most that many"
                )));
            }
            if let Some(link) = page["@odata.nextLink"].as_str() {
                let rest = link.strip_prefix(&self.graph_url).filter(|r| r.starts_with('/')).ok_or_else(|| {
                    M365Error::Graph(format!("GET {path}: Graph's next page is elsewhere ({link}); not followed"))
                })?;
                next = Some(rest.to_string());
            }
        }
        Ok(items)
    }

    /// Graph's clock, from the `Date` of its last answer.
    pub fn last_date(&self) -> Option<ServerDate> {
        self.last_date.lock().ok().and_then(|last| *last)
    }

    pub async fn get(&self, path: &str, needs: Needs) -> Result<Value, M365Error> {
        self.call(Method::GET, path, None, needs).await?.ok_or_else(|| M365Error::Graph(format!("GET {path}: no body")))
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// A transport error by its deepest cause, the one that says what went wrong (a refused
/// connection, a certificate), rather than reqwest's "error sending request".
pub fn deepest(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// The first line of a message, without Entra's trace and correlation ids.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

/// Entra's token errors (`AADSTS…` codes) as what to do.
fn token_error(status: StatusCode, body: &Value) -> M365Error {
    let description = first_line(body["error_description"].as_str().unwrap_or(""));
    let code = body["error"].as_str().unwrap_or("");
    let hint = if description.contains("AADSTS7000215") || description.contains("AADSTS7000222") {
        "the client secret is wrong or expired: create a new one in the app registration"
    } else if description.contains("AADSTS90002") || description.contains("AADSTS900023") {
        "the tenant is unknown: give its id (a GUID) or a verified domain with --tenant"
    } else if description.contains("AADSTS700016") {
        "the app registration is not in this tenant: check --client-id and --tenant"
    } else if description.contains("AADSTS700027") || description.contains("AADSTS700023") {
        "the certificate assertion was refused: upload the certificate to the app registration"
    } else {
        "check --tenant, --client-id and the secret or certificate"
    };
    M365Error::Token(format!("Entra refused the token request ({status}, {code}: {description}); {hint}"))
}

/// Graph's error body (`{"error": {"code", "message"}}`) as one line that says what to do.
fn graph_error(
    method: &Method,
    path: &str,
    status: StatusCode,
    body: &Value,
    needs: Needs,
    delegated: bool,
) -> M365Error {
    let code = body["error"]["code"].as_str().unwrap_or("");
    let message = first_line(body["error"]["message"].as_str().unwrap_or(""));
    let detail = format!("{method} {path}: Graph answered {status} ({code}: {message})");
    match status {
        StatusCode::FORBIDDEN if delegated => M365Error::Permission(format!(
            "{detail}; sign in as an administrator who holds a role that may do this (Hybrid Identity or External \
             Identity Provider Administrator) and consent to the delegated permission {}",
            needs.0
        )),
        StatusCode::FORBIDDEN => M365Error::Permission(format!(
            "{detail}; grant the app the application permission {} and an administrator's consent",
            needs.0
        )),
        StatusCode::UNAUTHORIZED => {
            M365Error::Token(format!("{detail}; the token was refused: check the tenant and app"))
        }
        StatusCode::NOT_FOUND => M365Error::NotFound(detail),
        s if s.is_client_error() => M365Error::Rejected(detail),
        _ => M365Error::Graph(detail),
    }
}
