/// A rule of the domain was broken by the input. The field names the input at fault so that
/// the CLI and the REST API can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::Invalid { field: field.into(), message: message.into() }
    }

    pub fn field(&self) -> &str {
        match self {
            CoreError::Invalid { field, .. } => field,
        }
    }
}
