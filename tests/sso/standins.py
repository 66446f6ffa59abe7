"""Stand-ins for the providers whose endpoints are fixed (Google, Apple, GitHub, Facebook, Microsoft,
LinkedIn, Azure AD B2C),
reached at their real host names the way Authgear's end-to-end tests reach them: the app's outgoing
requests go through E2E_HTTP_PROXY (a CONNECT proxy here) to one TLS server whose certificate, for
every provider host, is signed by a test CA given as E2E_TLS_CA_CERT_FILE.

Each stand-in speaks its provider's real formats: Google's and Microsoft's discovery, token and JWKS
endpoints with RS256 ID tokens (nonce, PKCE for Google), Apple's form_post answer with the `user`
field and its ES256 client-secret JWT check, GitHub's token answer (200 with `error` on a bad code),
`/user` and `/user/emails`, Facebook's Graph API with `appsecret_proof`, LinkedIn's OpenID Connect
(profile from its UserInfo), Azure AD B2C's per-policy discovery with the user's `emails` in the ID
token. The test chooses who signs in
(`standins.next_user[type]`), or that the user cancels (`deny`), and may make a provider hang (`delay`).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
import time
from base64 import urlsafe_b64encode
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests.provider_tls import ProviderServers, make_certs

B2C_TENANT = "contosob2c"
B2C_HOST = f"{B2C_TENANT}.b2clogin.com"
HOSTS = [
    "accounts.google.com",
    "oauth2.googleapis.com",
    "www.googleapis.com",
    "appleid.apple.com",
    "github.com",
    "api.github.com",
    "www.facebook.com",
    "graph.facebook.com",
    "login.microsoftonline.com",
    "www.linkedin.com",
    "api.linkedin.com",
    B2C_HOST,
]


def apple_p8_key() -> tuple[str, Any]:
    """A P-256 key in Apple's .p8 form (PKCS#8 PEM) and its public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode(), key.public_key()


# -- the providers ----------------------------------------------------------------------------------
def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


class Standins(ProviderServers):
    def __init__(self, folder: Path) -> None:
        self.ca, cert, key = make_certs(folder, HOSTS)
        self.signing = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "alg": "RS256", "use": "sig"})
        self.clients: dict[str, dict[str, Any]] = {}  # provider type -> {client_id, client_secret, ...}
        self.next_user: dict[str, dict[str, Any]] = {}
        self.deny: set[str] = set()
        self.delay: dict[str, float] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []  # (host, method, path) seen
        self.apple_public_key: Any = None
        self.serve(type("Handler", (_Handler,), {"standins": self}), cert, key)

    def jwks(self) -> dict[str, Any]:
        return KeySet([self.signing]).as_dict(private=False)

    def id_token(self, claims: dict[str, Any]) -> str:
        now = int(time.time())
        return jwt.encode({"alg": "RS256", "kid": "standin-1"}, {"iat": now, "exp": now + 300, **claims}, self.signing)

    def issue_code(self, provider: str, query: dict[str, str]) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"provider": provider, "query": query, "user": self.next_user[provider]}
        return code

    def take_code(self, provider: str, code: str) -> dict[str, Any] | None:
        grant = self.codes.pop(code, None)
        return grant if grant and grant["provider"] == provider else None


def _pkce_ok(grant: dict[str, Any], verifier: str) -> bool:
    challenge = grant["query"].get("code_challenge")
    if not challenge:
        return not verifier
    return b64(hashlib.sha256(verifier.encode()).digest()) == challenge


