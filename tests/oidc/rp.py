"""The relying-party side of the live tests: a `requests` browser holding the IdP session cookie,
discovery, and ID token verification with the provider's JWKS."""

from __future__ import annotations

from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oidc.helpers import query_of


class Browser:
    """A user agent with an IdP session cookie for the live server."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.http = requests.Session()

    def log_in(self, user: Any = None) -> Any:
        """What the hosted pages leave behind after a login: an IdP session cookie."""
        user, token = self.server.new_session(user)
        self.http.cookies.set("session", token, domain="127.0.0.1", path="/")
        return user

    def start(self, url: str) -> requests.Response:
        return self.http.get(url, allow_redirects=False)

    def consent(self, location: str) -> requests.Response:
        """Where the flow engine sends the browser when the login finishes."""
        x_ref = query_of(location)["x_ref"]
        return self.http.get(f"{self.server.url}/oauth2/consent", params={"x_ref": x_ref}, allow_redirects=False)

    def authorize(self, url: str) -> str:
        """Follows authorize → (login) → consent; returns the redirect back to the client."""
        resp = self.start(url)
        assert resp.status_code == 302, resp.text
        location = resp.headers["Location"]
        if location.startswith("/login?"):
            self.log_in()
        done = self.consent(location)
        assert done.status_code == 302, done.text
        return done.headers["Location"]


def discover(server: Any) -> dict[str, Any]:
    return requests.get(f"{server.url}/.well-known/openid-configuration", timeout=5).json()


def verify_id_token(server: Any, id_token: str, audience: str, nonce: str | None = None) -> Any:
    """Signature by a JWKS key named by `kid`, and iss, aud, exp, iat (OIDC Core 3.1.3.7)."""
    keys = KeySet.import_key_set(requests.get(discover(server)["jwks_uri"], timeout=5).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert token.header["kid"] in {k.kid for k in keys.keys}
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": server.url},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(token.claims)
    if nonce is not None:
        assert token.claims["nonce"] == nonce
    return token
