"""ID tokens (OIDC Core 2, contract 1.7) and the `sid` claim (contract 0.4).

RS256 with the first `oauth` key and its `kid`, five minutes of life. Claims: iss, aud (client ID),
iat, exp, sub, auth_time, sid, amr (when not empty), nonce (when sent), ds_hash (the device secret's
hash, when the grant has one), Authgear's four user claims,
and standard attributes for clients allowed personal data, limited by the granted scopes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.crypto import b64url, b64url_decode
from app.db import Clock
from app.hooks.effects import token_claims
from app.identities.models import User
from app.oidc.claims import ClaimsService, UserFacts
from app.oidc.clients import OAuthClient
from app.oidc.keys import SigningKeys

ID_TOKEN_LIFETIME = 300  # seconds (Authgear's duration.Short)
SID_IDP = "idp"
SID_OFFLINE_GRANT = "offline_grant"


def encode_sid(kind: str, session_id: str) -> str:
    """base64url (no padding) of `<kind>:<id>`, kind `idp` or `offline_grant`."""
    return b64url(f"{kind}:{session_id}".encode())


def decode_sid(sid: object) -> tuple[str, str] | None:
    if not isinstance(sid, str) or not sid or len(sid) > 200:
        return None
    try:
        kind, _, session_id = b64url_decode(sid).decode().partition(":")
    except ValueError:
        return None
    if kind not in (SID_IDP, SID_OFFLINE_GRANT) or not session_id:
        return None
    return kind, session_id


@dataclass(frozen=True)
class IdTokenHint:
    """A verified `id_token_hint`: signed by us, for this issuer, with a subject and a session."""

    sub: str
    sid_kind: str
    sid_id: str
    audience: tuple[str, ...]


class IdTokenIssuer:
    def __init__(self, keys: SigningKeys, claims: ClaimsService, issuer: str, clock: Clock) -> None:
        self.keys = keys
        self.claims = claims
        self.issuer = issuer
        self.clock = clock

    def issue(
        self,
        *,
        client: OAuthClient,
        user: User,
        sid: str,
        auth_time: datetime,
        amr: list[str],
        scopes: list[str],
        nonce: str | None = None,
        facts: UserFacts | None = None,
        ds_hash: str | None = None,
    ) -> str:
        """`ds_hash`: the grant's device secret hash (device SSO), when it has one."""
        now = int(self.clock().timestamp())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME,
            "sub": user.id,
            "auth_time": int(auth_time.timestamp()),
            "sid": sid,
        }
        if amr:
            payload["amr"] = list(amr)
        if nonce:
            payload["nonce"] = nonce
        if ds_hash:
            payload["ds_hash"] = ds_hash
        for key, value in self.claims.id_token_claims(user, client, scopes, facts).items():
            payload.setdefault(key, value)
        payload = token_claims("id_token", user, payload, None)  # oidc.id_token.pre_create may add claims
        return self.keys.sign(payload)

    def verify_hint(self, token: str) -> IdTokenHint | None:
        """Verifies an `id_token_hint`. Expiry is not checked: a hint is used after its five minutes
        (OIDC Core 3.1.2.1 lets the OP accept expired hints)."""
        verified = self.keys.verify(token)
        if verified is None:
            return None
        _, claims = verified
        sid = decode_sid(claims.get("sid"))
        sub = claims.get("sub")
        if claims.get("iss") != self.issuer or not isinstance(sub, str) or not sub or sid is None:
            return None
        aud = claims.get("aud")
        audience = tuple(a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str))
        return IdTokenHint(sub=sub, sid_kind=sid[0], sid_id=sid[1], audience=audience)
