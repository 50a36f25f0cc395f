// Submits the one protocol form on the page (a SAML or WS-Federation answer to its registered
// relying party). Without JavaScript the page shows a Continue button instead.
document.getElementById("tessera-post").submit();
