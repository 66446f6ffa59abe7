"""Settings actions started by an app (contract 1.3, 1.8).

`/oauth2/authorize?response_type=urn:authgear:params:oauth:response-type:settings-action&
x_settings_action=change_password&...` keeps the request pending like any other (`x_ref`); once the
user is signed in, consent sends the browser to the settings page of the action instead of issuing
a code. When the settings page has done the change it calls `complete`, which issues a one-time code
bound to the client, its redirect URI and PKCE challenge, and sends the browser back to the app. The
app proves the action finished by exchanging the code with the settings-action grant (`grants.py`).

The code row carries `extra.settings_action`; the authorization_code grant refuses such codes and the
settings-action grant accepts nothing else. It is not tied to the IdP session, because deleting the
account signs the user out before the browser returns to the app.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from flask import Response

from app.context import RequestContext
from app.crypto import random_alnum, sha256_hex
from app.extensions import db
from app.oidc.authz_request import PendingRequest
from app.oidc.clients import SETTINGS_ACTION_RESPONSE_TYPE
from app.oidc.codes import CODE_LIFETIME
from app.oidc.provider import OIDCProvider
from app.oidc.responses import authorization_response
from app.sessions.models import OAuthCode

# The settings page each action opens (contract 7.2).
SETTINGS_ACTION_PATHS = {
    "change_password": "/settings/change_password",
    "delete_account": "/settings/delete_account",
    "add_email": "/settings/identity/add_email",
    "add_phone": "/settings/identity/add_phone",
    "add_username": "/settings/identity/add_username",
    "change_email": "/settings/identity/change_email",
    "change_phone": "/settings/identity/change_phone",
    "change_username": "/settings/identity/change_username",
    # Both on the linked-accounts page, naming the provider (`x_oauth_provider_alias`, required).
    "link_oauth": "/settings/identity/oauth",
    "unlink_oauth": "/settings/identity/oauth",
}
MAX_ACTION_QUERY = 1024


def is_settings_action(pending: PendingRequest | None) -> bool:
    return pending is not None and pending.response_type == SETTINGS_ACTION_RESPONSE_TYPE


def settings_page_url(pending: PendingRequest, x_ref: str) -> str:
    """The page of the action, with `x_settings_action_query`'s parameters and the `x_ref`."""
    path = SETTINGS_ACTION_PATHS[pending.x_settings_action or ""]
    extra = parse_qsl((pending.x_settings_action_query or "")[:MAX_ACTION_QUERY], keep_blank_values=False)
    pairs = [(k, v) for k, v in extra if k != "x_ref"][:20] + [("x_ref", x_ref)]
    if pending.x_settings_action in ("link_oauth", "unlink_oauth"):
        # As Authgear's BuildSettingsActionURL: the provider, and for unlink the mode of the page.
        pairs = [(k, v) for k, v in pairs if k not in ("x_provider_alias", "x_settings_action")]
        pairs.append(("x_provider_alias", pending.x_oauth_provider_alias or ""))
        if pending.x_settings_action == "unlink_oauth":
            pairs.append(("x_settings_action", "unlink_oauth"))
    return f"{path}?{urlencode(pairs)}"


def pending_action(provider: OIDCProvider, x_ref: object, user_id: str | None) -> PendingRequest | None:
    """The pending settings-action request named by `x_ref` that consent handed to `user_id`, or None."""
    if not isinstance(x_ref, str) or user_id is None:
        return None
    pending = provider.pending.load(x_ref)
    if not is_settings_action(pending) or pending is None or pending.settings_user_id != user_id:
        return None
    return pending


def complete(
    provider: OIDCProvider, x_ref: str, user_id: str, action: str, ctx: RequestContext | None = None
) -> Response | None:
    """Issue the settings-action code and answer with the redirect to the client; None when `x_ref`
    names no pending request for this action and user (the page then carries on by itself).
    The caller commits."""
    pending = pending_action(provider, x_ref, user_id)
    if pending is None or pending.x_settings_action != action:
        return None
    client = provider.clients.get(pending.client_id)
    if client is None or not client.check_redirect_uri(pending.redirect_uri):
        return None
    if not provider.pending.consume(x_ref):
        return None
    code = random_alnum(32)
    now = provider.clock()
    db.session.add(
        OAuthCode(
            code_hash=sha256_hex(code),
            client_id=client.client_id,
            user_id=user_id,
            idp_session_id=None,
            redirect_uri=pending.redirect_uri,
            scopes=list(pending.scopes),
            nonce=pending.nonce,
            code_challenge=pending.code_challenge,
            code_challenge_method=pending.code_challenge_method,
            auth_time=now,
            amr=[],
            extra={"settings_action": action},
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )
    db.session.flush()
    audit_data = {"client_id": client.client_id, "action": action}
    provider.svc.audit.write("settings_action.completed", ctx, user_id, audit_data)
    params = {"code": code}
    if pending.state:
        params["state"] = pending.state
    return authorization_response(pending.redirect_uri, pending.response_mode, params)
