// The passkey enrolment page: hands the server's creation options to the browser's
// authenticator (navigator.credentials.create), and posts its answer back in the form. The
// options come in the page itself (data-options), so no request leaves but the form's.
(function () {
  var form = document.getElementById("passkey-form");
  var holder = document.getElementById("passkey-options");
  var failed = document.getElementById("passkey-error");
  if (!form || !holder) { return; }
  function bytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }
  function text(buffer) {
    var raw = "";
    new Uint8Array(buffer).forEach(function (b) { raw += String.fromCharCode(b); });
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  form.addEventListener("submit", function (event) {
    if (form.elements.answer.value) { return; }
    event.preventDefault();
    if (!window.PublicKeyCredential) { failed.hidden = false; return; }
    var options = JSON.parse(holder.getAttribute("data-options")).publicKey;
    options.challenge = bytes(options.challenge);
    options.user.id = bytes(options.user.id);
    (options.excludeCredentials || []).forEach(function (c) { c.id = bytes(c.id); });
    navigator.credentials.create({ publicKey: options }).then(function (credential) {
      var response = credential.response;
      form.elements.answer.value = JSON.stringify({
        id: credential.id,
        rawId: text(credential.rawId),
        type: credential.type,
        response: {
          attestationObject: text(response.attestationObject),
          clientDataJSON: text(response.clientDataJSON),
          transports: response.getTransports ? response.getTransports() : []
        },
        extensions: credential.getClientExtensionResults()
      });
      form.submit();
    }, function () { failed.hidden = false; });
  });
})();
