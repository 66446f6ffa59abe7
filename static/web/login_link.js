// The login link's waiting page (templates/web/oob_otp_link.html): moves on by itself once the link
// was opened, in this browser or any other. It listens on the flow's websocket (the step's
// `websocket_url`, Authgear's `{"kind": "refresh"}` events) and then asks the page's status URL
// whether the flow may go on (`can_check`), submitting the page's form if so. Without a websocket
// (none offered, refused, or closed), it asks the status URL every 2 s instead and tries the
// websocket again after a back-off. Without this script the page's Continue button does the same.
(function () {
  "use strict";

  var POLL_MS = 2000;
  var RETRY_MIN_MS = 1000;
  var RETRY_MAX_MS = 30000;

  function start() {
    var form = document.querySelector("[data-login-link-form]");
    if (!form || !window.fetch) return;
    var statusUrl = form.getAttribute("data-status-url");
    var wsUrl = form.getAttribute("data-websocket-url");
    var stopped = false;
    var checking = false;
    var pollTimer = null;
    var ws = null;
    var retryMs = RETRY_MIN_MS;

    function stop() {
      stopped = true;
      if (pollTimer) window.clearTimeout(pollTimer);
      if (ws) {
        ws.onclose = null;
        ws.close(1000);
      }
    }

    // Ask once whether the link was opened; `then` runs when it was not (yet).
    function check(then) {
      if (stopped || checking) return;
      checking = true;
      fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (resp) {
          return resp.ok ? resp.json() : {};
        })
        .then(function (status) {
          checking = false;
          if (status.can_check) {
            stop();
            form.submit();
          } else if (status.expired) {
            stop();
          } else if (then) {
            then();
          }
        })
        .catch(function () {
          checking = false;
          if (then) then();
        });
    }

    function schedulePoll(ms) {
      if (stopped || pollTimer || (ws && ws.readyState === 1)) return;
      pollTimer = window.setTimeout(function () {
        pollTimer = null;
        if (ws && ws.readyState === 1) return;
        check(function () {
          schedulePoll(POLL_MS);
        });
      }, ms);
    }

    function connect() {
      if (stopped) return;
      try {
        ws = new WebSocket(wsUrl);
      } catch (e) {
        ws = null;
        schedulePoll(POLL_MS);
        return;
      }
      ws.onopen = function () {
        retryMs = RETRY_MIN_MS;
        if (pollTimer) {
          window.clearTimeout(pollTimer);
          pollTimer = null;
        }
        check(); // the link may have been opened before the socket was
      };
      ws.onmessage = function (e) {
        var message;
        try {
          message = JSON.parse(e.data);
        } catch (err) {
          return;
        }
        if (message && message.kind === "refresh") check();
      };
      ws.onclose = function (e) {
        ws = null;
        if (stopped || e.code === 1000) return;
        schedulePoll(POLL_MS);
        window.setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      };
    }

    if (wsUrl && window.WebSocket) {
      connect();
    } else {
      schedulePoll(POLL_MS);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
