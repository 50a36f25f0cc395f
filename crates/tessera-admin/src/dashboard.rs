//! The dashboard's figures: sign-ins, failures and refusals per hour over the last days (for
//! every application, or one), totals per application, and the signing certificates that
//! expire soon.

use tessera_core::{AuditAction, SignInOutcome};
use tessera_store::PageRequest;

use crate::{AdminError, AdminService};

const HOUR_MS: i64 = 3_600_000;
/// Certificates that expire within this many days are listed.
pub const EXPIRY_WARNING_DAYS: i64 = 60;

/// Counts per hour, oldest first, of one kind of outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Series {
    pub signed_in: Vec<i64>,
    pub failed: Vec<i64>,
    pub refused: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTotals {
    pub id: String,
    pub label: String,
    pub signed_in: i64,
    pub refused: i64,
    /// The application's own counts per hour (failed passwords name no application).
    pub series: Series,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringCertificate {
    pub app_id: String,
    pub label: String,
    /// `current` or `next`.
    pub which: &'static str,
    pub not_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    /// The first hour shown, in milliseconds since the epoch.
    pub first_hour_ms: i64,
    pub series: Series,
    pub apps: Vec<AppTotals>,
    pub expiring: Vec<ExpiringCertificate>,
}

/// Counts `n` events of `outcome` in hour `at` of `series`.
fn add(series: &mut Series, outcome: SignInOutcome, at: usize, n: i64) {
    let line = match outcome {
        SignInOutcome::SignedIn => &mut series.signed_in,
        SignInOutcome::Failed => &mut series.failed,
        SignInOutcome::Refused => &mut series.refused,
    };
    if let Some(slot) = line.get_mut(at) {
        *slot += n;
    }
}

impl AdminService {
    /// The last `days` (1 to 31) of sign-in events, up to this hour, for every application or
    /// only `app` (failed passwords name no application, so they count only for all).
    pub async fn dashboard(&self, days: u32, app: Option<&str>) -> Result<Dashboard, AdminError> {
        if !(1..=31).contains(&days) {
            return Err(AdminError::invalid("days", "must be 1 to 31"));
        }
        let only = match app {
            Some(key) => Some(self.store.find_app(key).await?.id.to_string()),
            None => None,
        };
        let now = self.clock_now();
        let hours = i64::from(days) * 24;
        let first_hour = now.div_euclid(HOUR_MS) - hours + 1;
        let counts = self.store.sign_in_counts(first_hour * HOUR_MS).await?;
        let width = usize::try_from(hours).unwrap_or(0);
        let mut series = Series { signed_in: vec![0; width], failed: vec![0; width], refused: vec![0; width] };
        let mut per_app: std::collections::HashMap<String, Series> = std::collections::HashMap::new();
        let empty = series.clone();
        for count in &counts {
            let Some(outcome) = AuditAction::from_name(&count.action).and_then(AuditAction::sign_in_outcome) else {
                continue;
            };
            let Ok(at) = usize::try_from(count.hour - first_hour) else { continue };
            if let Some(app) = &count.app {
                add(per_app.entry(app.clone()).or_insert_with(|| empty.clone()), outcome, at, count.count);
            }
            if only.is_none() || count.app == only {
                add(&mut series, outcome, at, count.count);
            }
        }
        let mut apps = Vec::new();
        let mut expiring = Vec::new();
        let soon = now + EXPIRY_WARNING_DAYS * 24 * HOUR_MS;
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let got = self.store.list_apps(&page).await?;
            for app in &got.items {
                let id = app.id.to_string();
                let own = per_app.remove(&id).unwrap_or_else(|| empty.clone());
                let (signed_in, refused) = (own.signed_in.iter().sum(), own.refused.iter().sum());
                apps.push(AppTotals { id: id.clone(), label: app.label.clone(), signed_in, refused, series: own });
                for (which, der) in [("current", &app.certificates.current), ("next", &app.certificates.next)] {
                    if let Some(not_after) = der.as_deref().and_then(tessera_keys::certificate_not_after)
                        && not_after < soon
                    {
                        expiring.push(ExpiringCertificate {
                            app_id: id.clone(),
                            label: app.label.clone(),
                            which,
                            not_after,
                        });
                    }
                }
            }
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        apps.sort_by_key(|a| std::cmp::Reverse(a.signed_in + a.refused));
        expiring.sort_by_key(|c| c.not_after);
        Ok(Dashboard { first_hour_ms: first_hour * HOUR_MS, series, apps, expiring })
    }
}
