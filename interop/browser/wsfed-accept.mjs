// passport-wsfed-saml2's verdict, from the command line, on a SAML 1.1 token that did not come
// through a browser (a WS-Trust token, say): the token is posted to it as a WS-Federation
// relying party for Microsoft 365 would receive it, inside a wresult.
//
//   node interop/browser/wsfed-accept.mjs TOKEN_FILE CERTIFICATE_BASE64
//
// Prints the profile it accepted as JSON, or exits 1 with its reason.

import { readFileSync } from 'node:fs';
import { passportAccepts } from './harness.mjs';

const [tokenFile, certificate] = process.argv.slice(2);
const token = readFileSync(tokenFile, 'utf8');
const wresult =
  '<t:RequestSecurityTokenResponse xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust">' +
  `<t:RequestedSecurityToken>${token}</t:RequestedSecurityToken></t:RequestSecurityTokenResponse>`;
try {
  const profile = await passportAccepts({ wa: 'wsignin1.0', wresult }, certificate);
  console.log(JSON.stringify(profile));
} catch (error) {
  console.error(String(error));
  process.exit(1);
}
