"""The `promote` flow's user (contract 1.9, 6.x): an anonymous user signs up and keeps their user ID.

As Authgear's `NodeDoUseAnonymousUser`, the anonymous user comes from the login hint
`https://authgear.com/login_hint?type=anonymous&promotion_code=...` (the Web SDK's
`startPromoteAnonymousUser`) or `...&jwt=<anonymous-request JWT, action promote>` (the native SDKs),
read from the flow's `url_query` or from the authorization request it runs for (`x_ref`). The
promotion code or the JWT's challenge is used once, when the flow finishes; the signup's identities
and authenticators are then added to that user and the anonymous identity removed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.errors import Invalid
from app.extensions import db
from app.flows.run import FlowRun
from app.flows.steps.select_account import oauth_request
from app.identities.anonymous import AnonymousIdentityService, promotion_codes
from app.identities.models import Identity, User

LOGIN_HINT_PREFIX = "https://authgear.com/login_hint?"


class InvalidPromotion(Invalid):
    """The login hint names no anonymous user (unknown, used or expired code; a bad JWT)."""

    def __init__(self) -> None:
        super().__init__("InvalidCredentials", "invalid credentials")


def _login_hint(run: FlowRun) -> dict[str, str]:
    raw = run.query.get("login_hint") or (oauth_request(run) or {}).get("login_hint") or ""
    if not raw.startswith(LOGIN_HINT_PREFIX):
        return {}
    query = {k: v[0] for k, v in parse_qs(urlsplit(raw).query).items() if len(v) == 1}
    return query if query.get("type") == "anonymous" else {}


def take_anonymous_user(run: FlowRun) -> tuple[User, Identity]:
    """The anonymous user to promote and its anonymous identity; uses the code or challenge up."""
    # Imported here: app.oidc's package wires its routes, which import the engine that imports this.
    from app.oidc.device_grants import authenticate_anonymous
    from app.oidc.device_keys import InvalidDeviceRequest

    svc = run.svc
    identities = AnonymousIdentityService(svc.config.project, svc.audit, svc.clock)
    hint = _login_hint(run)
    if hint.get("promotion_code"):
        payload = promotion_codes(svc.store, svc.clock).take(hint["promotion_code"])
        identity = _coded_identity(payload)
        if identity is None or identities.jwk_of(identity):
            # A user with a device key promotes with a signed JWT, as in Authgear.
            raise InvalidPromotion()
    elif hint.get("jwt"):
        try:
            user = authenticate_anonymous(svc, hint["jwt"], run.ctx.request, action="promote")
        except InvalidDeviceRequest:
            raise InvalidPromotion() from None
        identity = identities.of_user(user.id)
    else:
        raise InvalidPromotion()
    if identity is None:
        raise InvalidPromotion()
    return identity.user, identity


def _coded_identity(payload: dict[str, Any] | None) -> Identity | None:
    if not payload:
        return None
    identity = db.session.get(Identity, payload.get("identity_id"))
    if identity is None or identity.type != "anonymous" or identity.user_id != payload.get("user_id"):
        return None
    return identity


def finish(run: FlowRun, anonymous: Identity) -> None:
    """The promoted user keeps the identities the signup added; the anonymous one goes."""
    svc = run.svc
    identities = AnonymousIdentityService(svc.config.project, svc.audit, svc.clock)
    user_id = anonymous.user_id
    identities.remove_after_promotion(anonymous, run.ctx.request)
    svc.audit.write("user.anonymous.promoted", run.ctx.request, user_id, {})
