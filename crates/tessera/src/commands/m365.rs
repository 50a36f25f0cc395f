//! `tessera m365`: federating a domain with a Microsoft 365 connector.

use tessera_m365::{Protocol, Style};

use super::Ctx;
use crate::cli::M365Command;
use crate::output;

pub async fn run(ctx: &Ctx, cmd: M365Command) -> anyhow::Result<()> {
    match cmd {
        M365Command::Command { app, protocol, style } => {
            let (protocol, style) = (protocol.parse::<Protocol>()?, style.parse::<Style>()?);
            let (command, powershell) = ctx.admin().await?.federation_command(&app, protocol, style).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({
                    "domain": command.domain,
                    "display_name": command.display_name,
                    "issuer_uri": command.issuer_uri,
                    "passive_sign_in_uri": command.passive_sign_in_uri,
                    "active_sign_in_uri": command.active_sign_in_uri,
                    "metadata_exchange_uri": command.metadata_exchange_uri,
                    "sign_out_uri": command.sign_out_uri,
                    "signing_certificate": command.signing_certificate,
                    "next_signing_certificate": command.next_signing_certificate,
                    "powershell": powershell,
                }));
            }
            print!("{powershell}");
            Ok(())
        }
    }
}
