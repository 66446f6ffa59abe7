"""Reauthentication of a user who signed up with a provider, over the Flow API, as Authgear's default
reauth flow has it: its identify step offers only `id_token` (Authgear's reauth schema allows no
other identification, generate_config_reauth_flow.go), so no provider is offered, and a user whose
only sign-in is a provider has no authenticator to re-authenticate with (`NoAuthenticator`)."""

from __future__ import annotations

import time

from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity
from app.oidc.keys import SigningKeys
from tests.sso.conftest import google_provider
from tests.sso.flowapi import REDIRECT_URI, create, error, send, sign_in_with


def _id_token(app, subject: str) -> str:
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user_id = db.session.scalar(select(Identity.user_id).where(Identity.provider_subject_id == subject))
        now = int(time.time())
        claims = {"iss": svc.config.public_origin, "sub": str(user_id), "iat": now, "exp": now + 300}
        return SigningKeys.from_config(svc.config).sign(claims)


def test_default_reauth_offers_no_provider_and_a_provider_only_user_has_no_authenticator(sso_app, standins):
    app = sso_app([google_provider()], {"google": "google-secret"})
    client = app.test_client()
    standins.next_user["google"] = {"sub": "reauth-1", "email": "reauth-1@gmail.com", "email_verified": True}
    sign_in_with(client, standins, "signup", "google")

    start = create(app.test_client(), "reauth")
    options = start["action"]["data"]["options"]
    assert [o["identification"] for o in options] == ["id_token"]
    refused = error(
        send(
            app.test_client(),
            start["state_token"],
            {"identification": "oauth", "alias": "google", "redirect_uri": REDIRECT_URI},
        )
    )
    assert refused["reason"] == "ValidationFailed", refused
    assert refused["info"]["causes"][0]["details"] == {"expected": ["id_token"]}

    fresh = app.test_client()
    start = create(fresh, "reauth")
    err = error(
        send(fresh, start["state_token"], {"identification": "id_token", "id_token": _id_token(app, "reauth-1")})
    )
    assert err["reason"] == "InvariantViolated" and err["info"]["cause"]["kind"] == "NoAuthenticator", err
