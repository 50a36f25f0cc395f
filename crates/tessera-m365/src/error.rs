/// What can go wrong with Microsoft 365: each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum M365Error {
    #[error("{0} is not a Microsoft 365 connector; only a connector federates a domain")]
    NotM365(String),
    #[error("{0} has no signing certificate; run `tessera app cert rotate` first")]
    NoCertificate(String),
    #[error("the value of {0} contains a control character, which a PowerShell command cannot carry")]
    ControlCharacter(&'static str),
    #[error("unknown {what} {given:?}: use {expected}")]
    Unknown { what: &'static str, given: String, expected: &'static str },
    /// A setting of the Graph client (URL, tenant) is wrong.
    #[error("{0}")]
    Config(String),
    /// The secret or certificate cannot be used as given.
    #[error("{0}")]
    Credential(String),
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// Entra refused the token request, or Graph the token.
    #[error("{0}")]
    Token(String),
    /// The app lacks a Graph permission; the message names it.
    #[error("{0}")]
    Permission(String),
    #[error("{0}")]
    NotFound(String),
    /// Graph refused a request (a 4xx): nothing was written.
    #[error("{0}")]
    Rejected(String),
    /// Graph failed (a 5xx, or an answer that is not what was asked): a write may have happened.
    #[error("{0}")]
    Graph(String),
    /// A check before any write failed, or the command would need `--take-over`.
    #[error("{0}")]
    Refused(String),
}
