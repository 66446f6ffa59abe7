"""authlib's authorization server, wired to Gatehouse's clients and grants (one per app)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Error, OAuth2Payload, OAuth2Request
from flask import Request, Response, request
from werkzeug.datastructures import Headers

from app.context import RequestContext
from app.oidc import token_rate_limits
from app.oidc.app2app import App2AppRequestGrant
from app.oidc.biometric import BiometricRequestGrant
from app.oidc.clients import OAuthClient
from app.oidc.device_grants import AnonymousRequestGrant
from app.oidc.grants import (
    ClientCredentials,
    CodeGrant,
    IdTokenGrant,
    RefreshGrant,
    S256CodeChallenge,
    SettingsActionGrant,
    reject_repeated_parameters,
)
from app.oidc.issuance import TokenIssuance
from app.oidc.pre_authenticated_urls import TokenExchangeGrant
from app.oidc.provider import OIDCProvider
from app.transport import request_context


class _FormPayload(OAuth2Payload):
    """Token requests carry their parameters in the form body only (RFC 6749 section 4.1.3)."""

    def __init__(self, req: Request) -> None:
        self._request = req

    @property
    def data(self) -> object:
        return self._request.form

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {k: self._request.form.getlist(k) for k in self._request.form}


def _basic_credentials_ignored(req: Request) -> bool:
    """A client secret in the body wins over a Basic header, as in Authgear's token handler: the
    header is then someone else's (a proxy's). Unlike Authgear, a body with `client_id` alone keeps
    the header, so that clients sending both their ID in the body and Basic credentials still work."""
    scheme = (req.headers.get("Authorization") or "").partition(" ")[0]
    return scheme.lower() == "basic" and bool(req.form.get("client_secret"))


class _TokenRequest(FlaskOAuth2Request):
    def __init__(self, req: Request, uri: str) -> None:
        headers: Any = req.headers
        if _basic_credentials_ignored(req):
            headers = Headers([(k, v) for k, v in req.headers.items() if k.lower() != "authorization"])
        # authlib refuses plain-http URIs except on loopback; the URI it checks is the public one,
        # not whatever address the proxy in front used to reach this process.
        OAuth2Request.__init__(self, method=req.method, uri=uri, headers=headers)
        self._request = req
        self.payload = _FormPayload(req)


class GatehouseAuthorizationServer(AuthorizationServer):
    def __init__(self, provider: OIDCProvider) -> None:
        super().__init__()
        self.provider = provider
        self.issuance = TokenIssuance(provider)
        self.register_grant(CodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshGrant)
        self.register_grant(ClientCredentials)
        self.register_grant(IdTokenGrant)
        self.register_grant(SettingsActionGrant)
        self.register_grant(AnonymousRequestGrant)
        self.register_grant(BiometricRequestGrant)
        self.register_grant(App2AppRequestGrant)
        self.register_grant(TokenExchangeGrant)

    def query_client(self, client_id: str) -> OAuthClient | None:
        return self.provider.clients.get(client_id)

    def save_token(self, token: dict, req: OAuth2Request) -> None:
        raise NotImplementedError("Gatehouse grants store their own tokens")

    def create_oauth2_request(self, req: object = None) -> OAuth2Request:
        return _TokenRequest(request, self.provider.issuer + request.path)

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        """No signals: Gatehouse writes audit rows where tokens are issued."""

    @staticmethod
    def request_context() -> RequestContext:
        return request_context()

    def token_response(self) -> Response:
        """The token endpoint: OAuth errors as JSON (RFC 6749 section 5.2), never an exception."""
        try:
            token_rate_limits.per_ip(self.provider, request_context().ip)
            if not _basic_credentials_ignored(request):
                check_basic_header(request.headers.get("Authorization"))
            reject_repeated_parameters(request.form)
            return self.create_token_response()
        except OAuth2Error as error:
            return self.handle_error_response(None, error)


def check_basic_header(value: str | None) -> None:
    """authlib lets some malformed Authorization headers escape as exceptions (a scheme with only
    blanks after it, Basic credentials that are not base64 of UTF-8); say `invalid_client`
    instead (RFC 6749 section 2.3.1)."""
    if not value or " " not in value:
        return
    parts = value.split(None, 1)
    if len(parts) < 2:
        raise InvalidClientError(status_code=401, description="malformed Authorization header")
    if parts[0].lower() != "basic":
        return
    try:
        base64.b64decode(parts[1], validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClientError(status_code=401, description="malformed Basic credentials") from None
