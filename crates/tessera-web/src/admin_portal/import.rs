//! Import users from a CSV file, in two steps: the upload is checked and previewed (nothing is
//! written), then the previewed file, carried in the confirmation form itself, is imported
//! (all of it or nothing). No file waits on the server between the two steps: any node can
//! take the confirmation.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::AdminError;
use tessera_core::import::MAX_IMPORT_BYTES;

use super::application::refusal;
use super::form::{FileField, Form};
use super::pages::Frame;
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

const CSV_FIELD: FileField =
    FileField { name: "file", max_bytes: MAX_IMPORT_BYTES, too_large: "The file is larger than 2 MiB: split it." };

pub struct PreviewRow {
    pub line: usize,
    pub email: String,
    pub upn: String,
    pub name: String,
    pub immutable_id: String,
    pub groups: String,
}

#[derive(Template)]
#[template(path = "admin_import.html")]
pub struct ImportPage {
    pub frame: Frame,
    /// The checked file, to be confirmed.
    pub preview: Option<Preview>,
    pub problems: Vec<String>,
    pub notice: Option<String>,
}

pub struct Preview {
    pub csv: String,
    pub rows: Vec<PreviewRow>,
    pub new_groups: String,
    pub memberships: usize,
}

pub async fn form(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| ImportPage {
        frame,
        preview: None,
        problems: Vec::new(),
        notice: None,
    }))
}

/// A new file is previewed; a confirmed one (`confirm`, with the previewed text) is imported.
pub async fn submit(
    State(state): State<AppState>,
    ctx: RequestContext,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    administrator_or_gate!(state, ctx);
    let mut form = Form::read_with_text(&state, request, &[CSV_FIELD], MAX_IMPORT_BYTES).await?;
    let (session, actor) = changing_or_gate!(state, ctx, form.fields);
    let confirmed = form.fields.one("confirm") == "yes";
    let bytes = match (confirmed, form.take_file(CSV_FIELD.name)) {
        (true, _) => form.fields.one("csv").as_bytes().to_vec(),
        (false, Some(file)) => file,
        (false, None) => {
            let problems = vec!["Choose a CSV file to import.".to_string()];
            return Ok(render(&state, &ctx, StatusCode::UNPROCESSABLE_ENTITY, &session, |frame| ImportPage {
                frame,
                preview: None,
                problems,
                notice: None,
            }));
        }
    };
    let page = match state.admin.import_users(&actor, &bytes, !confirmed).await {
        Ok(report) if report.outcome.written => {
            let mut notice = format!(
                "Imported {} users and {} group memberships.",
                report.outcome.users, report.outcome.memberships
            );
            if !report.outcome.new_groups.is_empty() {
                notice.push_str(&format!(" Created groups: {}.", report.outcome.new_groups.join(", ")));
            }
            (StatusCode::OK, None, Vec::new(), Some(notice))
        }
        Ok(report) => {
            let preview = Preview {
                // What was checked is what will be imported: the text as it was read.
                csv: String::from_utf8_lossy(&bytes).into_owned(),
                rows: report
                    .rows
                    .iter()
                    .map(|r| PreviewRow {
                        line: r.line,
                        email: r.user.email.clone(),
                        upn: r.user.upn.clone(),
                        name: format!("{} {}", r.user.first_name, r.user.last_name).trim().to_string(),
                        immutable_id: match r.generated_anchor {
                            true => "(a new random one)".to_string(),
                            false => r.user.immutable_id.clone(),
                        },
                        groups: r.groups.join(", "),
                    })
                    .collect(),
                new_groups: report.outcome.new_groups.join(", "),
                memberships: report.outcome.memberships,
            };
            (StatusCode::OK, Some(preview), Vec::new(), None)
        }
        Err(AdminError::Invalid { message, .. }) => {
            let problems = message.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
            (StatusCode::UNPROCESSABLE_ENTITY, None, problems, None)
        }
        Err(other) => {
            let (status, message) = refusal(other)?;
            (status, None, vec![message], None)
        }
    };
    let (status, preview, problems, notice) = page;
    Ok(render(&state, &ctx, status, &session, |frame| ImportPage { frame, preview, problems, notice }))
}
