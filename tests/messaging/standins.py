"""Stand-ins for the message providers, reached at their real host names as Authgear's end-to-end tests
reach providers: the app's requests go through E2E_HTTP_PROXY (a CONNECT proxy here) to one TLS server
whose certificate for every provider host is signed by a test CA given as E2E_TLS_CA_CERT_FILE.

They check what the real APIs check and answer what they answer:
- Twilio (api.twilio.com): `POST /2010-04-01/Accounts/{sid}/Messages.json`, form fields, HTTP basic
  auth (account SID + auth token, or API key SID + secret); 201 with the message resource, or the
  error body `{code, message, more_info, status}` (20003 for bad credentials, 21211 for a bad `To`).
- Vonage (rest.nexmo.com): `POST /sms/json`, form fields with `api_key`/`api_secret`; always 200,
  `messages[].status` "0" or an error status with `error-text` ("4" Bad Credentials, "3" Invalid
  Message for a bad `to`).
- WhatsApp Cloud API (graph.facebook.com): `POST /{version}/{phone_number_id}/messages` with a bearer
  token and the template message JSON; 200 with `messages[].id`, or Graph's `{"error": {...}}`.
- WhatsApp on-premises (a host the secret names, here `whatsapp.example.com`): `POST /v1/users/login`
  with basic auth answers `users[].token`; `POST /v1/messages` with that bearer token.

`script[host]` makes the next request to a host answer a given (status, body) instead.
"""

from __future__ import annotations

import json
import secrets
import threading
from base64 import b64decode
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.provider_tls import ProviderServers, make_certs

HOSTS = ["api.twilio.com", "rest.nexmo.com", "graph.facebook.com", "whatsapp.example.com"]


