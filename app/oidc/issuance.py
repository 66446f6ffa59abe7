"""What the token endpoint hands out for each grant (RFC 6749 section 5.1, contract 1.4).

- authorization_code: an access token; a refresh token when `offline_access` was granted and the
  client may refresh; an ID token when `openid` was granted. The access token belongs to a new
  offline grant (refresh token, or any confidential client) or else to the IdP session that made the
  code. The code row records what was issued so a replay can revoke it.
- refresh_token: a new access token (and ID token); a new refresh token only with rotation.
- client_credentials: an access token for the client itself, aimed at one registered resource
  (RFC 8707) with scopes the client was given on it (app.resources).
- Admin API createSession: a new offline grant for a user and a first-party client, as after a login.
- Authgear's id-token grant: a fresh ID token for the session behind a bearer token.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError

from app.context import RequestContext
from app.extensions import db
from app.identities.models import User
from app.oidc import device_secrets
from app.oidc.claims import UserFacts
from app.oidc.clients import OAuthClient
from app.oidc.id_token import SID_IDP, SID_OFFLINE_GRANT, encode_sid
from app.oidc.provider import AccessContext, OIDCProvider
from app.oidc.scopes import FULL_ACCESS, OFFLINE_ACCESS, OPENID
from app.sessions.models import IdPSession, OAuthCode, OfflineGrant

# Authgear's OAuthFacade.CreateSession: the session may do what the user's own app session may.
ADMIN_SESSION_SCOPES = [OPENID, OFFLINE_ACCESS, FULL_ACCESS]


def _body(token: str, expires_in: int, scopes: list[str]) -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": " ".join(scopes)}


class TokenIssuance:
    def __init__(self, provider: OIDCProvider) -> None:
        self.p = provider

    def for_code(self, client: OAuthClient, code: OAuthCode, user: User, ctx: RequestContext) -> dict[str, Any]:
        p = self.p
        scopes = list(code.scopes or [])
        wants_refresh = OFFLINE_ACCESS in scopes and client.check_grant_type("refresh_token")
        grant: OfflineGrant | None = None
        refresh_token = None
        session_id = None
        # A code without an IdP session (x_suppress_idp_session_cookie) always gets an offline grant
        # to hang its tokens on, returning its refresh token only when one was asked for (Authgear).
        if wants_refresh or not client.is_public or (code.extra or {}).get("sessionless"):
            grant, refresh_token = p.offline_grants.create(
                client=client,
                user_id=user.id,
                scopes=scopes,
                idp_session_id=code.idp_session_id,
                auth_time=code.auth_time,
                amr=list(code.amr or []),
                ctx=ctx,
            )
            sid = encode_sid(SID_OFFLINE_GRANT, grant.id)
        else:
            session = db.session.get(IdPSession, code.idp_session_id) if code.idp_session_id else None
            if session is None or not p.svc.sessions.is_live(session):
                raise InvalidGrantError("invalid authorization code")
            session_id = session.id
            sid = encode_sid(SID_IDP, session.id)
        access = p.access_tokens.issue_for_user(
            client=client,
            user_id=user.id,
            scopes=scopes,
            offline_grant_id=grant.id if grant else None,
            idp_session_id=session_id,
            sid=sid,
            auth_time=code.auth_time,
            amr=list(code.amr or []),
            user_claims=self._jwt_user_claims(client, user),
        )
        p.codes.record_issued(code, access.id, grant.id if grant else None)
        body = _body(access.token, access.expires_in, scopes)
        ds_hash = None
        if wants_refresh and refresh_token:
            body["refresh_token"] = refresh_token
            if grant is not None and device_secrets.wants_device_secret(scopes):
                ds_hash = device_secrets.issue(grant, body)
        if OPENID in scopes:
            body["id_token"] = p.id_tokens.issue(
                client=client,
                user=user,
                sid=sid,
                auth_time=code.auth_time,
                amr=list(code.amr or []),
                scopes=scopes,
                nonce=code.nonce,
                ds_hash=ds_hash,
            )
        p.svc.audit.write("oauth.token.issued", ctx, user.id, {"client_id": client.client_id, "grant": "code"})
        return body

    def for_refresh(
        self,
        client: OAuthClient,
        grant: OfflineGrant,
        token_hash: str,
        scopes: list[str],
        user: User,
        ctx: RequestContext,
        facts: UserFacts | None = None,
    ) -> dict[str, Any]:
        """`facts`: the user's facts, read with the grant."""
        p = self.p
        new_refresh_token = None
        if client.rotates_refresh_tokens:
            new_refresh_token = p.offline_grants.rotate(grant, token_hash)
            if new_refresh_token is None:
                # A concurrent refresh already rotated this secret.
                raise InvalidGrantError("invalid refresh token")
        p.offline_grants.touch(grant, ctx)
        sid = encode_sid(SID_OFFLINE_GRANT, grant.id)
        access = p.access_tokens.issue_for_user(
            client=client,
            user_id=user.id,
            scopes=scopes,
            offline_grant_id=grant.id,
            idp_session_id=None,
            sid=sid,
            auth_time=grant.authenticated_at,
            amr=list(grant.amr or []),
            user_claims=self._jwt_user_claims(client, user, facts),
        )
        body = _body(access.token, access.expires_in, scopes)
        if new_refresh_token:
            body["refresh_token"] = new_refresh_token
        ds_hash = device_secrets.rotate_if_device_sso(grant, list(grant.scopes or []), body)
        if OPENID in scopes:
            body["id_token"] = p.id_tokens.issue(
                client=client,
                user=user,
                sid=sid,
                auth_time=grant.authenticated_at,
                amr=list(grant.amr or []),
                scopes=scopes,
                facts=facts,
                ds_hash=ds_hash,
            )
        return body

    def for_client(self, client: OAuthClient, resource: str, scopes: list[str], ctx: RequestContext) -> dict[str, Any]:
        """`scope` is always in the answer, empty when the client has no scope on the resource
        (Authgear's TokenResponse.Scope)."""
        access = self.p.access_tokens.issue_for_client(client, resource, scopes)
        self.p.svc.audit.write("m2m.token.created", ctx, None, {"client_id": client.client_id, "resource": resource})
        return _body(access.token, access.expires_in, scopes)

    def for_admin_session(self, client: OAuthClient, user: User, ctx: RequestContext) -> dict[str, Any]:
        """A new session of `user` in `client`, authenticated now, without any authenticator (the
        administrator vouches for the user): the authorization, the offline grant, its refresh token
        and a first access token."""
        p = self.p
        scopes = list(ADMIN_SESSION_SCOPES)
        p.authorizations.grant(user.id, client.client_id, scopes)
        now = p.clock()
        grant, refresh_token = p.offline_grants.create(
            client=client, user_id=user.id, scopes=scopes, idp_session_id=None, auth_time=now, amr=[], ctx=ctx
        )
        access = p.access_tokens.issue_for_user(
            client=client,
            user_id=user.id,
            scopes=scopes,
            offline_grant_id=grant.id,
            idp_session_id=None,
            sid=encode_sid(SID_OFFLINE_GRANT, grant.id),
            auth_time=now,
            amr=[],
            user_claims=self._jwt_user_claims(client, user),
        )
        body = _body(access.token, access.expires_in, scopes)
        body["refresh_token"] = refresh_token
        return body

    def id_token_only(
        self, client: OAuthClient, access: AccessContext, device_secret: str | None = None
    ) -> dict[str, Any]:
        # The ID token is for use as an id_token_hint, so it carries no scope-released attributes.
        body: dict[str, Any] = {}
        ds_hash = None
        if access.offline_grant is not None:
            ds_hash = device_secrets.rotate_if_presented(access.offline_grant, device_secret, body)
        body["id_token"] = self.p.id_tokens.issue(
            client=client,
            user=access.user,
            sid=access.sid,
            auth_time=access.auth_time,
            amr=access.amr,
            scopes=[],
            ds_hash=ds_hash,
        )
        return body

    def _jwt_user_claims(
        self, client: OAuthClient, user: User, facts: UserFacts | None = None
    ) -> dict[str, Any] | None:
        if not client.issues_jwt_access_tokens:
            return None
        return (facts or self.p.claims.user_facts(user)).custom_claims()
