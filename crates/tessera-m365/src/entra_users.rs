//! Entra's users through Graph: the users of a domain as `coverage` compares them, and the two
//! writes `m365 users --fix` makes (M365-PROTOCOLS.md §6: `onPremisesImmutableId` is returned
//! only on `$select`, and must be given when a user of a federated domain is created).

use serde_json::{Value, json};

use crate::M365Error;
use crate::coverage::{EntraUser, Fix, in_domain};
use crate::graph::{Graph, Needs};

const READ_USERS: Needs = Needs("User.Read.All");
const WRITE_USERS: Needs = Needs("User.ReadWrite.All");
/// Graph's largest page of users.
const PAGE: u32 = 999;
/// A tenant larger than this is beyond what one command compares in memory.
const MAX_USERS: usize = 500_000;

/// The Entra users whose UPN is in `domain`. Graph filters UPN suffixes only as an advanced
/// query, so every user is read (a page of 999 at a time) and the domain's kept.
pub async fn read_users(graph: &Graph, domain: &str) -> Result<Vec<EntraUser>, M365Error> {
    let path = format!(
        "/users?$select=id,userPrincipalName,onPremisesImmutableId,onPremisesSyncEnabled,accountEnabled&$top={PAGE}"
    );
    let mut users = Vec::new();
    for item in graph.get_all(&path, READ_USERS, MAX_USERS).await? {
        let (Some(id), Some(upn)) = (item["id"].as_str(), item["userPrincipalName"].as_str()) else {
            return Err(M365Error::Graph("GET /users: a user without an id or userPrincipalName".into()));
        };
        if !in_domain(upn, domain) {
            continue;
        }
        users.push(EntraUser {
            id: id.to_string(),
            upn: upn.to_string(),
            immutable_id: item["onPremisesImmutableId"].as_str().filter(|s| !s.is_empty()).map(str::to_string),
            synced: item["onPremisesSyncEnabled"].as_bool().unwrap_or(false),
            enabled: item["accountEnabled"].as_bool().unwrap_or(true),
        });
    }
    Ok(users)
}

/// An Entra object id as it may appear in a path.
fn object_id(id: &str) -> Result<&str, M365Error> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(M365Error::Graph(format!("{id:?} is not an Entra object id")));
    }
    Ok(id)
}

/// The mail nickname Graph requires of a new user: the UPN's local part, in the characters
/// Exchange accepts.
fn mail_nickname(upn: &str) -> String {
    let local = upn.split('@').next().unwrap_or(upn);
    let nickname: String =
        local.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
    let nickname = nickname.trim_matches('.').to_string();
    if nickname.is_empty() { "user".into() } else { nickname }
}

/// A password Graph accepts for a new user and nobody knows: the user signs in through
/// federation, never with it.
fn unusable_password() -> String {
    format!("Tx!{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()).chars().take(64).collect()
}

/// Makes one `--fix` write.
pub async fn apply(graph: &Graph, fix: &Fix) -> Result<(), M365Error> {
    match fix {
        Fix::SetImmutableId { entra_user, immutable_id, .. } => {
            let body = json!({"onPremisesImmutableId": immutable_id});
            graph
                .call(reqwest::Method::PATCH, &format!("/users/{}", object_id(entra_user)?), Some(&body), WRITE_USERS)
                .await?;
        }
        Fix::Create { upn, display_name, immutable_id } => {
            let display_name = if display_name.trim().is_empty() { upn.clone() } else { display_name.clone() };
            let body: Value = json!({
                "accountEnabled": true,
                "displayName": display_name,
                "mailNickname": mail_nickname(upn),
                "userPrincipalName": upn,
                "onPremisesImmutableId": immutable_id,
                "passwordProfile": {"forceChangePasswordNextSignIn": false, "password": unusable_password()},
            });
            graph.call(reqwest::Method::POST, "/users", Some(&body), WRITE_USERS).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_keep_what_exchange_accepts() {
        assert_eq!(mail_nickname("Anna.Berg@contoso.com"), "Anna.Berg");
        assert_eq!(mail_nickname("o'brien (x)@contoso.com"), "obrienx");
        assert_eq!(mail_nickname("@contoso.com"), "user");
    }

    #[test]
    fn object_ids_are_path_safe() {
        assert!(object_id("0f3a-11").is_ok());
        assert!(object_id("../me").is_err());
        assert!(object_id("").is_err());
    }

    #[test]
    fn the_unusable_password_is_long_and_mixed() {
        let p = unusable_password();
        assert!(p.len() >= 40);
        assert!(p.chars().any(|c| c.is_ascii_uppercase()) && p.contains('!') && p.chars().any(|c| c.is_ascii_digit()));
    }
}
