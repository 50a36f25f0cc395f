//! Claims mapping: what an application's configured attributes carry for a user.

use tessera_core::{AppKind, Application, User};

/// The application's mapped attributes (`NAME=SOURCE` settings of a Microsoft 365 connector or a
/// WS-Federation relying party) for `user`, as `(name, value)`; empty values are left out.
pub fn mapped_attributes(app: &Application, user: &User) -> Vec<(String, String)> {
    let mappings = match &app.kind {
        AppKind::M365(c) => &c.attributes,
        AppKind::WsFed(c) => &c.attribute_mappings,
        _ => return Vec::new(),
    };
    mappings.iter().map(|m| (m.name.clone(), user.attribute(m.source))).filter(|(_, value)| !value.is_empty()).collect()
}
