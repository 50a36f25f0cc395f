use serde::Serialize;
use tessera_web::views::{AppView, GroupView, UserView};

use super::{Ctx, all_pages};
use crate::cli::GroupCommand;
use crate::output;

/// `group show --json`: the group with its members and the applications granted to it.
#[derive(Serialize)]
struct GroupDetail {
    #[serde(flatten)]
    group: GroupView,
    members: Vec<UserView>,
    apps: Vec<AppView>,
}

pub async fn run(ctx: &Ctx, cmd: GroupCommand) -> anyhow::Result<()> {
    let admin = ctx.admin().await?;
    match cmd {
        GroupCommand::Add { name, description } => {
            let group = admin.create_group(&ctx.actor, &name, description.as_deref()).await?;
            if ctx.settings.json {
                return output::json(&GroupView::from(&group));
            }
            println!("created group {} ({})", group.name, group.id);
            Ok(())
        }
        GroupCommand::List => {
            let groups = all_pages(async |page| admin.list_groups(page).await).await?;
            if ctx.settings.json {
                return output::json(&groups.iter().map(GroupView::from).collect::<Vec<_>>());
            }
            output::table(
                &["ID", "NAME", "DESCRIPTION"],
                groups.iter().map(|g| vec![g.id.to_string(), g.name.clone(), g.description.clone()]).collect(),
            );
            Ok(())
        }
        GroupCommand::Show { group } => {
            let (group, members) = admin.group_members(&group).await?;
            let (_, apps) = admin.apps_of_group(&group.id.to_string()).await?;
            if ctx.settings.json {
                return output::json(&GroupDetail {
                    group: GroupView::from(&group),
                    members: members.iter().map(UserView::from).collect(),
                    apps: apps.iter().map(|a| AppView::new(a, admin.public_url())).collect(),
                });
            }
            println!("id:          {}", group.id);
            println!("name:        {}", group.name);
            println!("description: {}", group.description);
            println!("members:     {}", members.iter().map(|u| u.email.as_str()).collect::<Vec<_>>().join(", "));
            println!("apps:        {}", apps.iter().map(|a| a.label.as_str()).collect::<Vec<_>>().join(", "));
            Ok(())
        }
        GroupCommand::Delete { group } => {
            let group = admin.delete_group(&ctx.actor, &group).await?;
            if !ctx.settings.json {
                println!("deleted group {}", group.name);
            }
            Ok(())
        }
        GroupCommand::AddMember { group, user } => {
            let (group, user, added) = admin.add_member(&ctx.actor, &group, &user).await?;
            if ctx.settings.json {
                return output::json(
                    &serde_json::json!({"group_id": group.id.to_string(), "user_id": user.id.to_string(), "added": added}),
                );
            }
            match added {
                true => println!("added {} to {}", user.email, group.name),
                false => println!("{} is already in {}", user.email, group.name),
            }
            Ok(())
        }
        GroupCommand::RemoveMember { group, user } => {
            let (group, user) = admin.remove_member(&ctx.actor, &group, &user).await?;
            if !ctx.settings.json {
                println!("removed {} from {}", user.email, group.name);
            }
            Ok(())
        }
    }
}
