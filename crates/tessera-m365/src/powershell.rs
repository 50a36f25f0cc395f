//! The federation command (the seed product's "generate the PowerShell command" URL): the
//! values Entra ID needs for a domain (M365-PROTOCOLS.md §4.1), as Microsoft Graph PowerShell
//! (`New-MgDomainFederationConfiguration`) or the legacy MSOnline `Set-MsolDomainAuthentication`.
//!
//! Every value is a PowerShell single-quoted literal, so nothing in it is expanded; the
//! parameters are splatted from a hashtable, one per line, so a pasted command cannot break at
//! a line end.

use base64::Engine;
use tessera_core::{AppKind, Application};

use crate::M365Error;

/// How Entra ID sends users to Tessera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    WsFed,
    Saml,
}

impl std::str::FromStr for Protocol {
    type Err = M365Error;

    fn from_str(text: &str) -> Result<Self, M365Error> {
        match text {
            "wsfed" => Ok(Protocol::WsFed),
            "saml" => Ok(Protocol::Saml),
            other => Err(M365Error::Unknown { what: "protocol", given: other.into(), expected: "wsfed or saml" }),
        }
    }
}

/// Which PowerShell module the command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Microsoft Graph PowerShell, the supported module.
    Graph,
    /// MSOnline, retired by Microsoft in 2025; for tenants that still have it.
    MsOnline,
}

impl std::str::FromStr for Style {
    type Err = M365Error;

    fn from_str(text: &str) -> Result<Self, M365Error> {
        match text {
            "graph" => Ok(Style::Graph),
            "msonline" => Ok(Style::MsOnline),
            other => Err(M365Error::Unknown { what: "style", given: other.into(), expected: "graph or msonline" }),
        }
    }
}

/// The values of a domain's federation configuration, by their Graph names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationCommand {
    pub domain: String,
    pub display_name: String,
    pub issuer_uri: String,
    pub passive_sign_in_uri: String,
    /// WS-Trust 2005 usernamemixed for WS-Federation, the ECP endpoint for SAML.
    pub active_sign_in_uri: Option<String>,
    pub metadata_exchange_uri: String,
    pub sign_out_uri: String,
    pub signing_certificate: String,
    pub next_signing_certificate: Option<String>,
    pub protocol: Protocol,
}

impl FederationCommand {
    /// The PowerShell, ready to paste.
    pub fn render(&self, style: Style) -> Result<String, M365Error> {
        let graph = style == Style::Graph;
        // Each value under its Graph and its MSOnline parameter name, in the cmdlets' order.
        let protocol = match (self.protocol, graph) {
            (Protocol::WsFed, true) => "wsFed",
            (Protocol::Saml, true) => "saml",
            (Protocol::WsFed, false) => "WsFed",
            (Protocol::Saml, false) => "Samlp",
        };
        let fields: [(&'static str, &'static str, Option<&str>); 11] = [
            ("DomainId", "DomainName", Some(&self.domain)),
            ("", "Authentication", Some("Federated")),
            ("DisplayName", "FederationBrandName", Some(&self.display_name)),
            ("IssuerUri", "IssuerUri", Some(&self.issuer_uri)),
            ("PassiveSignInUri", "PassiveLogOnUri", Some(&self.passive_sign_in_uri)),
            ("ActiveSignInUri", "ActiveLogOnUri", self.active_sign_in_uri.as_deref()),
            ("MetadataExchangeUri", "MetadataExchangeUri", Some(&self.metadata_exchange_uri)),
            ("SignOutUri", "LogOffUri", Some(&self.sign_out_uri)),
            ("SigningCertificate", "SigningCertificate", Some(&self.signing_certificate)),
            ("NextSigningCertificate", "NextSigningCertificate", self.next_signing_certificate.as_deref()),
            ("PreferredAuthenticationProtocol", "PreferredAuthenticationProtocol", Some(protocol)),
        ];
        let mut values: Vec<(&'static str, String)> = Vec::new();
        for (graph_name, msonline_name, value) in fields {
            let name = if graph { graph_name } else { msonline_name };
            if let (false, Some(value)) = (name.is_empty(), value) {
                values.push((name, quote(name, value)?));
            }
        }
        // Tessera's MFA is honoured, so users are not asked twice (M365-PROTOCOLS.md §7.2).
        if graph {
            values
                .push(("FederatedIdpMfaBehavior", quote("FederatedIdpMfaBehavior", "acceptIfMfaDoneByFederatedIdp")?));
        } else {
            values.push(("SupportsMfa", "$true".into()));
        }
        let (header, connect, cmdlet) = if graph {
            (
                "Needs Microsoft Graph PowerShell and a\n# Domain Name, Hybrid Identity or External Identity Provider Administrator.",
                "Connect-MgGraph -Scopes 'Domain-InternalFederation.ReadWrite.All'",
                "New-MgDomainFederationConfiguration",
            )
        } else {
            (
                "Through the MSOnline module, which\n# Microsoft retired in 2025: prefer --style graph where it still works.",
                "Connect-MsolService",
                "Set-MsolDomainAuthentication",
            )
        };
        Ok(format!(
            "# Federates {domain} with Tessera ({protocol}). {header}\n{connect}\n$federation = @{{\n{body}}}\n{cmdlet} @federation\n",
            domain = comment_safe(&self.domain),
            protocol = self.protocol_name(),
            body = hashtable(&values),
        ))
    }

    fn protocol_name(&self) -> &'static str {
        match self.protocol {
            Protocol::WsFed => "WS-Federation",
            Protocol::Saml => "SAML 2.0",
        }
    }
}

