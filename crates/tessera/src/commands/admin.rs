use tessera_admin::{AdminError, AuditRequest};
use tessera_web::views::{ApiTokenView, AuditView};

use super::Ctx;
use crate::cli::{AdminCommand, AuditCommand, TokenCommand};
use crate::output;

pub async fn audit(ctx: &Ctx, cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List { since, limit } = cmd;
    // The command has always read at most what the store gives (1 to 10,000), never refused more.
    let request = AuditRequest { since, after: None, limit: limit.clamp(1, 10_000) };
    let events = ctx.admin().await?.audit_events(&request).await.map_err(|e| match e {
        AdminError::Invalid { ref field, .. } if field == "time" => anyhow::Error::from(e).context("--since"),
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

pub async fn run(ctx: &Ctx, cmd: AdminCommand) -> anyhow::Result<()> {
    let AdminCommand::Token(cmd) = cmd;
    let admin = ctx.admin().await?;
    match cmd {
        TokenCommand::Create { name } => {
            let (token, secret) = admin.create_api_token(&ctx.actor, &name).await?;
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
                .map(|t| vec![t.id, t.name, t.created_at, t.revoked_at.unwrap_or_else(|| "live".into())])
                .collect();
            output::table(&["ID", "NAME", "CREATED", "REVOKED"], rows);
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
