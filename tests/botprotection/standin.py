"""A stand-in for the providers' siteverify APIs and widget scripts, on a real HTTP port.

siteverify (`POST /turnstile/v0/siteverify`, `POST /recaptcha/api/siteverify`) takes the providers'
form fields (`secret`, `response`, `remoteip`) and answers their JSON. The token chooses the answer,
as Authgear's end-to-end tests do with their stand-in: `pass` succeeds; `service_unavailable` is
Turnstile's `internal-error`; `slow` answers after `slow_seconds` (past the client's timeout);
`garbage` is not JSON; anything else fails with `invalid-input-response`. A wrong secret fails with
`invalid-input-secret`. Every request is recorded.

The widget scripts (`/turnstile/v0/api.js`, `/recaptcha/api.js`) define the providers' globals with
their explicit-render API (`turnstile.render(el, {sitekey, callback, ...})`, `grecaptcha.render`):
the widget is a button that, when clicked, puts the token `widget_token` in the provider's hidden
field (`cf-turnstile-response` / `g-recaptcha-response`) and calls `callback(token)`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

WIDGET_JS = """
(function () {
  function make(field) {
    return {
      render: function (el, opts) {
        if (typeof el === "string") { el = document.querySelector(el); }
        var box = document.createElement("div");
        box.className = "standin-widget";
        box.setAttribute("data-sitekey", opts.sitekey);
        var input = document.createElement(field === "g-recaptcha-response" ? "textarea" : "input");
        input.name = field; input.hidden = true;
        var button = document.createElement("button");
        button.type = "button"; button.textContent = "I am human";
        button.addEventListener("click", function () {
          input.value = %(token)s;
          if (opts.callback) { opts.callback(input.value); }
        });
        box.appendChild(input); box.appendChild(button); el.appendChild(box);
        return "widget-1";
      },
      reset: function () {},
      getResponse: function () { var i = document.querySelector("[name=" + field + "]"); return i ? i.value : ""; }
    };
  }
  window.%(global)s = make(%(field)s);
})();
"""


@dataclass
class Standin:
    secret: str = "test-secret"
    slow_seconds: float = 3.0
    widget_token: str = "pass"
    requests: list[dict[str, Any]] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def cloudflare_endpoint(self) -> str:
        return self.origin + "/turnstile/v0/siteverify"

    @property
    def recaptchav2_endpoint(self) -> str:
        return self.origin + "/recaptcha/api/siteverify"

    def script_url(self, provider: str) -> str:
        return self.origin + ("/turnstile/v0/api.js" if provider == "cloudflare" else "/recaptcha/api.js")

    def answer(self, provider: str, form: dict[str, str]) -> tuple[int, bytes]:
        token = form.get("response", "")
        if form.get("secret") != self.secret:
            body: dict[str, Any] = {"success": False, "error-codes": ["invalid-input-secret"]}
        elif token == "pass":
            body = {"success": True, "challenge_ts": "2025-01-01T00:00:00.000Z", "hostname": "localhost"}
        elif token == "garbage":
            return 502, b"<html>bad gateway</html>"
        elif token == "slow":
            time.sleep(self.slow_seconds)
            body = {"success": True}
        elif token == "service_unavailable" and provider == "cloudflare":
            body = {"success": False, "error-codes": ["internal-error"]}
        else:
            body = {"success": False, "error-codes": ["invalid-input-response"]}
        return 200, json.dumps(body).encode()

    def start(self) -> Standin:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                provider = "cloudflare" if self.path.startswith("/turnstile/") else "recaptchav2"
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                standin.requests.append(
                    {"provider": provider, "content_type": self.headers.get("Content-Type"), "form": form}
                )
                status, body = standin.answer(provider, form)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json" if status == 200 else "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout test)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/turnstile/v0/api.js"):
                    glob, fld = "turnstile", "cf-turnstile-response"
                elif self.path.startswith("/recaptcha/api.js"):
                    glob, fld = "grecaptcha", "g-recaptcha-response"
                else:
                    self.send_error(404)
                    return
                js = WIDGET_JS % {"global": glob, "field": json.dumps(fld), "token": json.dumps(standin.widget_token)}
                body = js.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/javascript")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
