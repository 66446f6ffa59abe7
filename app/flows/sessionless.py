"""Logins that keep the IdP session out of the browser (`x_suppress_idp_session_cookie=true`, or
`x_sso_enabled` other than "true"; Authgear's SDKs send it in refresh-token mode).

As in Authgear (its flows skip creating the session), a flow that finishes for such an
authorization request creates no IdP session and sets no cookie: it hands who signed in, when and
how (`authentication_info`) to the pending request named by `x_ref`, and consent issues the code
from that, once. The pending request is the OIDC provider's JSON under `oauth_session:<x_ref>`
(app/oidc/authz_request.py); this module only adds one key to it.
"""

from __future__ import annotations

import json
from typing import Any

from app.flows.run import FlowRun
from app.flows.steps.select_account import oauth_request, suppresses_idp_session

FALLBACK_TTL = 20 * 60  # seconds; the pending request's own lifetime when the store cannot say


def suppressed(run: FlowRun) -> bool:
    """Whether the authorization request behind this flow keeps the IdP session out of the browser."""
    request = oauth_request(run)
    return request is not None and suppresses_idp_session(request)


def hand_to_consent(run: FlowRun, user_id: str, amr: list[str]) -> None:
    """Records the login on the pending request, for consent to issue the code without a session."""
    x_ref = run.query.get("x_ref") or ""
    key = f"oauth_session:{x_ref}"
    request: dict[str, Any] | None = oauth_request(run)
    if request is None:
        return
    request["authentication_info"] = {
        "user_id": user_id,
        "authenticated_at": run.svc.clock().timestamp(),
        "amr": list(amr),
    }
    ttl = run.svc.store.ttl(key)
    run.svc.store.set(key, json.dumps(request, separators=(",", ":")), ttl=ttl if ttl and ttl > 0 else FALLBACK_TTL)
