// The passkey pages: hand the server's options to the browser's authenticator
// (navigator.credentials.create to enrol, .get to sign in) and post its answer back in the
// form. The options come in the page itself (data-options), so no request leaves but the form's.
(function () {
  var form = document.getElementById("passkey-form");
  var holder = document.getElementById("passkey-options");
  var failed = document.getElementById("passkey-error");
  if (!form || !holder) { return; }
  var signIn = holder.getAttribute("data-ceremony") === "get";
  function bytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }
  function text(buffer) {
    if (!buffer) { return null; }
    var raw = "";
    new Uint8Array(buffer).forEach(function (b) { raw += String.fromCharCode(b); });
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function enrolled(credential) {
    var response = credential.response;
    return {
      attestationObject: text(response.attestationObject),
      clientDataJSON: text(response.clientDataJSON),
      transports: response.getTransports ? response.getTransports() : []
    };
  }
  function signed(credential) {
    var response = credential.response;
    return {
      authenticatorData: text(response.authenticatorData),
      clientDataJSON: text(response.clientDataJSON),
      signature: text(response.signature),
      userHandle: text(response.userHandle)
    };
  }
  form.addEventListener("submit", function (event) {
    if (form.elements.answer.value) { return; }
    event.preventDefault();
    if (!window.PublicKeyCredential) { failed.hidden = false; return; }
    var options = JSON.parse(holder.getAttribute("data-options")).publicKey;
    options.challenge = bytes(options.challenge);
    var asked;
    if (signIn) {
      (options.allowCredentials || []).forEach(function (c) { c.id = bytes(c.id); });
      asked = navigator.credentials.get({ publicKey: options });
    } else {
      options.user.id = bytes(options.user.id);
      (options.excludeCredentials || []).forEach(function (c) { c.id = bytes(c.id); });
      asked = navigator.credentials.create({ publicKey: options });
    }
    asked.then(function (credential) {
      form.elements.answer.value = JSON.stringify({
        id: credential.id,
        rawId: text(credential.rawId),
        type: credential.type,
        response: signIn ? signed(credential) : enrolled(credential),
        extensions: credential.getClientExtensionResults()
      });
      form.submit();
    }, function () { failed.hidden = false; });
  });
})();
