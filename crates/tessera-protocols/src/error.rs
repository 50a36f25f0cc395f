#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error(transparent)]
    Xml(#[from] tessera_xml::XmlError),
    #[error("SAML metadata: {0}")]
    Metadata(String),
    #[error("SAML request refused: {0}")]
    Request(String),
    /// An application's stored registration cannot be used (a fault on our side).
    #[error("{0}")]
    Registration(String),
}

impl ProtocolError {
    pub(crate) fn metadata(message: impl Into<String>) -> Self {
        ProtocolError::Metadata(message.into())
    }
}
