//! The portal's forms as they arrive: URL-encoded, or `multipart/form-data` where a form carries
//! a file (SP metadata, a User Portal Image). Each file has its own cap, enforced while it is
//! read; text fields are small.

use axum::extract::{FromRequest, Multipart};
use axum::http::{StatusCode, header};
use tessera_protocols::percent::decode_query;

use crate::error::AppError;
use crate::state::AppState;

/// The largest body of a form that carries files: a metadata file and an image, each at most
/// 1 MiB, and the text fields.
pub const MAX_FORM_BYTES: usize = 3 * 1024 * 1024;
/// The largest body of every other form of the portal.
pub const MAX_TEXT_FORM_BYTES: usize = 64 * 1024;
/// The largest text field of a multipart form.
const MAX_TEXT_FIELD: usize = 64 * 1024;

/// A form post of the portal, decoded (repeated names kept, in order).
pub struct Fields(pub Vec<(String, String)>);

fn unreadable() -> AppError {
    AppError::refused(StatusCode::BAD_REQUEST, "malformed_form", "Request refused", "The form could not be read.")
}

impl Fields {
    pub fn parse(body: &str) -> Result<Fields, AppError> {
        decode_query(body).map(Fields).map_err(|_| unreadable())
    }

    pub fn one(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }

    /// Whether the form carried the field at all (an empty one included).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// A file field a form takes: its name, its cap, and what to say when it is over.
pub struct FileField {
    pub name: &'static str,
    pub max_bytes: usize,
    pub too_large: &'static str,
}

/// A form with its files (an empty file input sends an empty file: it counts as none).
pub struct Form {
    pub fields: Fields,
    files: Vec<(&'static str, Vec<u8>)>,
}

impl Form {
    /// Reads a form, URL-encoded or multipart; `files` are the file fields it may carry (any
    /// other file is refused).
    pub async fn read(
        state: &AppState,
        request: axum::extract::Request,
        files: &[FileField],
    ) -> Result<Form, AppError> {
        Form::read_with_text(state, request, files, MAX_TEXT_FIELD).await
    }

    /// As [`Form::read`], with text fields of up to `max_text` bytes (a previewed file sent
    /// back for confirmation).
    pub async fn read_with_text(
        state: &AppState,
        request: axum::extract::Request,
        files: &[FileField],
        max_text: usize,
    ) -> Result<Form, AppError> {
        let multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            let body = String::from_request(request, state).await.map_err(|_| unreadable())?;
            return Ok(Form { fields: Fields::parse(&body)?, files: Vec::new() });
        }
        let mut multipart = Multipart::from_request(request, state).await.map_err(|_| unreadable())?;
        let (mut pairs, mut read) = (Vec::new(), Vec::new());
        while let Some(mut field) = multipart.next_field().await.map_err(|_| unreadable())? {
            let name = field.name().unwrap_or_default().to_string();
            if field.file_name().is_none() {
                let value = field.text().await.map_err(|_| unreadable())?;
                if value.len() > max_text {
                    return Err(unreadable());
                }
                pairs.push((name, value));
                continue;
            }
            let Some(spec) = files.iter().find(|f| f.name == name) else { return Err(unreadable()) };
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|_| unreadable())? {
                if bytes.len() + chunk.len() > spec.max_bytes {
                    return Err(AppError::invalid(spec.name, spec.too_large));
                }
                bytes.extend_from_slice(&chunk);
            }
            if !bytes.is_empty() {
                read.push((spec.name, bytes));
            }
        }
        Ok(Form { fields: Fields(pairs), files: read })
    }

    /// The file sent under `name`, if one was.
    pub fn take_file(&mut self, name: &str) -> Option<Vec<u8>> {
        let at = self.files.iter().position(|(n, _)| *n == name)?;
        Some(self.files.swap_remove(at).1)
    }
}
