"""A signed-in user's own providers: which are linked, linking another, unlinking one (Authgear's
settings_identity_list_oauth page over its account-management service). The settings pages and the
SDK's `link_oauth` / `unlink_oauth` settings actions use it; the Admin API has its own rules.

- The candidates are the configured providers (minus the types the features turn off, and WeChat,
  which needs its own app), each with the user's identity at it, if any.
- Linking refuses a provider that is `create_disabled` or already linked (Authgear hides the button;
  Gatehouse also refuses the request), and an incoming account that another user holds: the same
  provider account, or a claim (email, phone number, username) of another user's login ID or OAuth
  identity, as Authgear's CheckDuplicated (`InvariantViolated` / `DuplicatedIdentity`).
- Unlinking refuses a `delete_disabled` provider (`IdentityModifyDisabled`) and the last way to sign
  in (`RemoveLastIdentity`, or `RemoveLastPrimaryAuthenticator` when a remaining login ID would have
  no authenticator), the checks the passkey settings share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from app.context import RequestContext
from app.errors import InvariantViolated
from app.extensions import db
from app.identities.models import Identity, User
from app.identities.service import IdentityNotFound
from app.sso.errors import OAuthProviderNotFound
from app.sso.service import AuthorizationStart, IncomingOAuth

if TYPE_CHECKING:
    from app.services import Services

# Claims that make an OAuth identity collide with another user's (Authgear's identity-aware claims).
AWARE_CLAIMS = {"email": "email", "phone_number": "phone", "preferred_username": "username"}


@dataclass
class Candidate:
    alias: str
    type: str
    status: str
    create_disabled: bool
    delete_disabled: bool
    identity: Identity | None

    @property
    def display(self) -> str:
        """How the linked account is named on the page: its email, else its username, else its ID."""
        if self.identity is None:
            return ""
        claims = self.identity.claims or {}
        for key in ("email", "preferred_username", "phone_number", "name"):
            if isinstance(claims.get(key), str) and claims[key]:
                return str(claims[key])
        return self.identity.provider_subject_id or ""


def modify_disabled() -> InvariantViolated:
    return InvariantViolated("IdentityModifyDisabled", "identity modification disabled")


class OAuthLinks:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def enabled(self) -> bool:
        return self.svc.sso.enabled()

    def candidates(self, user: User) -> list[Candidate]:
        linked = self.svc.oauth_identities.of_user(user.id)
        out = []
        for p in self.svc.sso.providers():
            if p["type"] == "wechat":
                continue
            identity = next((i for i in linked if i.provider_alias == p["alias"]), None)
            out.append(
                Candidate(
                    alias=p["alias"],
                    type=p["type"],
                    status=self.svc.sso.status(p),
                    create_disabled=bool(p.get("create_disabled")),
                    delete_disabled=bool(p.get("delete_disabled")),
                    identity=identity,
                )
            )
        return out

    def candidate(self, user: User, alias: str) -> Candidate:
        found = next((c for c in self.candidates(user) if c.alias == alias), None)
        if found is None:
            raise OAuthProviderNotFound()
        return found

    # -- linking --------------------------------------------------------------------------------
    def start_link(
        self, user: User, alias: str, redirect_uri: str, response_mode: str = "form_post", state: str = ""
    ) -> AuthorizationStart:
        """The provider's authorization URL for linking `alias` to `user`."""
        c = self.candidate(user, alias)
        if c.create_disabled or c.identity is not None:
            raise modify_disabled()
        return self.svc.sso.start(alias, redirect_uri, response_mode, state=state)

    def finish_link(
        self,
        user: User,
        alias: str,
        query: str,
        redirect_uri: str,
        nonce: str = "",
        code_verifier: str = "",
        ctx: RequestContext | None = None,
    ) -> Identity:
        """The provider's answer becomes the user's identity; flushed, not committed."""
        c = self.candidate(user, alias)
        if c.create_disabled:
            raise modify_disabled()
        spec = self.svc.sso.finish(alias, query, redirect_uri, nonce, code_verifier)
        existing = self.svc.oauth_identities.find(spec)
        if existing is not None:
            if existing.user_id == user.id:
                return existing  # linked already (a second tab): nothing to do
            raise duplicated(spec, [existing])
        holders = self.holders(user, spec)
        if holders:
            raise duplicated(spec, holders)
        return self.svc.oauth_identities.create(user, spec, ctx)

    def holders(self, user: User, spec: IncomingOAuth) -> list[Identity]:
        """Other users' identities holding one of the incoming account's claims."""
        found: list[Identity] = []
        keys = self.svc.config.project["identity"]["login_id"].get("keys") or []
        for claim, login_id_type in AWARE_CLAIMS.items():
            value = spec.claims.get(claim)
            if not isinstance(value, str) or not value:
                continue
            for key in (k for k in keys if k.get("type") == login_id_type):
                try:
                    identity = self.svc.users.find_identity(key["key"], value)
                except Exception:  # noqa: BLE001 - a value this key refuses holds nothing under it
                    identity = None
                if identity is not None and identity.user_id != user.id and identity not in found:
                    found.append(identity)
            stmt = select(Identity).where(
                Identity.type == "oauth", Identity.user_id != user.id, Identity.claims[claim].as_string() == value
            )
            found += [i for i in db.session.scalars(stmt) if i not in found]
        return found

    # -- unlinking ------------------------------------------------------------------------------
    def unlink(self, user: User, identity_id: str, ctx: RequestContext | None = None) -> Identity:
        """Removes one of the user's OAuth identities; flushed, not committed."""
        from app.passkeys.service import passkeys

        identity = db.session.get(Identity, identity_id) if identity_id else None
        if identity is None or identity.user_id != user.id or identity.type != "oauth":
            raise IdentityNotFound()
        conf = next((p for p in self.svc.sso.providers() if p["alias"] == identity.provider_alias), None)
        # As Authgear: an identity of a provider no longer configured cannot be removed here.
        if conf is None or conf.get("delete_disabled"):
            raise modify_disabled()
        passkeys(self.svc).check_removable(identity)  # RemoveLastIdentity, RemoveLastPrimaryAuthenticator
        self.svc.accounts.delete_identity(identity, ctx)
        return identity


def duplicated(spec: IncomingOAuth, existing: list[Identity]) -> InvariantViolated:
    from app.flows.steps.oauth import _details

    err = InvariantViolated("DuplicatedIdentity", "identity already exists")
    err.info.update(_details(spec, existing))
    return err


def oauth_links(svc: Services) -> OAuthLinks:
    return OAuthLinks(svc)
