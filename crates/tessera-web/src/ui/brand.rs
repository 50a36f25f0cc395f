//! The brand as pages use it: read from the admin service at most every few seconds (a copy
//! lives in memory, so a page costs a lock and a pointer copy), its logo and its stylesheet.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_admin::AdminService;
use tessera_core::UnixMillis;
use tessera_core::branding::{Branding, accent_colour};

use crate::state::AppState;

/// How long the in-memory copy serves before it is read again: a change made on another node
/// shows within this.
const REFRESH_MS: i64 = 5_000;

#[derive(Debug, Default)]
pub struct BrandCache {
    read: Mutex<Option<(UnixMillis, Arc<Branding>)>>,
    /// A read of the store is under way (at most one at a time).
    refreshing: AtomicBool,
    /// Bumped by [`BrandCache::forget`]: a read begun before it does not put back what it read.
    generation: AtomicU64,
}

impl BrandCache {
    /// The brand, never waiting on the store once a copy is held: a stale copy is served while
    /// a fresh one is read beside the request (a database that is down must not hold every
    /// page, nor a sign-on served from caches, for its timeout). Only a node's first page waits.
    pub async fn current(self: &Arc<Self>, admin: &AdminService, now: UnixMillis) -> Arc<Branding> {
        let held = self.read.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match held {
            Some((at, brand)) => {
                if now - at >= REFRESH_MS && !self.refreshing.swap(true, Ordering::AcqRel) {
                    let (cache, admin) = (self.clone(), admin.clone());
                    tokio::spawn(async move {
                        cache.refresh(&admin, now).await;
                        cache.refreshing.store(false, Ordering::Release);
                    });
                }
                brand
            }
            None => self.refresh(admin, now).await,
        }
    }

    /// Reads the brand from the store and keeps it; on a failure, keeps what it had (or the
    /// default), to be read again in [`REFRESH_MS`].
    async fn refresh(&self, admin: &AdminService, now: UnixMillis) -> Arc<Branding> {
        let generation = self.generation.load(Ordering::Acquire);
        let brand = match admin.branding().await {
            Ok(brand) => Arc::new(brand),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the brand");
                let read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
                read.as_ref().map(|(_, brand)| brand.clone()).unwrap_or_default()
            }
        };
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) == generation {
            *read = Some((now, brand.clone()));
        }
        brand
    }

    /// Forgets the copy: a change made through this node shows on its next page.
    pub fn forget(&self) {
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        *read = None;
    }
}

#[derive(serde::Deserialize, Default)]
pub struct Version {
    #[serde(default)]
    v: Option<i64>,
}

/// Cached for a day only when the URL names the brand this node serves (a page from a node
/// with a newer brand may ask a node that has not read it yet): otherwise, not kept.
fn cache_control(brand: &Branding, version: &Version) -> &'static str {
    if version.v == Some(brand.updated_at) { "public, max-age=86400" } else { "no-cache" }
}

/// The logo: the admin service's own PNG re-encoding, served as what it is. Its URL carries
/// the brand's version, so it may be cached.
pub async fn logo(State(state): State<AppState>, Query(version): Query<Version>) -> Response {
    let brand = state.brand.current(&state.admin, state.clock.now_millis()).await;
    let Some(png) = brand.logo.as_deref().and_then(tessera_admin::portal_image::stored_png) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, cache_control(&brand, &version)),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"),
        ],
        png,
    )
        .into_response()
}

/// The brand's stylesheet: the accent colour as a CSS variable the page stylesheet uses. The
/// colour is checked again as it is written out, so nothing but a colour reaches the CSS.
pub async fn stylesheet(State(state): State<AppState>, Query(version): Query<Version>) -> Response {
    let brand = state.brand.current(&state.admin, state.clock.now_millis()).await;
    let accent = accent_colour(brand.accent_colour()).unwrap_or_else(|_| Branding::default().accent_colour().into());
    let mut response = format!(":root {{ --accent: {accent}; }}\n").into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control(&brand, &version)));
    response
}
