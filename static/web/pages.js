// Progressive enhancement of the flow pages (issue 21); every page works without it.
// - Password fields: the toggle button next to each (templates/web/macros.html `field`) shows the
//   password as text while it is pressed (aria-pressed), and hides it again before the form is sent.
// - "Send a new code": a button with `data-resend-wait` (seconds left of the code's `can_resend_at`)
//   counts down in its label (`data-countdown`, where `{time}` stands for m:ss) and is enabled at 0.
(function () {
  "use strict";

  function passwordToggles() {
    document.querySelectorAll("[data-password-toggle]").forEach(function (button) {
      var input = document.getElementById(button.getAttribute("aria-controls"));
      if (!input) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var show = input.type === "password";
        input.type = show ? "text" : "password";
        button.setAttribute("aria-pressed", show ? "true" : "false");
      });
      if (input.form) {
        input.form.addEventListener("submit", function () {
          input.type = "password";
          button.setAttribute("aria-pressed", "false");
        });
      }
    });
  }

  function clock(seconds) {
    var s = seconds % 60;
    return Math.floor(seconds / 60) + ":" + (s < 10 ? "0" : "") + s;
  }

  function resendCountdowns() {
    document.querySelectorAll("[data-resend-wait]").forEach(function (button) {
      var left = parseInt(button.getAttribute("data-resend-wait"), 10) || 0;
      var end = Date.now() + left * 1000;
      var template = button.getAttribute("data-countdown") || "{time}";
      var label = button.getAttribute("data-label") || button.textContent;
      function tick() {
        var remaining = Math.max(0, Math.ceil((end - Date.now()) / 1000));
        if (remaining <= 0) {
          button.disabled = false;
          button.textContent = label;
          button.removeAttribute("data-resend-wait");
          return;
        }
        button.disabled = true;
        button.textContent = template.replace("{time}", clock(remaining));
        setTimeout(tick, 250);
      }
      tick();
    });
  }

  function start() {
    passwordToggles();
    resendCountdowns();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