/// The federation values of a connector, with the endpoints of `public_url`.
pub fn federation_command(
    app: &Application,
    public_url: &str,
    protocol: Protocol,
) -> Result<FederationCommand, M365Error> {
    let AppKind::M365(config) = &app.kind else { return Err(M365Error::NotM365(app.label.clone())) };
    let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let current = app.certificates.current.as_deref().ok_or_else(|| M365Error::NoCertificate(app.label.clone()))?;
    let endpoints = app.endpoints(public_url);
    let missing = || M365Error::NotM365(app.label.clone());
    let (passive, sign_out, active) = match protocol {
        Protocol::WsFed => {
            let passive = endpoints.wsfed_passive.clone().ok_or_else(missing)?;
            (passive.clone(), passive, Some(endpoints.wstrust_2005_usernamemixed.clone().ok_or_else(missing)?))
        }
        Protocol::Saml => (
            endpoints.saml_sso.clone().ok_or_else(missing)?,
            endpoints.saml_slo.clone().ok_or_else(missing)?,
            Some(endpoints.saml_ecp.clone().ok_or_else(missing)?),
        ),
    };
    Ok(FederationCommand {
        domain: config.domain.clone(),
        display_name: app.label.clone(),
        issuer_uri: app.issuer.clone().ok_or_else(missing)?,
        passive_sign_in_uri: passive,
        active_sign_in_uri: active,
        metadata_exchange_uri: endpoints.wstrust_mex.clone().ok_or_else(missing)?,
        sign_out_uri: sign_out,
        signing_certificate: b64(current),
        next_signing_certificate: app.certificates.next.as_deref().map(b64),
        protocol,
    })
}

/// A PowerShell single-quoted literal. Inside one, only a quote is special, and PowerShell
/// takes the typographic single quotes (U+2018..U+201B) as quotes too: each is doubled.
fn quote(name: &'static str, value: &str) -> Result<String, M365Error> {
    if value.chars().any(char::is_control) {
        return Err(M365Error::ControlCharacter(name));
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    Ok(out)
}

/// A domain in a comment line: domains are validated, but a comment must never end early.
fn comment_safe(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

fn hashtable(values: &[(&'static str, String)]) -> String {
    values.iter().map(|(name, value)| format!("    {name} = {value}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> FederationCommand {
        FederationCommand {
            domain: "contoso.com".into(),
            display_name: "Contoso's M365 ‘east’".into(),
            issuer_uri: "https://idp.contoso.com/m365/contoso.com".into(),
            passive_sign_in_uri: "https://idp.contoso.com/m365/contoso.com/wsfed".into(),
            active_sign_in_uri: Some(
                "https://idp.contoso.com/m365/contoso.com/adfs/services/trust/2005/usernamemixed".into(),
            ),
            metadata_exchange_uri: "https://idp.contoso.com/m365/contoso.com/adfs/services/trust/mex".into(),
            sign_out_uri: "https://idp.contoso.com/m365/contoso.com/wsfed".into(),
            signing_certificate: "MIIC+/==".into(),
            next_signing_certificate: None,
            protocol: Protocol::WsFed,
        }
    }

    #[test]
    fn graph_command_quotes_every_value() {
        let text = command().render(Style::Graph).unwrap();
        assert!(text.contains("    DisplayName = 'Contoso''s M365 ‘‘east’’'\n"), "{text}");
        assert!(text.contains("    PreferredAuthenticationProtocol = 'wsFed'\n"));
        assert!(text.contains("    FederatedIdpMfaBehavior = 'acceptIfMfaDoneByFederatedIdp'\n"));
        assert!(text.contains("New-MgDomainFederationConfiguration @federation"));
        assert!(!text.contains("NextSigningCertificate"));
    }

    #[test]
    fn msonline_command_uses_the_legacy_names() {
        let mut saml = command();
        saml.protocol = Protocol::Saml;
        saml.active_sign_in_uri = Some("https://idp.contoso.com/m365/contoso.com/saml/ecp".into());
        let text = saml.render(Style::MsOnline).unwrap();
        assert!(text.contains("    PreferredAuthenticationProtocol = 'Samlp'\n"));
        assert!(text.contains("    SupportsMfa = $true\n"));
        assert!(text.contains("    LogOffUri = "));
        assert!(text.contains("    ActiveLogOnUri = 'https://idp.contoso.com/m365/contoso.com/saml/ecp'\n"), "{text}");
    }

    #[test]
    fn control_characters_and_unknown_choices_are_refused() {
        let mut bad = command();
        bad.display_name = "M365\n'; Remove-Item".into();
        assert_eq!(bad.render(Style::Graph), Err(M365Error::ControlCharacter("DisplayName")));
        assert!("ftp".parse::<Protocol>().is_err());
        assert!("azuread".parse::<Style>().is_err());
    }
}
