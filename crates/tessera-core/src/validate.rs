//! Input rules shared by every front-end. Each returns the value to store (trimmed, with the
//! parts that are case-insensitive lowercased) or an error naming the field.

use crate::CoreError;

const MAX_EMAIL: usize = 254;
const MAX_LOCAL_PART: usize = 64;
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 128;
const MAX_DESCRIPTION: usize = 1024;
const MAX_PERSON_NAME: usize = 64;
/// Entra: an ImmutableID is "fewer than 60 characters".
const MAX_IMMUTABLE_ID: usize = 59;
const MAX_URL: usize = 2048;

/// Tenant initial domains: Entra cannot federate them (M365-PROTOCOLS.md §1.8). The `.us` and
/// `.cn` forms are the sovereign-cloud equivalents.
const INITIAL_DOMAIN_SUFFIXES: [&str; 3] = ["onmicrosoft.com", "onmicrosoft.us", "onmschina.cn"];

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A DNS domain in ASCII (punycode) form, lowercased.
pub fn domain(field: &str, text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    let bad = |why: &str| Err(CoreError::invalid(field, format!("{text:?} is not a domain name: {why}")));
    if text.is_empty() {
        return bad("it is empty");
    }
    if !text.is_ascii() {
        return bad("use its ASCII (xn--) form");
    }
    if text.len() > MAX_DOMAIN {
        return bad("longer than 253 characters");
    }
    let lower = text.to_ascii_lowercase();
    let labels: Vec<&str> = lower.split('.').collect();
    if labels.len() < 2 {
        return bad("it needs at least two labels, like example.com");
    }
    for label in &labels {
        if label.is_empty() {
            return bad("it has an empty label");
        }
        if label.len() > 63 {
            return bad("a label is longer than 63 characters");
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return bad("only letters, digits, hyphens and dots are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with a hyphen");
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return bad("the top-level label is numeric");
    }
    Ok(lower)
}

/// A domain that Entra ID can federate: a valid domain that is not the tenant's initial domain.
pub fn federatable_domain(field: &str, text: &str) -> Result<String, CoreError> {
    let domain = domain(field, text)?;
    for suffix in INITIAL_DOMAIN_SUFFIXES {
        if domain == suffix || domain.ends_with(&format!(".{suffix}")) {
            return Err(CoreError::invalid(
                field,
                format!(
                    "{domain} is a tenant's initial domain (*.{suffix}), which Entra ID cannot \
                     federate; add and verify a custom domain in the tenant and use that"
                ),
            ));
        }
    }
    Ok(domain)
}

/// An email address or UPN: `local@domain`, ASCII, the domain lowercased.
pub fn email(field: &str, text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    let bad = |why: &str| Err(CoreError::invalid(field, format!("{text:?} is not an email address: {why}")));
    if text.len() > MAX_EMAIL {
        return bad("longer than 254 characters");
    }
    if !text.is_ascii() {
        return bad("only ASCII addresses are supported");
    }
    let Some((local, domain_part)) = text.rsplit_once('@') else {
        return bad("it has no @");
    };
    if local.is_empty() || local.len() > MAX_LOCAL_PART {
        return bad("the part before @ must be 1 to 64 characters");
    }
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b);
    if !local.bytes().all(atext) {
        return bad("the part before @ has a character that is not allowed");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return bad("the part before @ has a misplaced dot");
    }
    let domain = domain(field, domain_part)
        .map_err(|_| CoreError::invalid(field, format!("{text:?} is not an email address: the domain is not valid")))?;
    Ok(format!("{local}@{domain}"))
}

/// A display label or group name: non-empty, at most 128 characters, no control characters.
pub fn label(field: &str, text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if text.chars().count() > MAX_LABEL {
        return Err(CoreError::invalid(field, "longer than 128 characters"));
    }
    if has_control(text) {
        return Err(CoreError::invalid(field, "contains control characters"));
    }
    Ok(text.to_string())
}

