//! XML-DSig names and the algorithm allow-list, as types: an algorithm URI that is not listed
//! here (exactly, without surrounding whitespace) cannot be represented, so cannot be used.

pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// What inbound signatures may use. SHA-1 only where the caller opts in (Entra signs its
/// optional signed AuthnRequests with RSA-SHA1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    pub allow_sha1: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    RsaSha256,
    RsaSha1,
}

impl SignatureAlgorithm {
    pub fn uri(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha256 => RSA_SHA256,
            SignatureAlgorithm::RsaSha1 => RSA_SHA1,
        }
    }

    pub fn from_uri(uri: &str, policy: AlgorithmPolicy) -> Option<Self> {
        match uri {
            RSA_SHA256 => Some(SignatureAlgorithm::RsaSha256),
            RSA_SHA1 if policy.allow_sha1 => Some(SignatureAlgorithm::RsaSha1),
            _ => None,
        }
    }

    pub(crate) fn verification(self) -> &'static aws_lc_rs::signature::RsaParameters {
        match self {
            SignatureAlgorithm::RsaSha256 => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            SignatureAlgorithm::RsaSha1 => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Sha256,
    Sha1,
}

impl DigestAlgorithm {
    pub fn uri(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => SHA256,
            DigestAlgorithm::Sha1 => SHA1,
        }
    }

    pub fn from_uri(uri: &str, policy: AlgorithmPolicy) -> Option<Self> {
        match uri {
            SHA256 => Some(DigestAlgorithm::Sha256),
            SHA1 if policy.allow_sha1 => Some(DigestAlgorithm::Sha1),
            _ => None,
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let algorithm = match self {
            DigestAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
            DigestAlgorithm::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        };
        aws_lc_rs::digest::digest(algorithm, data).as_ref().to_vec()
    }
}

/// The canonicalization a signature may name: exclusive c14n, with or without comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanonicalizationAlgorithm {
    Exclusive,
    ExclusiveWithComments,
}

impl CanonicalizationAlgorithm {
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            crate::c14n::EXC_C14N => Some(CanonicalizationAlgorithm::Exclusive),
            crate::c14n::EXC_C14N_WITH_COMMENTS => Some(CanonicalizationAlgorithm::ExclusiveWithComments),
            _ => None,
        }
    }
}
