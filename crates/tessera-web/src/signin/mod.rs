//! The user's own pages: signing in (a password, then a second factor or its enrolment), the
//! password-update notice, the portal of tiles, their account, and signing out. Every protocol
//! sends its users here and takes them back through a parked sign-on; these pages know no
//! protocol.

pub mod account;
mod account_passkeys;
mod appearance;
mod change_at_source;
mod login;
mod mfa;
mod pages;
pub mod pass_through;
mod passkey_sign_in;
mod portal;
mod steps;
pub(crate) mod windows_sign_in;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(portal::portal))
        .route("/login", get(login::page).post(login::submit))
        .route("/login/password", post(change_at_source::submit))
        .route("/login/mfa", get(mfa::page).post(mfa::submit))
        .route("/login/mfa/passkey", post(passkey_sign_in::second_factor))
        .route("/login/passkey", post(passkey_sign_in::begin_passwordless))
        .route("/login/passkey/finish", post(passkey_sign_in::finish_passwordless))
        .route("/mfa/totp", get(mfa::enroll_page).post(mfa::enroll_submit))
        .route("/notice", get(portal::notice_page).post(portal::notice_submit))
        .route("/logout", post(portal::logout))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/account/mfa/rename", post(account::rename_factor))
        .route("/account/mfa/remove", post(account::remove_factor))
        .route("/account/recovery-codes", post(account::renew_codes))
        .route("/account/sign-out-everywhere", post(account::sign_out_everywhere))
        .route("/account/passkeys/new", post(account_passkeys::begin_passkey))
        .route("/account/passkeys/add", post(account_passkeys::add_passkey))
        .route("/account/passkeys/remove", post(account_passkeys::remove_passkey))
        .route("/apps/{app}/image", get(portal::image))
        .route("/branding/logo", get(appearance::logo))
        .route("/branding/style.css", get(appearance::stylesheet))
        .route("/language/{code}", get(appearance::choose_language))
}

pub use portal::image_url as portal_image_url;
