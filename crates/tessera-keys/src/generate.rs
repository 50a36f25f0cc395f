//! RSA key generation (aws-lc-rs, through rcgen) and the self-signed certificate Entra and
//! service providers pin.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_RSA_SHA256, RsaKeySize, SerialNumber};

use tessera_core::UnixMillis;

use crate::KeyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeySize {
    #[default]
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeySize {
    pub fn bits(self) -> u32 {
        match self {
            KeySize::Rsa2048 => 2048,
            KeySize::Rsa3072 => 3072,
            KeySize::Rsa4096 => 4096,
        }
    }

    pub fn from_bits(bits: u32) -> Result<Self, KeyError> {
        match bits {
            2048 => Ok(KeySize::Rsa2048),
            3072 => Ok(KeySize::Rsa3072),
            4096 => Ok(KeySize::Rsa4096),
            other => Err(KeyError::Invalid(format!("RSA key size {other} is not offered: use 2048, 3072 or 4096"))),
        }
    }

    fn rcgen(self) -> RsaKeySize {
        match self {
            KeySize::Rsa2048 => RsaKeySize::_2048,
            KeySize::Rsa3072 => RsaKeySize::_3072,
            KeySize::Rsa4096 => RsaKeySize::_4096,
        }
    }
}

/// A new key: its PKCS#8 DER (secret: seal it before it goes anywhere) and certificate.
pub struct GeneratedKey {
    pub pkcs8: Vec<u8>,
    pub certificate_der: Vec<u8>,
    pub not_after_millis: i64,
}

pub const MAX_VALIDITY_DAYS: u32 = 20 * 365;

/// Generates an RSA key and a self-signed certificate whose subject names the application,
/// valid from a minute before `now` (clock skew) for `validity_days`.
pub fn generate_key(
    size: KeySize,
    subject: &str,
    validity_days: u32,
    now: UnixMillis,
) -> Result<GeneratedKey, KeyError> {
    if validity_days == 0 || validity_days > MAX_VALIDITY_DAYS {
        return Err(KeyError::Invalid(format!("certificate validity must be 1 to {MAX_VALIDITY_DAYS} days")));
    }
    let key =
        KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size.rcgen()).map_err(|e| KeyError::Generation(e.to_string()))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| KeyError::Generation(e.to_string()))?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, subject_common_name(subject));
    name.push(DnType::OrganizationName, "Tessera");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now) * 1_000_000)
        .map_err(|e| KeyError::Generation(format!("the clock reads an impossible time: {e}")))?;
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::days(i64::from(validity_days));
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| KeyError::Generation("random source failed".into()))?;
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let certificate = params.self_signed(&key).map_err(|e| KeyError::Generation(e.to_string()))?;
    Ok(GeneratedKey {
        pkcs8: key.serialize_der(),
        certificate_der: certificate.der().to_vec(),
        not_after_millis: (params.not_after.unix_timestamp_nanos() / 1_000_000) as i64,
    })
}

/// X.509 limits a common name to 64 characters.
fn subject_common_name(subject: &str) -> String {
    let cleaned: String = subject.chars().filter(|c| !c.is_control()).collect();
    let mut name: String = format!("Tessera {cleaned}").chars().take(64).collect();
    if name.trim().is_empty() {
        name = "Tessera".into();
    }
    name
}

/// Hex SHA-256 of a certificate: the thumbprint admins compare.
/// When a DER certificate stops being valid (Unix milliseconds), or `None` if it cannot be read.
pub fn certificate_not_after(der: &[u8]) -> Option<i64> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(certificate.validity().not_after.timestamp().saturating_mul(1000))
}

pub fn certificate_thumbprint_sha256(der: &[u8]) -> String {
    tessera_core::lower_hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_parseable_rsa_certificate_naming_the_app() {
        let now = 1_800_000_000_000;
        let key = generate_key(KeySize::Rsa2048, "Microsoft 365 (contoso.com)", 1095, now).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&key.certificate_der).unwrap();
        assert!(cert.subject().to_string().contains("Microsoft 365 (contoso.com)"));
        assert_eq!(cert.public_key().algorithm.algorithm, x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION);
        let days = (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86_400;
        assert_eq!(days, 1095);
        assert_eq!(cert.validity().not_before.timestamp(), now / 1000 - 60, "valid from a minute before the clock");
        assert_eq!(key.not_after_millis, now + 1095 * 86_400_000);
        // The key signs, and the certificate's key verifies it.
        let signer = tessera_xml::RsaSigner::from_pkcs8(&key.pkcs8, key.certificate_der.clone()).unwrap();
        use tessera_xml::Signer;
        let signature = signer.sign(b"m").unwrap();
        assert_eq!(signature.len(), 256);
    }

    #[test]
    fn refuses_odd_sizes_and_validities() {
        assert!(KeySize::from_bits(1024).is_err());
        assert!(generate_key(KeySize::Rsa2048, "x", 0, 0).is_err());
        assert!(generate_key(KeySize::Rsa2048, "x", MAX_VALIDITY_DAYS + 1, 0).is_err());
    }
}
