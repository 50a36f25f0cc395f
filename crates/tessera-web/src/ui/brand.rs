//! The brand as pages use it: read from the admin service at most every few seconds (a copy
//! lives in memory, so a page costs a lock and a pointer copy).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tessera_admin::AdminService;
use tessera_core::UnixMillis;
use tessera_core::branding::Branding;

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
