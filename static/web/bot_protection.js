// The captcha widget of the pages whose input needs bot protection (templates/web/_bot_protection.html).
// It renders the provider's widget with its explicit-render API (Cloudflare Turnstile's
// `turnstile.render`, reCAPTCHA v2's `grecaptcha.render`) and copies the token into
// x_bot_protection_provider_response, which the server sends to the flow as `bot_protection.response`.
// When the provider's script does not load, or its widget reports an error, the page says so.
(function () {
  "use strict";
  var WAIT_MS = 10000;

  function api(provider) {
    if (provider === "cloudflare") return window.turnstile;
    if (provider === "recaptchav2") return window.grecaptcha;
    return null;
  }

  function setup(root) {
    var form = root.closest("form");
    var field = form && form.querySelector("[data-bot-protection-response]");
    var unavailable = root.querySelector("[data-bot-protection-unavailable]");
    var provider = root.getAttribute("data-provider");
    var autoSubmit = root.getAttribute("data-auto-submit") === "true";
    if (!form || !field) return;

    function showUnavailable() { if (unavailable) unavailable.hidden = false; }
    function setToken(token) {
      field.value = token || "";
      if (token && autoSubmit) form.requestSubmit ? form.requestSubmit() : form.submit();
    }
    function render(lib) {
      var options = {
        sitekey: root.getAttribute("data-site-key"),
        callback: setToken,
        "expired-callback": function () { setToken(""); },
        "error-callback": function () { setToken(""); showUnavailable(); }
      };
      if (provider === "cloudflare") options.language = root.getAttribute("data-lang") || "auto";
      try {
        lib.render(root.querySelector("[data-bot-protection-widget]"), options);
      } catch (e) {
        showUnavailable();
      }
    }
    var started = Date.now();
    (function wait() {
      var lib = api(provider);
      // reCAPTCHA defines `grecaptcha` before `render` is ready.
      if (lib && typeof lib.render === "function") return render(lib);
      if (Date.now() - started > WAIT_MS) return showUnavailable();
      setTimeout(wait, 100);
    })();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-bot-protection]").forEach(setup);
  });
})();