class Recorded:
    def __init__(self, host: str, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.host, self.method, self.path, self.headers, self.body = host, method, path, headers, body

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = b64decode(value[6:]).decode().partition(":")
        return user, password


def _twilio_error(code: int, message: str, status: int) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class Standins(ProviderServers):
    def __init__(self, folder: Path) -> None:
        self.ca, cert, key = make_certs(folder, HOSTS, "Gatehouse messaging test CA")
        self.requests: list[Recorded] = []
        self.script: dict[str, tuple[int, Any]] = {}
        # What each provider accepts.
        self.twilio_accounts: dict[str, str] = {}  # account SID -> auth token
        self.twilio_api_keys: dict[str, tuple[str, str]] = {}  # API key SID -> (account SID, secret)
        self.nexmo_keys: dict[str, str] = {}  # api_key -> api_secret
        self.whatsapp_tokens: set[str] = set()  # Cloud API access tokens
        self.on_prem_users: dict[str, str] = {}  # username -> password
        self.on_prem_tokens: set[str] = set()
        self._cond = threading.Condition()
        self.serve(type("Handler", (_Handler,), {"standins": self}), cert, key)

    def to(self, host: str) -> list[Recorded]:
        return [r for r in self.requests if r.host == host]

    # -- answers ------------------------------------------------------------------------------------
    def answer(self, r: Recorded) -> tuple[int, Any]:
        if r.host in self.script:
            return self.script.pop(r.host)
        if r.host == "api.twilio.com":
            return self.twilio(r)
        if r.host == "rest.nexmo.com":
            return self.nexmo(r)
        if r.host == "graph.facebook.com":
            return self.cloud_api(r)
        if r.host == "whatsapp.example.com":
            return self.on_premises(r)
        return 404, {}

    def twilio(self, r: Recorded) -> tuple[int, Any]:
        parts = urlsplit(r.path).path.split("/")
        if (
            r.method != "POST"
            or len(parts) != 5
            or parts[1:3] != ["2010-04-01", "Accounts"]
            or parts[4] != "Messages.json"
        ):
            return _twilio_error(20404, "The requested resource was not found", 404)
        sid, auth = parts[3], r.basic_auth
        ok = auth is not None and (
            (auth[0] == sid and self.twilio_accounts.get(sid) == auth[1])
            or (self.twilio_api_keys.get(auth[0]) == (sid, auth[1]))
        )
        if not ok:
            return _twilio_error(20003, "Authenticate", 401)
        form = r.form
        to = form.get("To", "")
        if not (to.startswith("+") and to[1:].isdigit() and 8 <= len(to) <= 16):
            return _twilio_error(21211, f"The 'To' number {to} is not a valid phone number.", 400)
        if not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            return _twilio_error(21603, "A 'From' or 'MessagingServiceSid' parameter is required", 400)
        msg_sid = "SM" + secrets.token_hex(16)
        return 201, {
            "account_sid": sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
            "date_sent": None,
            "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": msg_sid,
            "status": "queued" if form.get("From") else "accepted",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{sid}/Messages/{msg_sid}/Media.json"},
            "to": to,
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{msg_sid}.json",
        }

    def nexmo(self, r: Recorded) -> tuple[int, Any]:
        if r.method != "POST" or urlsplit(r.path).path != "/sms/json":
            return 404, {}
        form = r.form
        if self.nexmo_keys.get(form.get("api_key", "")) != form.get("api_secret"):
            return 200, {"message-count": "1", "messages": [{"status": "4", "error-text": "Bad Credentials"}]}
        to = form.get("to", "")
        if not to.isdigit():
            return 200, {"message-count": "1", "messages": [{"status": "3", "error-text": "Invalid Message"}]}
        return 200, {
            "message-count": "1",
            "messages": [
                {
                    "to": to,
                    "message-id": secrets.token_hex(8).upper(),
                    "status": "0",
                    "remaining-balance": "3.14159265",
                    "message-price": "0.03330000",
                    "network": "12345",
                }
            ],
        }

    def cloud_api(self, r: Recorded) -> tuple[int, Any]:
        parts = urlsplit(r.path).path.split("/")
        bearer = r.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.whatsapp_tokens:
            return 401, {
                "error": {
                    "message": "Invalid OAuth access token - Cannot parse access token",
                    "type": "OAuthException",
                    "code": 190,
                    "fbtrace_id": "Ag3" + secrets.token_hex(8),
                }
            }
        if r.method != "POST" or len(parts) != 4 or parts[3] != "messages":
            return 400, {"error": {"message": "Unsupported post request.", "type": "GraphMethodException", "code": 100}}
        body = r.json
        to = body.get("to", "")
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to.removeprefix("+")}],
            "messages": [{"id": "wamid." + secrets.token_hex(16), "message_status": "accepted"}],
        }

    def on_premises(self, r: Recorded) -> tuple[int, Any]:
        path = urlsplit(r.path).path
        if r.method == "POST" and path == "/v1/users/login":
            auth = r.basic_auth
            if auth is None or self.on_prem_users.get(auth[0]) != auth[1]:
                return 401, {"errors": [{"code": 1005, "title": "Access denied", "details": "Invalid credentials"}]}
            token = secrets.token_urlsafe(24)
            self.on_prem_tokens.add(token)
            return 200, {"users": [{"token": token, "expires_after": "2099-01-01 00:00:00+00:00"}]}
        if r.method == "POST" and path == "/v1/messages":
            bearer = r.headers.get("Authorization", "").removeprefix("Bearer ")
            if bearer not in self.on_prem_tokens:
                return 401, {"errors": [{"code": 1005, "title": "Access denied", "details": "Invalid token"}]}
            return 200, {"messages": [{"id": "gBEGkYiEB1VXAglK1ZEqA1YKPrU"}], "meta": {"api_status": "stable"}}
        return 404, {}


class _Handler(BaseHTTPRequestHandler):
    standins: Standins

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        host = (self.headers.get("Host") or "").split(":")[0]
        recorded = Recorded(host, "POST", self.path, dict(self.headers), body)
        with self.standins._cond:
            self.standins.requests.append(recorded)
            self.standins._cond.notify_all()
        status, answer = self.standins.answer(recorded)
        payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass
