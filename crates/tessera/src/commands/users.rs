use tessera_core::{NewUser, User, UserState, format_millis};
use tessera_web::views::UserView;

use super::{Ctx, all_pages, read_password_stdin};
use crate::cli::{MfaCommand, UserCommand};
use crate::output;

pub async fn run(ctx: &Ctx, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { email, upn, first_name, last_name, immutable_id, password_stdin } => {
            let generated = tessera_auth::secret::new_immutable_id()?;
            let mut new = NewUser::new(
                &email,
                upn.as_deref(),
                first_name.as_deref(),
                last_name.as_deref(),
                immutable_id.as_deref(),
                || generated,
            )?;
            if password_stdin {
                new.password_hash = Some(tessera_auth::password::hash_password(&read_password_stdin()?)?);
            }
            let user = ctx.store.create_user(&ctx.actor, new).await?;
            show(ctx, &user, "created")
        }
        UserCommand::List => {
            let users = all_pages(async |page| ctx.store.list_users(page).await).await?;
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
            let user = ctx.store.find_user(&user).await?;
            if ctx.settings.json {
                return output::json(&UserView::from(&user));
            }
            let groups = ctx.store.groups_of_user(user.id).await?;
            print_user(&user);
            println!("groups:       {}", groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", "));
            Ok(())
        }
        UserCommand::SetPassword { user, .. } => {
            let user = ctx.store.find_user(&user).await?;
            let hash = tessera_auth::password::hash_password(&read_password_stdin()?)?;
            ctx.store.set_password(&ctx.actor, user.id, &hash).await?;
            if !ctx.settings.json {
                println!("password set for {}", user.email);
            }
            Ok(())
        }
        UserCommand::Mfa(MfaCommand::Reset { user }) => {
            let user = ctx.store.find_user(&user).await?;
            let removed = ctx.store.reset_mfa(&ctx.actor, user.id).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({"user_id": user.id.to_string(), "reset": removed}));
            }
            match removed {
                true => println!("removed the authenticator app and recovery codes of {}", user.email),
                false => println!("{} has no second factor", user.email),
            }
            Ok(())
        }
        UserCommand::Suspend { user } => set_state(ctx, &user, UserState::Suspended).await,
        UserCommand::Activate { user } => set_state(ctx, &user, UserState::Active).await,
        UserCommand::Delete { user } => {
            let user = ctx.store.find_user(&user).await?;
            ctx.store.delete_user(&ctx.actor, user.id).await?;
            if !ctx.settings.json {
                println!("deleted user {}", user.email);
            }
            Ok(())
        }
    }
}

async fn set_state(ctx: &Ctx, key: &str, state: UserState) -> anyhow::Result<()> {
    let user = ctx.store.find_user(key).await?;
    let user = ctx.store.set_user_state(&ctx.actor, user.id, state).await?;
    show(ctx, &user, state.as_str())
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
