"""authlib grants of the token endpoint, on Gatehouse's own models.

authlib does the protocol checks (client authentication, grant type allowed, code bound to the
client and redirect URI, PKCE verifier, refresh token bound to the client, requested scope within
the granted one); `TokenIssuance` decides what is issued.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    TokenMixin,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    BaseGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    TokenEndpointMixin,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge

from app.extensions import db
from app.identities.models import User
from app.oidc import token_rate_limits
from app.oidc.claims import UserFacts
from app.oidc.clients import ID_TOKEN_GRANT, SETTINGS_ACTION_GRANT, OAuthClient
from app.oidc.codes import CodeRecord
from app.oidc.offline_grants import RefreshStatus
from app.oidc.scopes import parse_scope
from app.resources.service import ResourceNotAssociatedWithClient, ResourceNotFound, ResourceService
from app.sessions.models import OfflineGrant

if TYPE_CHECKING:
    from app.oidc.server import GatehouseAuthorizationServer

# Every grant a user client uses accepts these; authlib tries them in this order.
USER_CLIENT_AUTH = ["client_secret_basic", "client_secret_post", "none"]


class InvalidTargetError(OAuth2Error):
    """RFC 8707 section 2: the resource is missing, malformed or not acceptable."""

    error = "invalid_target"


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (RFC 7636); `plain` is refused at the authorization endpoint as well."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}


class _GatehouseGrant:
    server: GatehouseAuthorizationServer
    request: Any

    def active_user(self, user_id: str | None) -> User | None:
        return self.active(db.session.get(User, user_id) if user_id else None)

    def active(self, user: User | None) -> User | None:
        """The user when they may use tokens now; None otherwise."""
        provider = self.server.provider
        return user if provider.claims.is_active(user, provider.clock()) else None


class CodeGrant(_GatehouseGrant, AuthorizationCodeGrant):
    """RFC 6749 section 4.1.3; the authorization side is Gatehouse's own (app.oidc.authz_request)."""

    TOKEN_ENDPOINT_AUTH_METHODS = USER_CLIENT_AUTH
    RESPONSE_TYPES: set[str] = set()

    def query_authorization_code(self, code: str, client: OAuthClient) -> CodeRecord | None:
        codes = self.server.provider.codes
        row = codes.find(code)
        if row is None or (row.extra or {}).get("settings_action"):
            return None  # a settings-action code proves an action; it buys no tokens
        if row.used_at is not None:
            # RFC 6749 section 4.1.2: a code used twice revokes what it issued.
            codes.revoke_issued(row)
            return None
        if row.client_id != client.client_id or codes.is_expired(row):
            return None
        return CodeRecord(row)

    def authenticate_user(self, authorization_code: CodeRecord) -> User | None:
        return self.active_user(authorization_code.row.user_id)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        record: CodeRecord = self.request.authorization_code
        client: OAuthClient = self.request.client
        user = self.authenticate_user(record)
        if user is None:
            raise InvalidGrantError("invalid authorization code")
        token_rate_limits.per_user(self.server.provider, user.id)
        from app.oidc import app2app  # app2app builds on this module's neighbours

        # Authgear checks `x_app2app_device_key_jwt` before issuing; the key goes to the new grant.
        device_key = app2app.device_key_of_code_request(self.server.provider, client, self.request.form)
        codes = self.server.provider.codes
        if not codes.consume(record.row):
            codes.revoke_issued(record.row)
            raise InvalidGrantError("invalid authorization code")
        body = self.server.issuance.for_code(client, record.row, user, self.server.request_context())
        app2app.bind_after_code(record.row, device_key)
        return 200, body, self.TOKEN_RESPONSE_HEADER


class RefreshRecord(TokenMixin):
    def __init__(self, grant: OfflineGrant, token_hash: str, user: User | None, facts: UserFacts | None) -> None:
        self.grant = grant
        self.token_hash = token_hash
        self.user = user
        self.facts = facts

    def check_client(self, client: OAuthClient) -> bool:
        return self.grant.client_id == client.client_id

    def get_scope(self) -> str:
        return " ".join(self.grant.scopes or [])


