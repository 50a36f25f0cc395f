//! The HTTP-Redirect binding's query (SAML bindings §3.4.4.1): its parameters, and the signature
//! that covers them exactly as they arrived, URL-encoded, in the order SAMLRequest (or
//! SAMLResponse), RelayState, SigAlg. Re-encoding would break signatures from senders that
//! encode differently (AD FS uses lowercase escapes), so the raw text is what is verified.

use tessera_xml::dsig::{AlgorithmPolicy, SignatureAlgorithm};
use tessera_xml::verify::VerifyingKey;
use tessera_xml::{XmlError, verify_detached};

use crate::percent::{self, PercentError};

/// The decoded parameters of a verified (or unsigned) Redirect-binding query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectQuery {
    /// `SAMLRequest` or `SAMLResponse`.
    pub message_name: &'static str,
    /// The message, still base64 of DEFLATE: the binding decoder's job.
    pub message: String,
    pub relay_state: Option<String>,
    /// Set when the query was signed and the signature verified.
    pub signature_algorithm: Option<SignatureAlgorithm>,
}

struct RawParams<'q> {
    message: Option<(&'static str, &'q str)>,
    relay_state: Option<&'q str>,
    sig_alg: Option<&'q str>,
    signature: Option<&'q str>,
}

fn split_query(raw: &str) -> Result<RawParams<'_>, XmlError> {
    let mut params = RawParams { message: None, relay_state: None, sig_alg: None, signature: None };
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot_taken = match name {
            "SAMLRequest" | "SAMLResponse" => {
                let name = if name == "SAMLRequest" { "SAMLRequest" } else { "SAMLResponse" };
                params.message.replace((name, value)).is_some()
            }
            "RelayState" => params.relay_state.replace(value).is_some(),
            "SigAlg" => params.sig_alg.replace(value).is_some(),
            "Signature" => params.signature.replace(value).is_some(),
            // A percent-encoded SAML parameter name would be read by other query parsers but
            // not by this one: refuse the ambiguity.
            other if other.contains('%') => {
                let decoded = url_decode(other)?;
                if ["SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature"].contains(&decoded.as_str()) {
                    return Err(XmlError::SignatureShape("a SAML query parameter name is percent-encoded"));
                }
                false
            }
            _ => false,
        };
        if slot_taken {
            return Err(XmlError::SignatureShape("a SAML query parameter appears twice"));
        }
    }
    Ok(params)
}

/// A query value, decoded; a bad escape is a malformed signature field.
fn url_decode(raw: &str) -> Result<String, XmlError> {
    percent::decode(raw).map_err(|e| match e {
        PercentError::BadEscape => XmlError::SignatureShape("bad %-escape"),
        PercentError::NotUtf8 => XmlError::NotUtf8,
    })
}

/// Reads a Redirect-binding query. With `key`, a valid signature is required; without, the
/// query must not claim one it cannot have checked.
pub fn verify_redirect_query(
    raw_query: &str,
    key: Option<&VerifyingKey>,
    policy: AlgorithmPolicy,
) -> Result<RedirectQuery, XmlError> {
    let params = split_query(raw_query)?;
    let (message_name, raw_message) =
        params.message.ok_or(XmlError::SignatureShape("neither SAMLRequest nor SAMLResponse is present"))?;
    let signature_algorithm = match (key, params.sig_alg, params.signature) {
        (Some(key), Some(sig_alg), Some(signature)) => {
            let mut signed = format!("{message_name}={raw_message}");
            if let Some(relay) = params.relay_state {
                signed.push_str("&RelayState=");
                signed.push_str(relay);
            }
            signed.push_str("&SigAlg=");
            signed.push_str(sig_alg);
            Some(verify_detached(signed.as_bytes(), &url_decode(sig_alg)?, &url_decode(signature)?, key, policy)?)
        }
        (Some(_), _, _) => return Err(XmlError::SignatureShape("the query must be signed (SigAlg and Signature)")),
        (None, None, None) => None,
        (None, _, _) => return Err(XmlError::SignatureShape("a signed query needs the sender's registered key")),
    };
    Ok(RedirectQuery {
        message_name,
        message: url_decode(raw_message)?,
        relay_state: params.relay_state.map(url_decode).transpose()?,
        signature_algorithm,
    })
}
