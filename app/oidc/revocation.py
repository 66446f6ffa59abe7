"""`/oauth2/revoke` (RFC 7009, contract 1.5): who may revoke which token.

RFC 7009 section 2.1: the server authenticates a confidential client, then checks that the token
was issued to it. Authgear's own revoke endpoint checks neither, and its SDKs log out by posting the
refresh token alone (no `client_id`), so:

| request                                  | token of a public client | token of a confidential client |
|------------------------------------------|--------------------------|--------------------------------|
| no client_id, no Basic header (the SDKs) | revoked                  | 401 `invalid_client`           |
| client authenticated as the owner        | revoked                  | revoked                        |
| client authenticated as another client   | 400 `invalid_grant`      | 400 `invalid_grant`            |
| failed client authentication             | 401 `invalid_client`     | 401 `invalid_client`           |

Client authentication is the token endpoint's: `client_secret_basic`, `client_secret_post`, or
`none` (client_id only) for public clients. An unknown token is a success with nothing done, so an
answer never says whether a token exists unless the caller holds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749 import InvalidClientError, InvalidGrantError

from app.oidc.grants import USER_CLIENT_AUTH, reject_repeated_parameters
from app.oidc.server import check_basic_header

if TYPE_CHECKING:
    from flask import Request

    from app.context import RequestContext
    from app.oidc.clients import OAuthClient
    from app.oidc.server import GatehouseAuthorizationServer

REVOKE_ENDPOINT = "revoke"


def revoke_token(server: GatehouseAuthorizationServer, req: Request, token: str, ctx: RequestContext) -> None:
    """Revokes `token` (a refresh token ends its whole offline grant) when the caller may; raises
    authlib's `OAuth2Error` when it may not."""
    caller = _authenticate(server, req)
    provider = server.provider
    if token.count(".") == 1:
        grant = provider.offline_grants.grant_to_revoke(token)
        if grant is not None:
            _check_owner(server, caller, grant.client_id)
            provider.offline_grants.revoke(grant, ctx)
        return
    stored = provider.access_tokens.to_revoke(token)
    if stored is not None:
        _check_owner(server, caller, stored.client_id)
        provider.access_tokens.revoke_stored(stored)


def _authenticate(server: GatehouseAuthorizationServer, req: Request) -> OAuthClient | None:
    """The authenticated client; None when the request names no client at all."""
    authorization = req.headers.get("Authorization") or ""
    if "client_id" not in req.form and not authorization.lower().startswith("basic "):
        return None
    check_basic_header(authorization)
    reject_repeated_parameters(req.form)
    return server.authenticate_client(server.create_oauth2_request(req), USER_CLIENT_AUTH, REVOKE_ENDPOINT)


def _check_owner(server: GatehouseAuthorizationServer, caller: OAuthClient | None, owner_id: str) -> None:
    if caller is not None:
        if caller.client_id != owner_id:
            # RFC 6749 section 5.2: `invalid_grant` covers a token "issued to another client".
            raise InvalidGrantError("token was issued to another client")
        return
    owner = server.provider.clients.get(owner_id)
    # A token of a client no longer configured is useless; anyone holding it may drop it.
    if owner is not None and not owner.is_public:
        # Authgear's token endpoint says the same to a confidential client without its secret.
        raise InvalidClientError(status_code=401, description="client secret is required")
