"""Authgear's Account Management API for OAuth identities (pkg/lib/accountmanagement): a signed-in
user's app links a provider account itself, in two calls.

`start` keeps a token (32 characters; 20 minutes, one use, only its SHA-256 in the store) for the
user, the provider alias, the redirect URI and, unless the app asks to handle `state` itself, a
random `state` put into the provider's authorization URL. `finish` takes the token back with the
provider's answer (the query of the redirect): the token must be the caller's
(`AccountManagementOAuthTokenNotBoundToUser`) and the answer's `state` the one bound to it
(`AccountManagementOAuthStateNotBoundToToken`); then the provider account becomes the user's OAuth
identity under the rules of the settings pages (`app.identities.oauth_links`: an account held by
another user is `DuplicatedIdentity`). Beyond Authgear, a provider with `create_disabled` is refused
here as on the settings pages (`IdentityModifyDisabled`), and the ID token's nonce and the PKCE
verifier of the authorization request are kept with the token and checked.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from app.context import RequestContext
from app.crypto import equal, random_alnum, sha256_hex
from app.errors import Invalid
from app.identities.models import User
from app.identities.oauth_links import oauth_links

if TYPE_CHECKING:
    from app.services import Services

TOKEN_TTL = 20 * 60  # Authgear's duration.UserInteraction
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True)
class OAuthToken:
    user_id: str
    alias: str
    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str


def token_invalid() -> Invalid:
    return Invalid("AccountManagementOAuthTokenInvalid", "invalid token")


class AccountManagement:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    @staticmethod
    def _key(token: str) -> str:
        return f"account_management:oauth:{sha256_hex(token)}"

    def start(self, user: User, alias: str, redirect_uri: str, bind_state: bool = True) -> tuple[str, str]:
        """(token, the provider's authorization URL) for linking `alias` to `user`."""
        # Some providers limit the length of `state`: 32 characters of base32, as Authgear.
        state = "".join(secrets.choice(_BASE32) for _ in range(32)) if bind_state else ""
        begun = oauth_links(self.svc).start_link(user, alias, redirect_uri, response_mode="", state=state)
        token = random_alnum(32)
        record = OAuthToken(user.id, alias, redirect_uri, state, begun.nonce, begun.code_verifier)
        self.svc.store.set(self._key(token), json.dumps(asdict(record)), ttl=TOKEN_TTL, only_new=True)
        return token, begun.url

    def finish(self, user: User, token: str, query: str, ctx: RequestContext) -> None:
        """The provider account of the answer `query` becomes `user`'s identity (flushed, not committed)."""
        raw = self.svc.store.take(self._key(token))
        if raw is None:
            raise token_invalid()
        record = OAuthToken(**json.loads(raw))
        if not equal(record.user_id, user.id):
            raise Invalid("AccountManagementOAuthTokenNotBoundToUser", "token is not bound to the current user")
        state = (parse_qs(query.removeprefix("?")).get("state") or [""])[0]
        if record.state and not equal(record.state, state):
            raise Invalid(
                "AccountManagementOAuthStateNotBoundToToken", "the state parameter in query is not bound to token"
            )
        oauth_links(self.svc).finish_link(
            user, record.alias, query, record.redirect_uri, record.nonce, record.code_verifier, ctx
        )
