//! What an administrative request asks to reach, read from its route template, its method and
//! its path parameters; `tessera_core::roles` decides whether the principal may. Both the admin
//! portal and the REST API put every request through [`authorize`] before its handler runs, so
//! no route can be added without the check: a route's template says what it touches.
//!
//! A template's first literal segment (after `/admin` or `/api/v1`) names the area; its first
//! object parameter (`{app}`, `{user}`, `{group}`, `{admin}`) names the object acted on, and a
//! later `{user}` is read too (a user's details are theirs to see only). With no object, a
//! `GET` lists the area and anything else (or a `new` / `delete` form) adds to or removes from
//! it. With an object, `GET` reads it, `DELETE` of the object itself deletes it, and anything
//! else changes it.

use axum::http::Method;
use tessera_core::{Access, AdminRole, AppId, Area, Authority, Object, Refusal};

use crate::state::AppState;

/// The sign-in pages every administrator reaches whatever their role.
const OWN_SESSION: &[&str] =
    &["/admin", "/admin/login", "/admin/mfa", "/admin/mfa/enrol", "/admin/password", "/admin/logout"];

/// What a route template and method ask for, before any id is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    kind: Kind,
    /// The value of a `{user}` parameter that is read beside the object acted on.
    reads_user: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    List(Area),
    Manage(Area),
    /// The object parameter's name and value, and what is done to it.
    Object {
        name: String,
        key: String,
        verb: Verb,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Read,
    Change,
    Delete,
}

fn area_of(segment: &str) -> Area {
    match segment {
        "applications" | "apps" => Area::Applications,
        "users" | "groups" => Area::Directory,
        "audit" | "sign-ins" | "dashboard" | "traces" => Area::Audit,
        // Administrators, tokens, and anything not named here: full administrators only.
        _ => Area::Administrators,
    }
}

fn is_object(name: &str) -> bool {
    matches!(name, "app" | "user" | "group" | "admin")
}

/// What `method` on `template` (with its `params`) asks for; `None` for an administrator's own
/// sign-in pages.
pub fn requested(method: &Method, template: &str, params: &[(String, String)]) -> Option<Requested> {
    if OWN_SESSION.contains(&template) {
        return None;
    }
    let segments: Vec<&str> =
        template.split('/').filter(|s| !s.is_empty()).skip_while(|s| matches!(*s, "admin" | "api" | "v1")).collect();
    let area = area_of(segments.first().copied().unwrap_or(""));
    let value = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let objects: Vec<(usize, &str)> = segments
        .iter()
        .enumerate()
        .filter_map(|(at, s)| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')).map(|name| (at, name)))
        .filter(|(_, name)| is_object(name))
        .collect();
    let reads_user = objects.iter().skip(1).any(|(_, name)| *name == "user");
    let kind = match objects.first() {
        None if *method == Method::GET && !segments.iter().any(|s| matches!(*s, "new" | "delete" | "import")) => {
            Kind::List(area)
        }
        None => Kind::Manage(area),
        Some((at, name)) => {
            let verb = if *method == Method::GET || *method == Method::HEAD {
                Verb::Read
            } else if *method == Method::DELETE && at + 1 == segments.len() {
                Verb::Delete
            } else {
                Verb::Change
            };
            Kind::Object { name: name.to_string(), key: value(name), verb }
        }
    };
    Some(Requested { kind, reads_user })
}

/// Whether `authority` may do what was `requested`. An application named by id or label is
/// looked up only for an application administrator (the others reach every one, and a missing
/// one is the handler's "not found").
pub async fn authorize(state: &AppState, authority: &Authority, requested: &Requested) -> Result<(), Refusal> {
    let object = |name: &str, app: AppId| match name {
        "app" => Object::App(app),
        "user" => Object::User,
        "group" => Object::Group,
        _ => Object::Administrator,
    };
    let access = match &requested.kind {
        Kind::List(area) => Access::List(*area),
        Kind::Manage(area) => Access::Manage(*area),
        Kind::Object { name, key, verb } => {
            let app = if name == "app" && authority.role == AdminRole::AppAdmin {
                match state.admin.find_app(key).await {
                    Ok(app) => app.id,
                    Err(_) => return Err(Refusal::Hidden),
                }
            } else {
                AppId(uuid::Uuid::nil())
            };
            let object = object(name, app);
            match verb {
                Verb::Read => Access::Read(object),
                Verb::Change => Access::Change(object),
                Verb::Delete => Access::Delete(object),
            }
        }
    };
    if requested.reads_user {
        // Seeing the object but not the user it names is still not seeing the user.
        authority.check(Access::Read(Object::User))?;
    }
    authority.check(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn templates_say_what_they_touch() {
        let app = params(&[("app", "A")]);
        let read = |t: &str, p: &[(String, String)]| requested(&Method::GET, t, p).unwrap().kind;
        let post = |t: &str, p: &[(String, String)]| requested(&Method::POST, t, p).unwrap().kind;
        assert_eq!(read("/admin/applications", &[]), Kind::List(Area::Applications));
        assert_eq!(read("/admin/applications/new", &[]), Kind::Manage(Area::Applications));
        assert_eq!(post("/admin/applications/delete", &[]), Kind::Manage(Area::Applications));
        assert_eq!(
            post("/admin/applications/new/{kind}", &params(&[("kind", "saml")])),
            Kind::Manage(Area::Applications)
        );
        assert_eq!(
            post("/admin/applications/{app}/sso", &app),
            Kind::Object { name: "app".into(), key: "A".into(), verb: Verb::Change }
        );
        assert_eq!(
            requested(&Method::DELETE, "/apps/{app}", &app).unwrap().kind,
            Kind::Object { name: "app".into(), key: "A".into(), verb: Verb::Delete }
        );
        let grant = params(&[("app", "A"), ("group", "G")]);
        assert_eq!(
            requested(&Method::DELETE, "/apps/{app}/groups/{group}", &grant).unwrap().kind,
            Kind::Object { name: "app".into(), key: "A".into(), verb: Verb::Change }
        );
        assert!(
            requested(&Method::GET, "/apps/{app}/access/{user}", &params(&[("app", "A"), ("user", "U")]))
                .unwrap()
                .reads_user
        );
        assert_eq!(read("/audit", &[]), Kind::List(Area::Audit));
        assert_eq!(read("/admin/settings", &[]), Kind::List(Area::Administrators));
        assert_eq!(requested(&Method::POST, "/admin/login", &[]), None);
    }
}
