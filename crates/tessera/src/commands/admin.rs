use tessera_admin::{AdminError, AdminService, AuditRequest, RoleRequest};
use tessera_store::Administrator;
use tessera_web::views::{AdminView, ApiTokenView, AuditView};

use super::{Ctx, read_password_stdin};
use crate::cli::{AdminCommand, AdminMfaCommand, AuditCommand, TokenCommand};
use crate::output;

pub async fn audit(ctx: &Ctx, cmd: AuditCommand) -> anyhow::Result<()> {
    let (since, until, actor, action, app, user, newest_first, limit) = match cmd {
        AuditCommand::Trace { id } => return trace(ctx, &id).await,
        AuditCommand::Verify { since } => return verify(ctx, since.as_deref()).await,
        AuditCommand::List { since, until, actor, action, app, user, newest_first, limit } => {
            (since, until, actor, action, app, user, newest_first, limit)
        }
    };
    // The command has always read at most what the store gives (1 to 10,000), never refused more.
    let request = AuditRequest {
        since,
        until,
        actor,
        action,
        app,
        user,
        newest_first,
        after: None,
        limit: limit.clamp(1, 10_000),
    };
    let events = ctx.admin().await?.audit_events(&request).await.map_err(|e| match e {
        AdminError::Invalid { ref field, .. } => {
            let flag = format!("--{field}");
            anyhow::Error::from(e).context(flag)
        }
        other => other.into(),
    })?;
    let views: Vec<AuditView> = events.iter().map(AuditView::from).collect();
    if ctx.settings.json {
        return output::json(&views);
    }
    let rows = views
        .into_iter()
        .map(|e| vec![e.at, e.actor, e.action, format!("{}:{}", e.target_kind, e.target_id), e.summary.to_string()])
        .collect();
    output::table(&["AT", "ACTOR", "ACTION", "TARGET", "SUMMARY"], rows);
    Ok(())
}

/// The chain's report, then exit 1 if it is broken.
async fn verify(ctx: &Ctx, since: Option<&str>) -> anyhow::Result<()> {
    let report = ctx.admin().await?.verify_audit_chain(since).await.map_err(|e| match e {
        AdminError::Invalid { .. } => anyhow::Error::from(e).context("--since"),
        other => other.into(),
    })?;
    if ctx.settings.json {
        let mut json = serde_json::to_value(&report)?;
        json["intact"] = report.intact().into();
        output::json(&json)?;
    } else {
        match (report.first_seq, report.last_seq) {
            (Some(first), Some(last)) => println!("checked {} record(s), {first} to {last}", report.checked),
            _ => println!("checked 0 records"),
        }
        if report.before_chain > 0 {
            println!(
                "{} earlier record(s) were written before the chain began and cannot be checked",
                report.before_chain
            );
        }
        if report.during_upgrade > 0 {
            println!(
                "{} record(s) without a link were written during a rolling upgrade by nodes of the release \
                 before the chain, and cannot be checked",
                report.during_upgrade
            );
        }
        println!("head: record {} mac {}", report.head_seq, report.head_mac);
    }
    if report.upgrade_open {
        // On stderr, in both formats: the chain is whole, but it does not yet refuse what it
        // will refuse once the upgrade is finished.
        eprintln!(
            "warning: the upgrade is not finished: records without a chain link are still let in; run \
             `tessera migrate finish` once every node runs this release"
        );
    }
    match &report.broken {
        None => {
            if !ctx.settings.json {
                println!("the audit chain is intact");
            }
            Ok(())
        }
        Some(broken) => {
            let found = match (broken.id, broken.at) {
                (Some(id), Some(at)) => format!(" (id {id}, at {})", tessera_core::format_millis(at)),
                _ => String::new(),
            };
            anyhow::bail!("the audit chain is broken at record {}{found}: {}", broken.seq, broken.problem)
        }
    }
}

fn role_request(role: &str, apps: Vec<String>) -> anyhow::Result<RoleRequest> {
    Ok(RoleRequest { role: role.parse()?, apps })
}

async fn view(service: &AdminService, administrator: &Administrator) -> anyhow::Result<AdminView> {
    Ok(AdminView::new(administrator, &service.admin_authority(administrator).await?))
}

async fn trace(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let trace = ctx.admin().await?.sign_in_trace(id).await?;
    let views: Vec<AuditView> = trace.events.iter().map(AuditView::from).collect();
    if ctx.settings.json {
        return output::json(&serde_json::json!({
            "id": trace.id,
            "events": views,
            "token": trace.token.as_ref().map(|t| t.token.as_str()),
        }));
    }
    let rows = views.into_iter().map(|e| vec![e.at, e.actor, e.action, e.summary.to_string()]).collect();
    output::table(&["AT", "ACTOR", "ACTION", "SUMMARY"], rows);
    if let Some(token) = trace.token {
        println!("kept token (without its signature value):\n{}", token.token);
    }
    Ok(())
}

