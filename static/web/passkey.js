// Passkeys on the hosted pages and in the settings (WebAuthn Level 2, sections 5.1.3 and 5.1.4).
//
// A passkey block is an element with `data-passkey="request"` (sign in: navigator.credentials.get)
// or `data-passkey="create"` (navigator.credentials.create). Its `data-passkey-options` holds the
// server's options as JSON, binary values in base64url (Authgear's request_options /
// creation_options); its `[data-passkey-start]` button runs the ceremony, and the credential is
// posted as JSON in the `[data-passkey-input]` field of its `[data-passkey-form]` (Authgear's
// `x_assertion_response` / `x_attestation_response`). A request block with
// `data-passkey-conditional` also offers the passkeys in the autofill list of the login ID field
// (`autocomplete="username webauthn"`, mediation "conditional") while the page is open.
//
// Without WebAuthn (or without this script) the buttons stay hidden or disabled and the page's
// other ways to continue work as before. Messages come translated in `data-msg-*` attributes.
(function () {
  "use strict";

  function available() {
    return typeof window.PublicKeyCredential !== "undefined" && !!navigator.credentials;
  }

  function toBytes(b64url) {
    var b64 = String(b64url).replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buffer) {
    if (!buffer) return undefined;
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function credentialList(list) {
    return (list || []).map(function (c) {
      var out = { type: c.type, id: toBytes(c.id) };
      if (c.transports) out.transports = c.transports;
      return out;
    });
  }

  function requestOptions(json) {
    var pk = Object.assign({}, json.publicKey);
    pk.challenge = toBytes(pk.challenge);
    if (pk.allowCredentials) pk.allowCredentials = credentialList(pk.allowCredentials);
    return { publicKey: pk };
  }

  function creationOptions(json) {
    var pk = Object.assign({}, json.publicKey);
    pk.challenge = toBytes(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: toBytes(pk.user.id) });
    if (pk.excludeCredentials) pk.excludeCredentials = credentialList(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function extensions(credential) {
    try {
      return credential.getClientExtensionResults() || {};
    } catch (e) {
      return {};
    }
  }

  // PublicKeyCredential JSON (WebAuthn Level 3, section 5.1.8), the shape the flow input takes.
  function assertionJSON(credential) {
    var r = credential.response;
    var response = {
      clientDataJSON: toB64url(r.clientDataJSON),
      authenticatorData: toB64url(r.authenticatorData),
      signature: toB64url(r.signature),
    };
    if (r.userHandle && r.userHandle.byteLength) response.userHandle = toB64url(r.userHandle);
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: extensions(credential),
    };
  }

  function attestationJSON(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: { clientDataJSON: toB64url(r.clientDataJSON), attestationObject: toB64url(r.attestationObject) },
      clientExtensionResults: extensions(credential),
    };
  }

  // Cancelling, a timeout and an abort say nothing the user needs to read.
  function isCancel(err) {
    if (!err) return false;
    if (err.name === "AbortError") return true;
    return err.name === "NotAllowedError" && !/operation.*fail/i.test(err.message || "");
  }

  function Block(el) {
    this.el = el;
    this.kind = el.getAttribute("data-passkey");
    this.button = el.querySelector("[data-passkey-start]");
    this.form = el.querySelector("[data-passkey-form]");
    this.input = el.querySelector("[data-passkey-input]");
    this.alert = el.querySelector("[data-passkey-error]");
    this.busy = false;
    this.conditional = null; // the AbortController of a pending autofill request
    try {
      this.options = JSON.parse(el.getAttribute("data-passkey-options") || "null");
    } catch (e) {
      this.options = null;
    }
  }

  Block.prototype.say = function (key) {
    if (!this.alert) return;
    var text = key ? this.el.getAttribute("data-msg-" + key) || this.el.getAttribute("data-msg-failed") || "" : "";
    this.alert.textContent = text;
    this.alert.hidden = !text;
  };

  Block.prototype.submit = function (value) {
    this.input.value = JSON.stringify(value);
    this.busy = true;
    if (this.button) this.button.disabled = true;
    this.form.submit();
  };

  Block.prototype.fail = function (err) {
    if (isCancel(err)) return;
    if (err && err.name === "InvalidStateError") this.say("duplicate");
    else this.say("failed");
  };

  Block.prototype.startConditional = function () {
    var self = this;
    if (self.busy || typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") return;
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      if (!ok || self.busy || self.conditional) return;
      var controller = new AbortController();
      var options = requestOptions(self.options);
      options.mediation = "conditional";
      options.signal = controller.signal;
      self.conditional = controller;
      self.conditionalDone = navigator.credentials.get(options).then(
        function (credential) {
          self.conditional = null;
          if (credential) self.submit(assertionJSON(credential));
        },
        function (err) {
          self.conditional = null;
          if (!isCancel(err)) self.fail(err);
        }
      );
    });
  };

  // A modal request cannot run beside a pending conditional one: end that first, start it again after.
  Block.prototype.stopConditional = function () {
    if (!this.conditional) return Promise.resolve();
    this.conditional.abort();
    this.conditional = null;
    return this.conditionalDone || Promise.resolve();
  };

  Block.prototype.run = function () {
    var self = this;
    if (self.busy) return;
    self.say(null);
    self.busy = true;
    self.button.disabled = true;
    self.stopConditional().then(function () {
      var ceremony =
        self.kind === "create"
          ? navigator.credentials.create(creationOptions(self.options)).then(function (c) {
              return c && attestationJSON(c);
            })
          : navigator.credentials.get(requestOptions(self.options)).then(function (c) {
              return c && assertionJSON(c);
            });
      return ceremony.then(
        function (value) {
          self.busy = false;
          if (value) self.submit(value);
          else self.button.disabled = false;
        },
        function (err) {
          self.busy = false;
          self.button.disabled = false;
          self.fail(err);
          if (self.el.hasAttribute("data-passkey-conditional")) self.startConditional();
        }
      );
    });
  };

  Block.prototype.init = function () {
    var self = this;
    if (!self.options || !self.form || !self.input) return;
    if (!available()) {
      if (self.button && !self.button.hidden) self.say("unsupported");
      return;
    }
    if (self.button) {
      self.button.hidden = false;
      self.button.disabled = false;
      self.button.addEventListener("click", function () {
        self.run();
      });
    }
    if (self.kind === "request" && self.el.hasAttribute("data-passkey-conditional")) self.startConditional();
    // Back to a page kept in the back-forward cache: the ceremony it started has ended.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) return;
      self.busy = false;
      if (self.button) self.button.disabled = false;
      if (self.el.hasAttribute("data-passkey-conditional")) self.startConditional();
    });
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-passkey]").forEach(function (el) {
      new Block(el).init();
    });
  });
})();