class RefreshGrant(_GatehouseGrant, RefreshTokenGrant):
    """RFC 6749 section 6, with rotation and reuse detection (RFC 9700 section 4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = USER_CLIENT_AUTH

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        check = self.server.provider.offline_grants.check(refresh_token, self.request.client)
        if check.status is not RefreshStatus.OK or check.grant is None or check.token_hash is None:
            return None
        return RefreshRecord(check.grant, check.token_hash, check.user, check.facts)

    def authenticate_user(self, refresh_token: RefreshRecord) -> User | None:
        return self.active(refresh_token.user)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        record: RefreshRecord = self.request.refresh_token
        user = self.authenticate_user(record)
        if user is None:
            raise InvalidGrantError("invalid refresh token")
        token_rate_limits.per_user(self.server.provider, user.id)
        scopes = parse_scope(self.request.payload.scope) or list(record.grant.scopes or [])
        body = self.server.issuance.for_refresh(
            self.request.client,
            record.grant,
            record.token_hash,
            scopes,
            user,
            self.server.request_context(),
            facts=record.facts,
        )
        return 200, body, self.TOKEN_RESPONSE_HEADER


class ClientCredentials(_GatehouseGrant, ClientCredentialsGrant):
    """RFC 6749 section 4.4 for `confidential` and `m2m` clients, as Authgear's handleClientCredentials:
    the `resource` (RFC 8707) must be a resource registered with the Admin API and linked to the
    client, and the scopes asked for must be among the client's scopes on it; without `scope` the
    token carries all of them. Error descriptions are Authgear's."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        client_id, _ = extract_basic_authorization(self.request.headers)
        client = self.server.query_client(self.request.form.get("client_id") or client_id or "")
        if client is not None and client.check_grant_type(self.GRANT_TYPE):
            token_rate_limits.client_credentials(self.server.provider, client.client_id)  # before the secret
        # Authgear checks the resource's presence before the client secret.
        if not self.request.form.get("resource"):
            raise InvalidTargetError("resource is required")
        super().validate_token_request()
        client: OAuthClient = self.request.client
        resource_uri = self.request.form["resource"]
        provider = self.server.provider
        if resource_uri.startswith(provider.issuer):
            raise InvalidTargetError("resource URI must not be a prefixed by authgear endpoint")
        try:
            resource = ResourceService.grantable(client.client_id, resource_uri)  # one statement
        except ResourceNotFound:
            raise InvalidTargetError("resource not found") from None
        except ResourceNotAssociatedWithClient:
            raise InvalidTargetError("client is not associated with the resource") from None
        allowed = resource.scopes
        requested = parse_scope(self.request.payload.scope)
        for scope in requested:
            if scope not in allowed:
                raise InvalidScopeError(f"specified scope is not allowed: {scope}")
        self.request.resource = resource
        self.request.granted_scopes = requested or allowed

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        body = self.server.issuance.for_client(
            self.request.client,
            self.request.resource.uri,
            self.request.granted_scopes,
            self.server.request_context(),
        )
        return 200, body, self.TOKEN_RESPONSE_HEADER


class IdTokenGrant(_GatehouseGrant, BaseGrant, TokenEndpointMixin):
    """`urn:authgear:params:oauth:grant-type:id-token`: a fresh ID token for the session of the
    bearer access token, for first-party public clients and their own access tokens (contract 1.4)."""

    GRANT_TYPE = ID_TOKEN_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = USER_CLIENT_AUTH

    def validate_token_request(self) -> None:
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE) or not client.full_access_allowed:
            raise UnauthorizedClientError("this client may not refresh id token")
        self.request.client = client

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        auth = self.request.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        access = None
        if scheme.lower() == "bearer" and token.strip():
            access = self.server.provider.resolve_access_token(token.strip())
        # The token must have been issued to this very client: any app holding a user's access token
        # (a third-party app's included) could otherwise mint this client's ID tokens, with its `aud`
        # and the user's `sid`, and pass them as `id_token_hint`. A foreign token is answered like a
        # missing one (Authgear's error when the grant has no session), saying nothing about it.
        if access is None or access.client.client_id != self.request.client.client_id:
            raise InvalidGrantError("valid session is required", status_code=401)
        token_rate_limits.per_user(self.server.provider, access.user.id)
        device_secret = self.request.form.get("device_secret")
        body = self.server.issuance.id_token_only(self.request.client, access, device_secret)
        return 200, body, self.TOKEN_RESPONSE_HEADER


class SettingsActionGrant(_GatehouseGrant, BaseGrant, TokenEndpointMixin):
    """`urn:authgear:params:oauth:grant-type:settings-action` (contract 1.4, 1.8): the app exchanges the
    code the settings page sent back, proving the action was done. One use, bound to the client, the
    redirect URI and the PKCE challenge (RFC 7636 section 4.6) like an authorization code; the answer
    is an empty JSON object."""

    GRANT_TYPE = SETTINGS_ACTION_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = USER_CLIENT_AUTH

    def validate_token_request(self) -> None:
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("this client may not use the settings-action grant")
        form = self.request.form
        code, redirect_uri, verifier = form.get("code"), form.get("redirect_uri"), form.get("code_verifier")
        if not code:
            raise InvalidRequestError("missing 'code' in request")
        if not redirect_uri:
            raise InvalidRequestError("missing 'redirect_uri' in request")
        codes = self.server.provider.codes
        row = codes.find(code)
        if (
            row is None
            or not (row.extra or {}).get("settings_action")
            or row.used_at is not None
            or row.client_id != client.client_id
            or codes.is_expired(row)
            or row.redirect_uri != redirect_uri
        ):
            raise InvalidGrantError("invalid settings action code")
        if row.code_challenge:
            if not verifier or len(verifier) > 128 or not compare_s256_code_challenge(verifier, row.code_challenge):
                raise InvalidGrantError("invalid code_verifier")
        elif client.is_public or verifier:
            raise InvalidGrantError("invalid code_verifier")
        self.request.client = client
        self.request.settings_action_code = row

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        row = self.request.settings_action_code
        token_rate_limits.per_user(self.server.provider, row.user_id)
        if not self.server.provider.codes.consume(row):
            raise InvalidGrantError("invalid settings action code")
        return 200, {}, self.TOKEN_RESPONSE_HEADER


def reject_repeated_parameters(form: Any) -> None:
    """RFC 6749 section 3.2: request parameters must not be repeated."""
    for name in form:
        if len(form.getlist(name)) > 1:
            raise InvalidRequestError("repeated parameter")