pub fn description(text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(CoreError::invalid("description", "longer than 1024 characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(CoreError::invalid("description", "contains control characters"));
    }
    Ok(text.to_string())
}

pub fn person_name(field: &str, text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    if text.chars().count() > MAX_PERSON_NAME {
        return Err(CoreError::invalid(field, "longer than 64 characters"));
    }
    if has_control(text) {
        return Err(CoreError::invalid(field, "contains control characters"));
    }
    Ok(text.to_string())
}

/// An Entra ImmutableID (sourceAnchor): printable ASCII, fewer than 60 characters, without the
/// `$` and `_` that Graph refuses in onPremisesImmutableId. Case-sensitive, so kept as given.
pub fn immutable_id(text: &str) -> Result<String, CoreError> {
    let bad = |why: &str| Err(CoreError::invalid("immutable_id", format!("{text:?}: {why}")));
    if text.is_empty() {
        return bad("must not be empty");
    }
    if text.len() > MAX_IMMUTABLE_ID {
        return bad("must be fewer than 60 characters");
    }
    if !text.bytes().all(|b| b.is_ascii_graphic() && b != b'$' && b != b'_') {
        return bad("only printable ASCII without spaces, $ or _ is allowed");
    }
    Ok(text.to_string())
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// An endpoint Tessera will send tokens or users to (ACS, SLO): https, or http on a loopback
/// host for development. Returned as given (trimmed): requests are matched against it exactly.
pub fn endpoint_url(field: &str, text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    let bad = |why: &str| Err(CoreError::invalid(field, format!("{text:?}: {why}")));
    if text.len() > MAX_URL {
        return bad("longer than 2048 characters");
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("contains spaces or control characters");
    }
    let Ok(url) = url::Url::parse(text) else {
        return bad("not an absolute URL");
    };
    let Some(host) = url.host() else {
        return bad("has no host");
    };
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&host) => {}
        "http" => return bad("must use https (http is allowed only for localhost and 127.0.0.1)"),
        other => return bad(&format!("scheme {other:?} is not allowed; use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("must not contain a user name or password");
    }
    if url.fragment().is_some() {
        return bad("must not contain a fragment");
    }
    Ok(text.to_string())
}

/// A bookmark target: an http or https URL a browser opens.
pub fn bookmark_url(text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    let bad = |why: &str| Err(CoreError::invalid("url", format!("{text:?}: {why}")));
    if text.len() > MAX_URL || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("must be at most 2048 characters without spaces");
    }
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {
            if !url.username().is_empty() || url.password().is_some() {
                return bad("must not contain a user name or password");
            }
            Ok(text.to_string())
        }
        Ok(_) => bad("must be an http or https URL"),
        Err(_) => bad("not an absolute URL"),
    }
}

/// The public URL every endpoint is built from: http(s), a host, no query or fragment. The
/// trailing slash is dropped so that paths can be appended.
pub fn public_url(text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    let bad = |why: &str| Err(CoreError::invalid("public_url", format!("{text:?}: {why}")));
    let Ok(url) = url::Url::parse(text) else {
        return bad("not an absolute URL");
    };
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return bad("must be an http or https URL with a host");
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return bad("must not have a query, fragment or user name");
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The host name of a public URL, which names the Kerberos service (`HTTP/<host>`); an
/// address is refused (Kerberos names services by host name).
pub fn kerberos_host(public_url: &str) -> Result<String, CoreError> {
    let bad = |why: String| Err(CoreError::invalid("public_url", why));
    match url::Url::parse(public_url).ok().as_ref().and_then(url::Url::host) {
        Some(url::Host::Domain(host)) => Ok(host.to_ascii_lowercase()),
        Some(other) => bad(format!(
            "Windows integrated sign-in needs a public URL with a host name (Kerberos names the service HTTP/<host>), not {other}"
        )),
        None => bad(format!("{public_url:?} is not a URL with a host")),
    }
}

/// A Kerberos realm as Active Directory names one (its DNS domain, upper case): labels of
/// `A-Z 0-9 -` joined by dots, up to 255 characters; given in any case.
pub fn kerberos_realm(field: &str, text: &str) -> Result<String, CoreError> {
    let realm = text.trim().to_ascii_uppercase();
    let labels_ok = realm.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    });
    if !realm.is_empty() && realm.len() <= 255 && labels_ok {
        Ok(realm)
    } else {
        Err(CoreError::invalid(field, format!("{text:?} is not a Kerberos realm such as CORP.CONTOSO.COM")))
    }
}

