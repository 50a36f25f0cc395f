//! Users and groups.

use serde::{Deserialize, Serialize};

use crate::validate;
use crate::{CoreError, GroupId, UnixMillis, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    Active,
    Suspended,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Result<Self, CoreError> {
        match text {
            "active" => Ok(UserState::Active),
            "suspended" => Ok(UserState::Suspended),
            other => Err(CoreError::invalid("state", format!("unknown user state {other:?}"))),
        }
    }
}

/// A person in the directory. The password hash is a PHC string, so its argon2id parameters
/// travel with it and can be raised later without invalidating old hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub upn: String,
    pub first_name: String,
    pub last_name: String,
    pub immutable_id: String,
    pub state: UserState,
    pub password_hash: Option<String>,
    /// When the user acknowledged the password-update notice, if ever.
    pub notice_acknowledged_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

impl User {
    /// The value of one of the user's attributes, as a token carries it.
    pub fn attribute(&self, attribute: crate::app::UserAttribute) -> String {
        use crate::app::UserAttribute;
        match attribute {
            UserAttribute::Id => self.id.to_string(),
            UserAttribute::Email => self.email.clone(),
            UserAttribute::Upn => self.upn.clone(),
            UserAttribute::FirstName => self.first_name.clone(),
            UserAttribute::LastName => self.last_name.clone(),
            UserAttribute::DisplayName => format!("{} {}", self.first_name, self.last_name).trim().to_string(),
            UserAttribute::ImmutableId => self.immutable_id.clone(),
        }
    }
}

/// A validated request to create a user. Build it with [`NewUser::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub upn: String,
    pub first_name: String,
    pub last_name: String,
    pub immutable_id: String,
    pub password_hash: Option<String>,
}

impl NewUser {
    /// Checks every field; `upn` defaults to the email and `immutable_id` to a fresh value made
    /// by `make_immutable_id` (base64 of 16 random bytes, the form Entra Connect uses).
    pub fn new(
        email: &str,
        upn: Option<&str>,
        first_name: Option<&str>,
        last_name: Option<&str>,
        immutable_id: Option<&str>,
        make_immutable_id: impl FnOnce() -> String,
    ) -> Result<Self, CoreError> {
        let email = validate::email("email", email)?;
        let upn = match upn {
            Some(upn) => validate::email("upn", upn)?,
            None => email.clone(),
        };
        let immutable_id = match immutable_id {
            Some(id) => validate::immutable_id(id)?,
            None => make_immutable_id(),
        };
        Ok(NewUser {
            email,
            upn,
            first_name: validate::person_name("first_name", first_name.unwrap_or(""))?,
            last_name: validate::person_name("last_name", last_name.unwrap_or(""))?,
            immutable_id,
            password_hash: None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub description: String,
    pub created_at: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub name: String,
    pub description: String,
}

impl NewGroup {
    pub fn new(name: &str, description: Option<&str>) -> Result<Self, CoreError> {
        Ok(NewGroup {
            name: validate::label("name", name)?,
            description: validate::description(description.unwrap_or(""))?,
        })
    }
}
