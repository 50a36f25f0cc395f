//! `tessera doctor [APP]`: the admin service's checks of the Microsoft 365 connectors, from
//! outside at the public URL, one line each with what to do; exit 1 on any failure.

use anyhow::{Context, bail};
use tessera_admin::doctor::{DoctorRequest, Severity, TestUser};

use super::Ctx;
use crate::cli::DoctorArgs;
use crate::output;

pub async fn run(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<()> {
    let admin = ctx.admin().await?;
    let test_user = match (&args.test_user, args.test_password_stdin, &args.test_password) {
        (Some(name), true, _) => Some(TestUser {
            name: name.clone(),
            password: super::read_password_stdin().context("the test user's password")?,
        }),
        (Some(name), false, Some(password)) => Some(TestUser { name: name.clone(), password: password.clone() }),
        (Some(_), false, None) => {
            bail!("--test-user needs its password: --test-password-stdin or TESSERA_DOCTOR_TEST_PASSWORD")
        }
        (None, _, _) => None,
    };
    let ca_pem = match &args.ca_file {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?),
        None => None,
    };
    let graph = super::m365::graph_if_any(ctx, &admin, &args.graph).await?;
    let request = DoctorRequest { app: args.app.clone(), test_user, ca_pem };
    let report = admin.doctor(&ctx.actor, &request, graph.as_ref()).await?;
    if ctx.settings.json {
        output::json(&report)?;
    } else {
        if report.connectors.is_empty() {
            println!("No Microsoft 365 connector to check (tessera app add m365 --domain DOMAIN).");
        }
        for connector in &report.connectors {
            let domain = match connector.app.contains(&connector.domain) {
                true => String::new(),
                false => format!(" ({})", connector.domain),
            };
            println!("{}{domain} at {}", connector.app, report.public_url);
            for check in &connector.checks {
                let result = match (check.ok, check.severity) {
                    (true, _) => "ok",
                    (false, Severity::Error) => "FAIL",
                    (false, Severity::Warning) => "warn",
                };
                println!("  {result:<4}  {:<14} {}", check.name, check.detail);
                if let (false, Some(fix)) = (check.ok, &check.fix) {
                    println!("  {:<4}  {:<14} → {fix}", "", "");
                }
            }
        }
    }
    if !report.ok {
        let failed = report.failures();
        bail!("the doctor found what would break: {}", failed.join(", "));
    }
    Ok(())
}
