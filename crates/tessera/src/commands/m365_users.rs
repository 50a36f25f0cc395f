//! `tessera m365 users`: how Tessera's users of a domain and Entra's compare, and what
//! `--fix` and `--from-entra` did.

use anyhow::bail;
use tessera_admin::{CopyOutcome, FixOutcome};
use tessera_m365::coverage::{Coverage, Fix, Report};

use super::Ctx;
use crate::output;

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "—".into())
}

fn status_text(status: Coverage) -> &'static str {
    match status {
        Coverage::Match => "match",
        Coverage::MissingInEntra => "missing in Entra",
        Coverage::Different => "different",
        Coverage::NoEntraUser => "no Entra user",
        Coverage::EntraOnly => "not in Tessera",
    }
}

pub(super) fn report(ctx: &Ctx, report: &Report) -> anyhow::Result<()> {
    if ctx.settings.json {
        return output::json(report);
    }
    let rows = report
        .users
        .iter()
        .map(|r| {
            vec![
                r.upn.clone(),
                status_text(r.status).into(),
                or_dash(&r.tessera_immutable_id),
                or_dash(&r.entra_immutable_id),
                or_dash(&r.source),
                if r.active { "" } else { "inactive" }.into(),
            ]
        })
        .collect();
    output::table(&["UPN", "STATUS", "TESSERA IMMUTABLEID", "ENTRA IMMUTABLEID", "SOURCE", ""], rows);
    let counts: Vec<String> = Coverage::ALL
        .iter()
        .map(|s| format!("{} {}", report.counts.get(s.as_str()).copied().unwrap_or(0), status_text(*s)))
        .collect();
    println!("{} ({}): {}", report.domain, report.authentication_type, counts.join(", "));
    println!(
        "{} active user(s) would fail to sign in to Microsoft 365 once {} is federated{}",
        report.would_fail,
        report.domain,
        if report.directory_sync { "; the tenant runs Entra Connect, which owns Entra's ImmutableIDs" } else { "" }
    );
    Ok(())
}

pub(super) fn fixed(ctx: &Ctx, outcome: &FixOutcome) -> anyhow::Result<()> {
    if ctx.settings.json {
        output::json(outcome)?;
    } else {
        for fix in &outcome.fixes {
            let (what, done, would, failed) = match &fix.change {
                Fix::SetImmutableId { upn, immutable_id, .. } => {
                    (format!("onPremisesImmutableId of {upn} to {immutable_id}"), "set", "would set", "could not set")
                }
                Fix::Create { upn, immutable_id, .. } => (
                    format!("{upn} in Entra with ImmutableID {immutable_id}"),
                    "created",
                    "would create",
                    "could not create",
                ),
            };
            match &fix.error {
                Some(error) => println!("FAILED: {failed} {what}: {error}"),
                None => println!("{} {what}", if fix.done { done } else { would }),
            }
        }
        for skipped in &outcome.skipped {
            println!("left {}: {}", skipped.upn, skipped.reason);
        }
        if outcome.fixes.is_empty() {
            println!("nothing to fix in Entra for {}", outcome.domain);
        }
    }
    if outcome.failed > 0 {
        bail!("{} of {} change(s) in Entra failed; the others were made", outcome.failed, outcome.fixes.len());
    }
    Ok(())
}

pub(super) fn copied(ctx: &Ctx, outcome: &CopyOutcome) -> anyhow::Result<()> {
    if ctx.settings.json {
        output::json(outcome)?;
    } else {
        for copy in &outcome.copies {
            let verb = if copy.done { "copied" } else { "would copy" };
            let line = format!(
                "{verb} {}'s ImmutableID from Entra: {} -> {}",
                copy.change.upn, copy.change.from, copy.change.to
            );
            match &copy.error {
                Some(error) => println!("FAILED: {line}: {error}"),
                None => println!("{line}"),
            }
        }
        for conflict in &outcome.conflicts {
            println!("conflict {}: {}", conflict.upn, conflict.reason);
        }
        if outcome.copies.is_empty() && outcome.conflicts.is_empty() {
            println!("Tessera already holds Entra's ImmutableIDs for {}", outcome.domain);
        }
    }
    if outcome.failed > 0 {
        bail!("{} of {} copies failed; the others were made", outcome.failed, outcome.copies.len());
    }
    Ok(())
}
