//! The brand on the pages users see: the organization's name, logo, accent colour and help
//! link, changed through the admin service (which checks the logo and the colour's contrast).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::branding::LogoChange;
use tessera_core::branding::{Branding, BrandingChange};

use super::application::said;
use super::form::{FileField, Form};
use super::pages::Frame;
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

const LOGO_FIELD: FileField = FileField {
    name: "logo",
    max_bytes: tessera_admin::portal_image::MAX_UPLOAD_BYTES,
    too_large: "The logo is larger than 1 MiB.",
};

#[derive(Template)]
#[template(path = "admin_branding.html")]
pub struct BrandingPage {
    pub frame: Frame,
    pub brand: Branding,
    /// What was typed, shown again after a refusal.
    pub organization: String,
    pub accent: String,
    pub help_url: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl BrandingPage {
    fn of(frame: Frame, brand: Branding) -> BrandingPage {
        BrandingPage {
            frame,
            organization: brand.organization.clone(),
            accent: brand.accent.clone().unwrap_or_default(),
            help_url: brand.help_url.clone().unwrap_or_default(),
            brand,
            notice: None,
            error: None,
        }
    }

    pub fn logo_url(&self) -> Option<String> {
        self.brand.logo.as_ref().map(|_| format!("/branding/logo?v={}", self.brand.updated_at))
    }
}

pub async fn show(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let brand = state.admin.branding().await?;
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| BrandingPage::of(frame, brand)))
}

pub async fn save(
    State(state): State<AppState>,
    ctx: RequestContext,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    // Who asks is settled before the body (a logo, perhaps) is read.
    administrator_or_gate!(state, ctx);
    let mut form = Form::read(&state, request, &[LOGO_FIELD]).await?;
    let (session, actor) = changing_or_gate!(state, ctx, form.fields);
    let logo = match form.take_file(LOGO_FIELD.name) {
        Some(upload) => LogoChange::Set(upload),
        None if form.fields.one("remove_logo") == "on" => LogoChange::Remove,
        None => LogoChange::Keep,
    };
    let typed = |name: &str| form.fields.one(name).to_string();
    let (organization, accent, help_url) = (typed("organization"), typed("accent"), typed("help_url"));
    let change = BrandingChange {
        organization: Some(organization.clone()),
        accent: Some(accent.clone()),
        help_url: Some(help_url.clone()),
    };
    let outcome = state.admin.set_branding(&actor, &change, logo).await;
    if outcome.is_ok() {
        // This node shows the new brand on its next page; the others within seconds.
        state.brand.forget();
    }
    let (status, notice, error) = said(outcome.map(|_| "Saved. Users see the new brand on their next page.".into()))?;
    let brand = state.admin.branding().await?;
    Ok(render(&state, &ctx, status, &session, |frame| {
        let mut page = BrandingPage::of(frame, brand);
        if error.is_some() {
            (page.organization, page.accent, page.help_url) = (organization, accent, help_url);
        }
        BrandingPage { notice, error, ..page }
    }))
}