class _Handler(BaseHTTPRequestHandler):
    standins: Standins
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    # -- plumbing --
    def _send(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, raw: str | None = None
    ) -> None:
        data = raw.encode() if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        ctype = "text/html; charset=utf-8" if raw is not None else "application/json"
        for k, v in {"Content-Type": ctype, "Content-Length": str(len(data)), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, url: str) -> None:
        self._send(302, headers={"Location": url})

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        return {k: v[0] for k, v in parse_qs(body).items()}

    def _dispatch(self, method: str) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.standins.requests.append((host, method, url.path))
        provider = {
            "accounts.google.com": "google",
            "oauth2.googleapis.com": "google",
            "www.googleapis.com": "google",
            "appleid.apple.com": "apple",
            "github.com": "github",
            "api.github.com": "github",
            "www.facebook.com": "facebook",
            "graph.facebook.com": "facebook",
            "login.microsoftonline.com": "azureadv2",
            "www.linkedin.com": "linkedin",
            "api.linkedin.com": "linkedin",
            B2C_HOST: "azureadb2c",
        }.get(host)
        if provider is None:
            return self._send(404, {"error": "unknown host"})
        delay = self.standins.delay.get(provider)
        if delay:
            time.sleep(delay)
        form = self._form() if method == "POST" else {}
        getattr(self, f"_{provider}")(method, host, url.path, query, form)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _authorize(self, provider: str, query: dict[str, str], form_post: bool = False) -> None:
        client = self.standins.clients[provider]
        if query.get("client_id", query.get("appid")) != client["client_id"]:
            return self._send(400, raw="<p>unknown client</p>")
        redirect_uri, state = query["redirect_uri"], query.get("state", "")
        if provider in self.standins.deny:
            answer = {"error": "access_denied", "error_description": "The user denied the request"}
        else:
            answer = {"code": self.standins.issue_code(provider, query)}
            user = self.standins.codes[answer["code"]]["user"]
            if provider == "apple" and user.get("first_time_name"):
                answer["user"] = json.dumps({"name": user["first_time_name"], "email": user.get("email", "")})
        if state:
            answer["state"] = state
        if form_post:
            inputs = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in answer.items())
            page = (
                f'<html><body onload="document.forms[0].submit()"><form method="post" action="{redirect_uri}">'
                f"{inputs}</form></body></html>"
            )
            return self._send(200, raw=page)
        return self._redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}")

    def _token_grant(self, provider: str, form: dict[str, str]) -> dict[str, Any] | None:
        client = self.standins.clients[provider]
        grant = self.standins.take_code(provider, form.get("code", ""))
        if (
            grant is None
            or form.get("client_id") != client["client_id"]
            or form.get("redirect_uri") != grant["query"].get("redirect_uri")
            or not _pkce_ok(grant, form.get("code_verifier", ""))
        ):
            return None
        return grant

    # -- Google ------------------------------------------------------------------------------------
    def _google(self, method: str, host: str, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        if path == "/.well-known/openid-configuration":
            return self._send(
                200,
                {
                    "issuer": "https://accounts.google.com",
                    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
                    "token_endpoint": "https://oauth2.googleapis.com/token",
                    "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
                    "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
                    "code_challenge_methods_supported": ["plain", "S256"],
                },
            )
        if path == "/o/oauth2/v2/auth":
            return self._authorize("google", query)
        if path == "/oauth2/v3/certs":
            return self._send(200, self.standins.jwks())
        if path == "/token" and method == "POST":
            grant = self._token_grant("google", form)
            if grant is None or form.get("client_secret") != self.standins.clients["google"]["client_secret"]:
                return self._send(400, {"error": "invalid_grant", "error_description": "Bad Request"})
            user = grant["user"]
            claims = {
                "iss": "https://accounts.google.com",
                "aud": form["client_id"],
                "azp": form["client_id"],
                **user,
            }
            if grant["query"].get("nonce"):
                claims["nonce"] = grant["query"]["nonce"]
            body = {"access_token": "ya29." + secrets.token_urlsafe(8), "expires_in": 3599, "token_type": "Bearer"}
            return self._send(
                200, {**body, "scope": "openid email profile", "id_token": self.standins.id_token(claims)}
            )
        return self._send(404, {"error": "not_found"})

    # -- Apple -------------------------------------------------------------------------------------
    def _apple(self, method: str, host: str, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        if path == "/auth/authorize":
            return self._authorize("apple", query, form_post=query.get("response_mode") == "form_post")
        if path == "/auth/keys":
            return self._send(200, self.standins.jwks())
        if path == "/auth/token" and method == "POST":
            client = self.standins.clients["apple"]
            if not self._apple_client_secret_ok(form.get("client_secret", ""), client):
                return self._send(400, {"error": "invalid_client"})
            grant = self._token_grant("apple", form)
            if grant is None:
                return self._send(400, {"error": "invalid_grant"})
            user = {k: v for k, v in grant["user"].items() if k != "first_time_name"}
            claims = {"iss": "https://appleid.apple.com", "aud": client["client_id"], **user}
            if grant["query"].get("nonce"):
                claims["nonce"] = grant["query"]["nonce"]
            body = {"access_token": secrets.token_urlsafe(8), "token_type": "Bearer", "expires_in": 3600}
            return self._send(200, {**body, "refresh_token": "r", "id_token": self.standins.id_token(claims)})
        return self._send(404, {"error": "not_found"})

    def _apple_client_secret_ok(self, token: str, client: dict[str, Any]) -> bool:
        """developer.apple.com: ES256 with the key's kid; iss team, sub client, aud Apple, short exp."""
        try:
            pem = self.standins.apple_public_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            decoded = jwt.decode(token, ECKey.import_key(pem), algorithms=["ES256"])
        except Exception:  # noqa: BLE001 - any bad secret is Apple's invalid_client
            return False
        c, now = decoded.claims, time.time()
        return (
            decoded.header.get("kid") == client["key_id"]
            and c.get("iss") == client["team_id"]
            and c.get("sub") == client["client_id"]
            and c.get("aud") == "https://appleid.apple.com"
            and c.get("iat", now + 999) <= now + 5
            and now < c.get("exp", 0) <= now + 15777000
        )

    # -- GitHub ------------------------------------------------------------------------------------
    def _github(self, method: str, host: str, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        if host == "github.com" and path == "/login/oauth/authorize":
            return self._authorize("github", query)
        if host == "github.com" and path == "/login/oauth/access_token" and method == "POST":
            grant = self._token_grant("github", form)
            if grant is None or form.get("client_secret") != self.standins.clients["github"]["client_secret"]:
                # GitHub answers 200 with an error body.
                return self._send(
                    200,
                    {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."},
                )
            token = "gho_" + secrets.token_urlsafe(12)
            self.standins.codes["token:" + token] = {"provider": "github", "user": grant["user"]}
            return self._send(200, {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})
        if host == "api.github.com":
            auth = self.headers.get("Authorization", "")
            grant = self.standins.codes.get("token:" + auth.partition(" ")[2])
            if grant is None or not auth.lower().startswith("bearer "):
                return self._send(401, {"message": "Bad credentials"})
            user = grant["user"]
            if path == "/user":
                return self._send(200, {k: v for k, v in user.items() if k != "emails"})
            if path == "/user/emails":
                return self._send(200, user.get("emails", []))
        return self._send(404, {"message": "Not Found"})

    # -- Facebook ----------------------------------------------------------------------------------
    def _facebook(self, method: str, host: str, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        client = self.standins.clients["facebook"]
        if host == "www.facebook.com" and path == "/v11.0/dialog/oauth":
            return self._authorize("facebook", query)
        if path == "/v11.0/oauth/access_token":
            grant = self._token_grant("facebook", form or query)
            if grant is None or (form or query).get("client_secret") != client["client_secret"]:
                err = {"message": "Invalid verification code format.", "type": "OAuthException", "code": 100}
                return self._send(400, {"error": err})
            token = "EAA" + secrets.token_urlsafe(12)
            self.standins.codes["token:" + token] = {"provider": "facebook", "user": grant["user"]}
            return self._send(200, {"access_token": token, "token_type": "bearer", "expires_in": 5183944})
        if path == "/v11.0/me":
            token = self.headers.get("Authorization", "").partition(" ")[2]
            grant = self.standins.codes.get("token:" + token)
            proof = hmac.new(client["client_secret"].encode(), token.encode(), hashlib.sha256).hexdigest()
            if grant is None or query.get("appsecret_proof") != proof:
                return self._send(
                    400, {"error": {"message": "Invalid appsecret_proof", "type": "GraphMethodException"}}
                )
            fields = query.get("fields", "id").split(",")
            return self._send(200, {k: v for k, v in grant["user"].items() if k in fields})
        return self._send(404, {"error": {"message": "Unknown path"}})

    # -- Microsoft Entra ID --------------------------------------------------------------------------
    def _azureadv2(self, method: str, host: str, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        parts = path.strip("/").split("/", 1)
        tenant, rest = parts[0], "/" + (parts[1] if len(parts) > 1 else "")
        base = f"https://login.microsoftonline.com/{tenant}"
        issuer = f"https://login.microsoftonline.com/{self.standins.clients['azureadv2'].get('tid', tenant)}/v2.0"
        if rest == "/v2.0/.well-known/openid-configuration":
            return self._send(
                200,
                {
                    "issuer": issuer,
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "code_challenge_methods_supported": ["plain", "S256"],
                },
            )
        if rest == "/oauth2/v2.0/authorize":
            return self._authorize("azureadv2", query)
        if rest == "/discovery/v2.0/keys":
            return self._send(200, self.standins.jwks())
        if rest == "/oauth2/v2.0/token" and method == "POST":
            grant = self._token_grant("azureadv2", form)
            if grant is None or form.get("client_secret") != self.standins.clients["azureadv2"]["client_secret"]:
                return self._send(400, {"error": "invalid_grant", "error_description": "AADSTS70008: expired code."})
            claims = {"iss": issuer, "aud": form["client_id"], "ver": "2.0", **grant["user"]}
            if grant["query"].get("nonce"):
                claims["nonce"] = grant["query"]["nonce"]
            body = {"token_type": "Bearer", "scope": "openid profile email", "expires_in": "3599"}
            return self._send(200, {**body, "access_token": "eyJ0", "id_token": self.standins.id_token(claims)})
        return self._send(404, {"error": "not_found"})

    # -- LinkedIn (Sign In with LinkedIn using OpenID Connect) ---------------------------------------
    def _linkedin(self, method: str, host: str, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        client = self.standins.clients["linkedin"]
        if host == "www.linkedin.com" and path == "/oauth/.well-known/openid-configuration":
            return self._send(
                200,
                {
                    "issuer": "https://www.linkedin.com/oauth",
                    "authorization_endpoint": "https://www.linkedin.com/oauth/v2/authorization",
                    "token_endpoint": "https://www.linkedin.com/oauth/v2/accessToken",
                    "userinfo_endpoint": "https://api.linkedin.com/v2/userinfo",
                    "jwks_uri": "https://www.linkedin.com/oauth/openid/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "profile", "email"],
                },
            )
        if path == "/oauth/v2/authorization":
            return self._authorize("linkedin", query)
        if path == "/oauth/openid/jwks":
            return self._send(200, self.standins.jwks())
        if path == "/oauth/v2/accessToken" and method == "POST":
            grant = self._token_grant("linkedin", form)
            if grant is None or form.get("client_secret") != client["client_secret"]:
                error = {"error": "invalid_request", "error_description": "Unable to retrieve access token"}
                return self._send(400, error)
            user = grant["user"]
            claims = {"iss": "https://www.linkedin.com/oauth", "aud": client["client_id"], "sub": user["sub"]}
            if grant["query"].get("nonce"):
                claims["nonce"] = grant["query"]["nonce"]
            token = "AQV" + secrets.token_urlsafe(16)
            self.standins.codes["token:" + token] = grant
            body = {"access_token": token, "expires_in": 5183999, "scope": "email,openid,profile"}
            body["token_type"] = "Bearer"
            return self._send(200, {**body, "id_token": self.standins.id_token(claims)})
        if host == "api.linkedin.com" and path == "/v2/userinfo":
            token = self.headers.get("Authorization", "").partition(" ")[2]
            grant = self.standins.codes.get("token:" + token)
            if grant is None:
                return self._send(401, {"serviceErrorCode": 65600, "message": "Invalid access token", "status": 401})
            return self._send(200, grant["user"])
        return self._send(404, {"message": "Not Found", "status": 404})

    # -- Azure AD B2C --------------------------------------------------------------------------------
    def _azureadb2c(self, method: str, host: str, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        client = self.standins.clients["azureadb2c"]
        base = f"https://{B2C_HOST}/{B2C_TENANT}.onmicrosoft.com/{client['policy']}"
        issuer = f"https://{B2C_HOST}/{client['tenant_id']}/v2.0/"
        prefix = f"/{B2C_TENANT}.onmicrosoft.com/{client['policy']}"
        if not path.startswith(prefix):
            return self._send(404, {"error": "AADB2C90008: The request does not contain a valid policy"})
        rest = path[len(prefix) :]
        if rest == "/v2.0/.well-known/openid-configuration":
            return self._send(
                200,
                {
                    "issuer": issuer,
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "code id_token", "id_token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )
        if rest == "/oauth2/v2.0/authorize":
            return self._authorize("azureadb2c", query)
        if rest == "/discovery/v2.0/keys":
            return self._send(200, self.standins.jwks())
        if rest == "/oauth2/v2.0/token" and method == "POST":
            grant = self._token_grant("azureadb2c", form)
            if grant is None or form.get("client_secret") != client["client_secret"]:
                return self._send(400, {"error": "invalid_grant", "error_description": "AADB2C90080: expired grant."})
            claims = {"iss": issuer, "aud": form["client_id"], "ver": "1.0", "tfp": client["policy"], **grant["user"]}
            if grant["query"].get("nonce"):
                claims["nonce"] = grant["query"]["nonce"]
            body = {"token_type": "Bearer", "not_before": int(time.time()), "id_token_expires_in": 3600}
            return self._send(200, {**body, "id_token": self.standins.id_token(claims)})
        return self._send(404, {"error": "not_found"})
