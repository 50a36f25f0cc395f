//! How Tessera proves itself to Entra ID for an app-only Graph token (M365-PROTOCOLS.md §4.7):
//! a client secret, or a certificate whose key signs a `client_assertion` (an RS256 JWT naming
//! the certificate by its SHA-256 thumbprint, `x5t#S256`), which Microsoft recommends over
//! secrets.

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest;

use crate::M365Error;

/// The app registration's credential, or an administrator who signs in on another device.
pub enum Credential {
    Secret {
        client_id: String,
        secret: String,
    },
    Certificate {
        client_id: String,
        certificate: Vec<u8>,
        key: RsaKeyPair,
    },
    /// A delegated token by the device-code flow: `show` tells the administrator where to go
    /// and which code to enter.
    DeviceCode {
        client_id: String,
        show: Box<dyn Fn(&str) + Send + Sync>,
    },
}

/// Microsoft Graph Command Line Tools, the public client Microsoft's own Graph PowerShell
/// signs in with: the device-code sign-in's client unless another is given.
pub const GRAPH_COMMAND_LINE_TOOLS: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// The permissions the commands need, asked for as delegated scopes by a device-code sign-in.
pub const PERMISSIONS: [&str; 6] = [
    "Domain.Read.All",
    "Domain-InternalFederation.ReadWrite.All",
    "Organization.Read.All",
    "Policy.Read.All",
    "RoleManagement.Read.Directory",
    "User.ReadWrite.All",
];

/// The delegated scopes of a device-code sign-in, for the Graph at `graph_base` (a national
/// cloud's Graph has its own resource).
pub fn delegated_scopes(graph_base: &str) -> String {
    PERMISSIONS.iter().map(|p| format!("{graph_base}/{p}")).collect::<Vec<_>>().join(" ")
}

impl std::fmt::Debug for Credential {
    // Never the secret or the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret { client_id, .. } => write!(f, "Secret {{ client_id: {client_id:?} }}"),
            Credential::Certificate { client_id, .. } => write!(f, "Certificate {{ client_id: {client_id:?} }}"),
            Credential::DeviceCode { client_id, .. } => write!(f, "DeviceCode {{ client_id: {client_id:?} }}"),
        }
    }
}

impl Credential {
    pub fn secret(client_id: &str, secret: &str) -> Result<Self, M365Error> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(M365Error::Credential("the client secret is empty".into()));
        }
        Ok(Credential::Secret { client_id: client_id.trim().to_string(), secret: secret.to_string() })
    }

    /// From one PEM holding the certificate and its RSA private key (PKCS#8 or PKCS#1).
    pub fn certificate(client_id: &str, pem: &[u8]) -> Result<Self, M365Error> {
        let certificate = CertificateDer::pem_slice_iter(pem)
            .next()
            .ok_or_else(|| M365Error::Credential("the certificate file holds no CERTIFICATE".into()))?
            .map_err(|e| M365Error::Credential(format!("the certificate file cannot be read: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|_| M365Error::Credential("the certificate file holds no private key".into()))?;
        let key = match key {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err(M365Error::Credential("the private key must be RSA (PKCS#8 or PKCS#1)".into())),
        }
        .map_err(|e| M365Error::Credential(format!("the private key cannot be used: {e}")))?;
        // The certificate's public key is the key pair's (its PKCS#1 form sits inside the
        // certificate's SubjectPublicKeyInfo): a mismatched file is refused here, not as a
        // refused assertion later.
        let public = aws_lc_rs::signature::KeyPair::public_key(&key).as_ref();
        if !certificate.as_ref().windows(public.len()).any(|w| w == public) {
            return Err(M365Error::Credential("the private key is not the certificate's".into()));
        }
        Ok(Credential::Certificate { client_id: client_id.trim().to_string(), certificate: certificate.to_vec(), key })
    }

    pub fn client_id(&self) -> &str {
        match self {
            Credential::Secret { client_id, .. }
            | Credential::Certificate { client_id, .. }
            | Credential::DeviceCode { client_id, .. } => client_id,
        }
    }

    /// The form of a client-credentials token request to `token_url` at `now` (seconds), for
    /// the Graph at `graph_base`.
    pub fn token_form(
        &self,
        token_url: &str,
        graph_base: &str,
        now: i64,
        jti: &str,
    ) -> Result<Vec<(&'static str, String)>, M365Error> {
        let mut form = vec![
            ("client_id", self.client_id().to_string()),
            ("scope", format!("{graph_base}/.default")),
            ("grant_type", "client_credentials".to_string()),
        ];
        match self {
            Credential::Secret { secret, .. } => form.push(("client_secret", secret.clone())),
            Credential::Certificate { client_id, certificate, key } => {
                form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
                form.push(("client_assertion", assertion(client_id, certificate, key, token_url, now, jti)?));
            }
            Credential::DeviceCode { .. } => {
                return Err(M365Error::Credential("a device-code sign-in has no client-credentials form".into()));
            }
        }
        Ok(form)
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The signed JWT that stands for a secret: issued by and about the client, for the token
/// endpoint, valid ten minutes, once (`jti`).
fn assertion(
    client_id: &str,
    certificate: &[u8],
    key: &RsaKeyPair,
    audience: &str,
    now: i64,
    jti: &str,
) -> Result<String, M365Error> {
    let header =
        serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t#S256": b64url(&sha2::Sha256::digest(certificate))});
    let claims = serde_json::json!({
        "aud": audience, "iss": client_id, "sub": client_id, "jti": jti,
        "nbf": now, "iat": now, "exp": now + 600,
    });
    let signing_input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), signing_input.as_bytes(), &mut signature)
        .map_err(|_| M365Error::Credential("the client assertion could not be signed".into()))?;
    Ok(format!("{signing_input}.{}", b64url(&signature)))
}
