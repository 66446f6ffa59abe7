// The login link's waiting page (templates/web/oob_otp_link.html): asks the page's status URL every
// few seconds whether the link was opened (`can_check`) and then submits the page's form, which
// moves the flow on. Without this script the page's Continue button does the same.
(function () {
  "use strict";

  var INTERVAL_MS = 2000;

  function start() {
    var form = document.querySelector("[data-login-link-form]");
    if (!form || !window.fetch) return;
    var url = form.getAttribute("data-status-url");
    var stopped = false;

    function poll() {
      if (stopped) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (resp) {
          return resp.ok ? resp.json() : {};
        })
        .then(function (status) {
          if (status.can_check) {
            stopped = true;
            form.submit();
          } else if (status.expired) {
            stopped = true;
          } else {
            window.setTimeout(poll, INTERVAL_MS);
          }
        })
        .catch(function () {
          window.setTimeout(poll, INTERVAL_MS * 2);
        });
    }

    window.setTimeout(poll, INTERVAL_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
