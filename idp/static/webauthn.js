// WebAuthn ceremonies for the forms marked data-webauthn="create" or "get": fetch the options
// (POST, with the form's CSRF token), ask the browser's authenticator, put its answer in the
// form's hidden `credential` field and submit the form. Served from this origin only (CSP 'self').
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    json.challenge = toBytes(json.challenge);
    json.user.id = toBytes(json.user.id);
    (json.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return json;
  }

  function requestOptions(json) {
    json.challenge = toBytes(json.challenge);
    (json.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return json;
  }

  function serialise(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    var r = credential.response, response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = r.userHandle ? toText(r.userHandle) : null;
    }
    return {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type, response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || null
    };
  }

  function start(form, event) {
    event.preventDefault();
    var status = form.querySelector("[data-webauthn-status]");
    var token = form.querySelector("input[name=csrf_token]");
    var interaction = form.querySelector("input[name=interaction]");
    var body = new URLSearchParams();
    if (interaction) body.set("interaction", interaction.value);
    if (status) status.textContent = form.getAttribute("data-webauthn-waiting") || "";
    fetch(form.getAttribute("data-webauthn-options"), {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRFToken": token ? token.value : "", "Accept": "application/json" }
    }).then(function (answer) {
      if (!answer.ok) throw new Error("options " + answer.status);
      return answer.json();
    }).then(function (json) {
      if (form.getAttribute("data-webauthn") === "create") {
        return navigator.credentials.create({ publicKey: creationOptions(json) });
      }
      return navigator.credentials.get({ publicKey: requestOptions(json) });
    }).then(function (credential) {
      form.querySelector("input[name=credential]").value = JSON.stringify(serialise(credential));
      form.submit();
    }).catch(function () {
      if (status) status.textContent = form.getAttribute("data-webauthn-failed") || "";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var supported = !!(window.PublicKeyCredential && navigator.credentials);
    document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
      if (!supported) {
        var status = form.querySelector("[data-webauthn-status]");
        if (status) status.textContent = form.getAttribute("data-webauthn-unsupported") || "";
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        return;
      }
      form.addEventListener("submit", function (event) { start(form, event); });
    });
  });
})();