/// Tracing on or off for an application or a user, as the command asked.
pub async fn set_tracing(
    ctx: &Ctx,
    subject: tessera_core::tracing::TraceSubject,
    key: &str,
    args: crate::cli::TracingArgs,
) -> anyhow::Result<()> {
    let minutes = if args.off { None } else { args.minutes };
    let switches = ctx.admin().await?.set_tracing(&ctx.actor, subject, key, minutes, args.keep_days).await?;
    if ctx.settings.json {
        let view: Vec<_> = switches
            .switches
            .iter()
            .map(|s| serde_json::json!({"subject": s.subject, "id": s.id, "until": tessera_core::format_millis(s.until), "keep_days": s.keep_days}))
            .collect();
        return output::json(&view);
    }
    match minutes {
        Some(minutes) => println!("tracing {key} for {minutes} minutes; tokens are kept {} days", args.keep_days),
        None => println!("tracing {key} is off"),
    }
    Ok(())
}

pub async fn run(ctx: &Ctx, cmd: AdminCommand) -> anyhow::Result<()> {
    let service = ctx.admin().await?;
    let shown = async |administrator: &Administrator, done: &str| -> anyhow::Result<()> {
        let view = view(&service, administrator).await?;
        if ctx.settings.json {
            return output::json(&view);
        }
        println!("{done} administrator {:?} ({})", view.username, view.role);
        Ok(())
    };
    match cmd {
        AdminCommand::Add { name, password_stdin: _, role } => {
            // The role is read before the password: a bad role asks for nothing.
            let role = role_request(&role.role, role.apps)?;
            let added = service.add_admin(&ctx.actor, &name, read_password_stdin()?, &role).await?;
            shown(&added, "added").await
        }
        AdminCommand::SetRole { name, role, apps } => {
            let changed = service.set_admin_role(&ctx.actor, &name, &role_request(&role, apps)?).await?;
            shown(&changed, "set the role of").await
        }
        AdminCommand::SetPassword { name, password_stdin: _ } => {
            let changed = service.set_admin_password(&ctx.actor, &name, read_password_stdin()?).await?;
            shown(&changed, "set the password of").await
        }
        AdminCommand::Delete { name } => {
            let deleted = service.delete_admin(&ctx.actor, &name).await?;
            shown(&deleted, "deleted").await
        }
        AdminCommand::List => {
            let mut views = Vec::new();
            for administrator in service.list_admins().await? {
                views.push(view(&service, &administrator).await?);
            }
            if ctx.settings.json {
                return output::json(&views);
            }
            let rows = views
                .into_iter()
                .map(|a| {
                    let password = if a.must_change_password { "one-time" } else { "own" };
                    vec![a.id, a.username, a.role, a.apps.join(","), a.created_at, password.into()]
                })
                .collect();
            output::table(&["ID", "NAME", "ROLE", "APPS", "CREATED", "PASSWORD"], rows);
            Ok(())
        }
        AdminCommand::Mfa(AdminMfaCommand::Reset { name }) => {
            let (admin, reset) = service.reset_admin_mfa(&ctx.actor, &name).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({"id": admin.id, "username": admin.username, "reset": reset}));
            }
            match reset {
                true => {
                    println!(
                        "removed the authenticator app and passkeys of administrator {:?}; their sessions ended",
                        admin.username
                    )
                }
                false => println!("administrator {:?} has no authenticator app or passkey", admin.username),
            }
            Ok(())
        }
        AdminCommand::Token(cmd) => token(ctx, cmd).await,
    }
}

async fn token(ctx: &Ctx, cmd: TokenCommand) -> anyhow::Result<()> {
    let admin = ctx.admin().await?;
    match cmd {
        TokenCommand::Create { name, role } => {
            let role = role_request(&role.role, role.apps)?;
            let (token, secret) = admin.create_api_token(&ctx.actor, &name, &role).await?;
            if ctx.settings.json {
                let mut view = serde_json::to_value(ApiTokenView::from(&token))?;
                view["token"] = serde_json::Value::String(secret);
                return output::json(&view);
            }
            eprintln!("API token {:?} created; it is shown only now:", token.name);
            println!("{secret}");
            Ok(())
        }
        TokenCommand::List => {
            let tokens = admin.list_api_tokens().await?;
            let views: Vec<ApiTokenView> = tokens.iter().map(ApiTokenView::from).collect();
            if ctx.settings.json {
                return output::json(&views);
            }
            let rows = views
                .into_iter()
                .map(|t| vec![t.id, t.name, t.role, t.created_at, t.revoked_at.unwrap_or_else(|| "live".into())])
                .collect();
            output::table(&["ID", "NAME", "ROLE", "CREATED", "REVOKED"], rows);
            Ok(())
        }
        TokenCommand::Revoke { token } => {
            let token = admin.revoke_api_token(&ctx.actor, &token).await?;
            if ctx.settings.json {
                return output::json(&ApiTokenView::from(&token));
            }
            println!("revoked API token {:?}", token.name);
            Ok(())
        }
    }
}
