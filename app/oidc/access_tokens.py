"""Access tokens: opaque by default, JWT (RFC 9068) when the client sets `issue_jwt_access_token`.

Opaque tokens are 32 characters of [A-Za-z0-9]; only their SHA-256 is stored (`access_tokens`).

JWT access tokens (the resolver validates them from memory; see app/oidc/README.md):

    header  {"alg": "RS256", "typ": "at+jwt", "kid": <kid of the signing key in /oauth2/jwks>}

    user tokens (authorization_code, refresh_token):
      iss        the issuer, `http.public_origin`
      aud        [`http.public_origin`]
      sub        the user ID
      client_id  the client the token was issued to
      scope      granted scopes, space separated
      iat, exp   issue and expiry times (unix seconds); exp = iat + access_token_lifetime_seconds
      auth_time  when the user authenticated (unix seconds)
      amr        authentication methods (omitted when empty)
      jti        SHA-256 hex of the token's opaque twin, the `access_tokens.token_hash` of its row
      sid        the session: base64url("offline_grant:<id>") or base64url("idp:<id>")
      https://authgear.com/claims/user/{is_anonymous,is_verified,can_reauthenticate,roles}

    client tokens (client_credentials):
      iss, iat, exp, jti, client_id, scope (as above; an empty string when the client has no scope
                 on the resource, as Authgear writes it)
      aud        [the `resource` URI the client asked for, a resource registered with the Admin API]
      sub        `client_id_<client id>`

A JWT access token is valid while its signature verifies with a key of /oauth2/jwks, `iss` is ours,
`typ` is `at+jwt` and `exp` is in the future. Revocation deletes the `access_tokens` row named by
`jti`, so a verifier that wants revocation to take effect before `exp` looks the row up.

Client tokens are not stored, as in Authgear (TokenService.IssueClientCredentialsAccessToken): no
user is behind them, the resolver and UserInfo refuse them, and a resource server verifies them with
/oauth2/jwks until `exp`; `/oauth2/revoke` answers 200 for them and they stay valid until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from app.crypto import random_alnum, sha256_hex
from app.db import Clock, new_id
from app.extensions import db
from app.hooks.effects import token_claims
from app.oidc.clients import OAuthClient
from app.oidc.keys import SigningKeys
from app.sessions.models import AccessToken

JWT_TYP = "at+jwt"
_INSERT = AccessToken.__table__.insert()
MAX_TOKEN_LENGTH = 16 * 1024


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    id: str | None  # of its `access_tokens` row; None for a client token (not stored)
    expires_in: int


@dataclass(frozen=True)
class StoredToken:
    """The `access_tokens` row of a token, as far as revoking it needs."""

    token_hash: str
    client_id: str
    user_id: str | None


class AccessTokenService:
    def __init__(self, keys: SigningKeys, issuer: str, clock: Clock) -> None:
        self.keys = keys
        self.issuer = issuer
        self.clock = clock

    def issue_for_user(
        self,
        *,
        client: OAuthClient,
        user_id: str,
        scopes: list[str],
        offline_grant_id: str | None,
        idp_session_id: str | None,
        sid: str,
        auth_time: datetime,
        amr: list[str],
        user_claims: dict[str, Any] | None = None,
    ) -> IssuedAccessToken:
        opaque, token_hash, token_id, now = self._store(client, user_id, scopes, offline_grant_id, idp_session_id)
        if not client.issues_jwt_access_tokens:
            return IssuedAccessToken(opaque, token_id, client.access_token_lifetime)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [self.issuer],
            "sub": user_id,
            "client_id": client.client_id,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + client.access_token_lifetime,
            "auth_time": int(auth_time.timestamp()),
            "jti": token_hash,
            "sid": sid,
        }
        if amr:
            claims["amr"] = list(amr)
        claims.update(user_claims or {})
        claims = token_claims("jwt", user_id, claims, None)  # oidc.jwt.pre_create may add claims
        return IssuedAccessToken(self.keys.sign(claims, typ=JWT_TYP), token_id, client.access_token_lifetime)

    def issue_for_client(self, client: OAuthClient, resource: str, scopes: list[str]) -> IssuedAccessToken:
        """client_credentials (RFC 6749 section 4.4) for a resource (RFC 8707); not stored."""
        opaque = random_alnum(32)
        if not client.issues_jwt_access_tokens:
            return IssuedAccessToken(opaque, None, client.access_token_lifetime)
        token_hash, now = sha256_hex(opaque), int(self.clock().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [resource],
            "sub": f"client_id_{client.client_id}",
            "client_id": client.client_id,
            "iat": now,
            "exp": now + client.access_token_lifetime,
            "jti": token_hash,
            "scope": " ".join(scopes),
        }
        return IssuedAccessToken(self.keys.sign(claims, typ=JWT_TYP), None, client.access_token_lifetime)

    def _store(
        self,
        client: OAuthClient,
        user_id: str,
        scopes: list[str],
        offline_grant_id: str | None,
        idp_session_id: str | None,
    ) -> tuple[str, str, str, int]:
        """Insert the row; (opaque token, its hash, row ID, issue time). A Core INSERT on the session's
        connection: the token path writes one row per request and the unit of work costs more than the write."""
        opaque = random_alnum(32)
        token_hash = sha256_hex(opaque)
        created = self.clock()
        token_id = new_id()
        db.session.flush()  # the grant or session the row refers to, when it is new
        db.session.connection().execute(
            _INSERT,
            {
                "id": token_id,
                "token_hash": token_hash,
                "client_id": client.client_id,
                "user_id": user_id,
                "offline_grant_id": offline_grant_id,
                "idp_session_id": idp_session_id,
                "scopes": list(scopes),
                "created_at": created,
                "expires_at": created + timedelta(seconds=client.access_token_lifetime),
            },
        )
        return opaque, token_hash, token_id, int(created.timestamp())

    def find(self, token: str) -> AccessToken | None:
        """The stored row of an opaque or JWT access token that has not expired; None otherwise."""
        token_hash = self.hash_of(token)
        if token_hash is None:
            return None
        row = db.session.scalar(select(AccessToken).where(AccessToken.token_hash == token_hash))
        if row is None or row.expires_at <= self.clock():
            return None
        return row

    def to_revoke(self, token: str) -> StoredToken | None:
        """Who holds the stored row of an access token, expired or not; None for an unknown token."""
        token_hash = self.hash_of(token)
        if token_hash is None:
            return None
        found = db.session.execute(
            select(AccessToken.client_id, AccessToken.user_id).where(AccessToken.token_hash == token_hash)
        ).first()
        return StoredToken(token_hash, found.client_id, found.user_id) if found else None

    @staticmethod
    def revoke_stored(found: StoredToken) -> None:
        users = [found.user_id] if found.user_id else []  # a client's own token resolves no user
        db.session.execute(
            delete(AccessToken).where(AccessToken.token_hash == found.token_hash).execution_options(changes_users=users)
        )

    def hash_of(self, token: str) -> str | None:
        """The `token_hash` an access token is stored under: SHA-256 of an opaque token, `jti` of a
        JWT whose signature, `typ`, `iss` and `exp` are valid; None for anything else."""
        if not token or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            return None
        if token.count(".") != 2:
            return sha256_hex(token)
        verified = self.keys.verify(token)
        if verified is None:
            return None
        header, claims = verified
        exp = claims.get("exp")
        if (
            header.get("typ") != JWT_TYP
            or claims.get("iss") != self.issuer
            or not isinstance(exp, int | float)
            or exp <= self.clock().timestamp()
            or not isinstance(claims.get("jti"), str)
        ):
            return None
        return claims["jti"]
