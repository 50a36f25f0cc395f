use anyhow::Context as _;
use tessera_admin::NewUserRequest;
use tessera_core::{User, UserState, format_millis};
use tessera_web::views::UserView;

use super::{Ctx, all_pages, read_password_stdin};
use crate::cli::{MfaCommand, PasskeyCommand, UserCommand};
use crate::output;

/// The file (or standard input for `-`), refused beyond `cap` bytes without reading on.
fn read_capped(path: &std::path::Path, cap: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let source: Box<dyn std::io::Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?)
    };
    let mut bytes = Vec::new();
    source.take(cap as u64 + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > cap {
        anyhow::bail!("{} is larger than {cap} bytes: split it", path.display());
    }
    Ok(bytes)
}

pub async fn run(ctx: &Ctx, cmd: UserCommand) -> anyhow::Result<()> {
    let admin = ctx.admin().await?;
    match cmd {
        UserCommand::Import { file, dry_run } => {
            let bytes = read_capped(&file, tessera_core::import::MAX_IMPORT_BYTES)?;
            let report = admin.import_users(&ctx.actor, &bytes, dry_run).await?;
            let outcome = &report.outcome;
            if ctx.settings.json {
                return output::json(&serde_json::json!({
                    "dry_run": dry_run,
                    "written": outcome.written,
                    "users": outcome.users,
                    "memberships": outcome.memberships,
                    "new_groups": outcome.new_groups,
                    "emails": report.rows.iter().map(|r| r.user.email.as_str()).collect::<Vec<_>>(),
                }));
            }
            let verb = if outcome.written { "imported" } else { "dry run: would import" };
            println!("{verb} {} users, {} group memberships", outcome.users, outcome.memberships);
            if !outcome.new_groups.is_empty() {
                let created = if outcome.written { "created groups" } else { "would create groups" };
                println!("{created}: {}", outcome.new_groups.join(", "));
            }
            Ok(())
        }
        UserCommand::Trace { user, tracing } => {
            super::admin::set_tracing(ctx, tessera_core::tracing::TraceSubject::User, &user, tracing).await
        }
        UserCommand::SignOut { user } => {
            let (user, ended) = admin.sign_out_user(&ctx.actor, &user).await?;
            if ctx.settings.json {
                return output::json(
                    &serde_json::json!({"id": user.id.to_string(), "email": user.email, "sessions_ended": ended}),
                );
            }
            println!("ended {ended} session(s) of {}", user.email);
            Ok(())
        }
        UserCommand::Add {
            email,
            upn,
            first_name,
            last_name,
            immutable_id,
            immutable_id_from_guid,
            password_stdin,
        } => {
            let immutable_id = immutable_id_or_guid(immutable_id, immutable_id_from_guid.as_deref())?;
            let password = if password_stdin { Some(read_password_stdin()?) } else { None };
            let request = NewUserRequest { email, upn, first_name, last_name, immutable_id, password };
            let user = admin.create_user(&ctx.actor, request).await?;
            show(ctx, &user, "created")
        }
        UserCommand::Set { user, upn, immutable_id, immutable_id_from_guid } => {
            let immutable_id = immutable_id_or_guid(immutable_id, immutable_id_from_guid.as_deref())?;
            let user = admin.set_user_identity(&ctx.actor, &user, upn.as_deref(), immutable_id.as_deref()).await?;
            show(ctx, &user, "changed")
        }
        UserCommand::List => {
            let users = all_pages(async |page| admin.list_users(page).await).await?;
            if ctx.settings.json {
                return output::json(&users.iter().map(UserView::from).collect::<Vec<_>>());
            }
            let rows = users
                .iter()
                .map(|u| vec![u.id.to_string(), u.email.clone(), u.upn.clone(), u.state.as_str().to_string()])
                .collect();
            output::table(&["ID", "EMAIL", "UPN", "STATE"], rows);
            Ok(())
        }
        UserCommand::Show { user } => {
            let (user, groups) = admin.groups_of_user(&user).await?;
            if ctx.settings.json {
                return output::json(&UserView::from(&user));
            }
            print_user(&user);
            println!("groups:       {}", groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", "));
            Ok(())
        }
        UserCommand::SetPassword { user, .. } => {
            let user = admin.find_user(&user).await?;
            let user = admin.set_password(&ctx.actor, &user.id.to_string(), read_password_stdin()?).await?;
            if !ctx.settings.json {
                println!("password set for {}", user.email);
            }
            Ok(())
        }
        UserCommand::Mfa(MfaCommand::Reset { user }) => {
            let (user, removed) = admin.reset_mfa(&ctx.actor, &user).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({"user_id": user.id.to_string(), "reset": removed}));
            }
            match removed {
                true => println!(
                    "removed every second factor of {} (authenticator app, recovery codes, passkeys)",
                    user.email
                ),
                false => println!("{} has no second factor", user.email),
            }
            Ok(())
        }
        UserCommand::Passkey(PasskeyCommand::List { user }) => {
            let (_, passkeys) = admin.passkeys(&user).await?;
            if ctx.settings.json {
                let listed: Vec<serde_json::Value> = passkeys
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "name": p.name,
                            "created_at": format_millis(p.created_at),
                            "last_used_at": p.last_used_at.map(format_millis),
                        })
                    })
                    .collect();
                return output::json(&listed);
            }
            let rows = passkeys
                .iter()
                .map(|p| {
                    let used = p.last_used_at.map_or_else(|| "never".to_string(), format_millis);
                    vec![p.name.clone(), format_millis(p.created_at), used]
                })
                .collect();
            output::table(&["NAME", "ENROLLED", "LAST USED"], rows);
            Ok(())
        }
        UserCommand::Passkey(PasskeyCommand::Remove { user, name }) => {
            let user = admin.remove_passkey(&ctx.actor, &user, &name).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({"user_id": user.id.to_string(), "removed": name}));
            }
            println!("removed the passkey {name:?} of {}", user.email);
            Ok(())
        }
        UserCommand::Suspend { user } => {
            let user = admin.set_user_state(&ctx.actor, &user, UserState::Suspended).await?;
            show(ctx, &user, UserState::Suspended.as_str())
        }
        UserCommand::Activate { user } => {
            let user = admin.set_user_state(&ctx.actor, &user, UserState::Active).await?;
            show(ctx, &user, UserState::Active.as_str())
        }
        UserCommand::Delete { user } => {
            let user = admin.delete_user(&ctx.actor, &user).await?;
            if !ctx.settings.json {
                println!("deleted user {}", user.email);
            }
            Ok(())
        }
    }
}

fn show(ctx: &Ctx, user: &User, what: &str) -> anyhow::Result<()> {
    if ctx.settings.json {
        return output::json(&UserView::from(user));
    }
    println!("{what} user {} ({})", user.email, user.id);
    Ok(())
}

fn print_user(user: &User) {
    println!("id:           {}", user.id);
    println!("email:        {}", user.email);
    println!("upn:          {}", user.upn);
    println!("name:         {} {}", user.first_name, user.last_name);
    println!("immutable id: {}", user.immutable_id);
    println!("state:        {}", user.state.as_str());
    println!("password:     {}", if user.password_hash.is_some() { "set" } else { "not set" });
    println!("created:      {}", format_millis(user.created_at));
}

/// `--immutable-id`, or the one an AD objectGUID in text form gives.
fn immutable_id_or_guid(immutable_id: Option<String>, guid: Option<&str>) -> anyhow::Result<Option<String>> {
    match guid {
        Some(guid) => {
            let bytes = tessera_core::sources::ad_guid_bytes(guid)?;
            Ok(Some(tessera_core::sources::immutable_id_from_anchor(&bytes)))
        }
        None => Ok(immutable_id),
    }
}