/// A URL path segment an admin chooses (the M365 connector's "IdP URL"): 1 to 63 of
/// `a-z 0-9 . - _`, starting with a letter or digit, so it never needs escaping.
pub fn path_segment(field: &str, text: &str) -> Result<String, CoreError> {
    let text = text.trim().to_ascii_lowercase();
    let ok = !text.is_empty()
        && text.len() <= 63
        && text.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(text)
    } else {
        Err(CoreError::invalid(
            field,
            format!("{text:?}: use 1 to 63 of a-z, 0-9, '.', '-', '_', starting with a letter or digit"),
        ))
    }
}

/// Base64 of an X.509 certificate's DER.
pub fn certificate_base64(field: &str, text: &str) -> Result<(), CoreError> {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| CoreError::invalid(field, "is not base64"))?;
    x509_parser::parse_x509_certificate(&der)
        .map(|_| ())
        .map_err(|_| CoreError::invalid(field, "is not an X.509 certificate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kerberos_realm_is_an_upper_case_dns_domain() {
        assert_eq!(kerberos_realm("r", " corp.Contoso.com ").unwrap(), "CORP.CONTOSO.COM");
        assert_eq!(kerberos_realm("r", "CORP").unwrap(), "CORP");
        for bad in ["", "CORP..TEST", ".CORP", "CORP.", "-CORP.TEST", "CORP_TEST", "CORP TEST", "CORP/TEST", "CÖRP"] {
            assert!(kerberos_realm("r", bad).is_err(), "{bad:?}");
        }
        assert!(kerberos_realm("r", &"A".repeat(64)).is_err());
    }

    #[test]
    fn domains() {
        assert_eq!(domain("d", " Contoso.COM ").as_deref(), Ok("contoso.com"));
        for bad in
            ["", "contoso", "-a.com", "a-.com", "a..com", "a.com.", "exa mple.com", "bücher.de", "a.123", "a_b.com"]
        {
            assert!(domain("d", bad).is_err(), "{bad}");
        }
        assert!(domain("d", &format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn initial_domains_refused_with_reason() {
        let err = federatable_domain("domain", "contoso.onmicrosoft.com").unwrap_err();
        assert!(err.to_string().contains("initial domain"), "{err}");
        assert!(federatable_domain("domain", "CONTOSO.OnMicrosoft.com").is_err());
        assert!(federatable_domain("domain", "contoso.onmicrosoft.us").is_err());
        assert!(federatable_domain("domain", "notonmicrosoft.com").is_ok());
    }

    #[test]
    fn emails() {
        assert_eq!(email("e", "Alice.B@Contoso.com").as_deref(), Ok("Alice.B@contoso.com"));
        for bad in ["alice", "@contoso.com", "alice@", "a..b@c.com", ".a@c.com", "a b@c.com", "a@b@c", "ä@c.com", "a@c"]
        {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoint_urls() {
        assert!(endpoint_url("acs", "https://sp.example.com/acs").is_ok());
        assert!(endpoint_url("acs", "http://localhost:8000/acs").is_ok());
        assert!(endpoint_url("acs", "http://127.0.0.1/acs").is_ok());
        for bad in [
            "http://sp.example.com/acs",
            "javascript:alert(1)",
            "data:text/html,x",
            "https://user@sp.example.com/acs",
            "https://sp.example.com/acs#x",
            "/acs",
            "ftp://sp.example.com/",
        ] {
            assert!(endpoint_url("acs", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn immutable_ids() {
        assert!(immutable_id("Ah2J42BsPUOBoUcsCYn7vA==").is_ok());
        for bad in ["", "a b", "a$b", "a_b", &"x".repeat(60)] {
            assert!(immutable_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_urls() {
        assert_eq!(public_url("https://idp.example.com/").as_deref(), Ok("https://idp.example.com"));
        assert_eq!(public_url("https://x.example/idp/").as_deref(), Ok("https://x.example/idp"));
        assert!(public_url("ftp://x").is_err());
        assert!(public_url("https://x.example/?a=b").is_err());
    }
}
