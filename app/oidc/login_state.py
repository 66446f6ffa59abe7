"""Whether a pending authorization request may use the browser's IdP session as it is.

OIDC Core 3.1.2.1: `prompt=login` and `max_age=0` ask for a fresh login; `max_age=n` for a login
no older than n seconds. A login that happened after the authorization request always counts
as fresh: that is the hosted pages answering this very request.
"""

from __future__ import annotations

from datetime import datetime

from app.oidc.authz_request import PendingRequest
from app.sessions.models import IdPSession


def needs_login(request: PendingRequest, session: IdPSession, now: datetime) -> bool:
    authenticated_at = session.authenticated_at.timestamp()
    if authenticated_at >= request.requested_at:
        return False
    if "login" in request.prompt or request.max_age == 0:
        return True
    return request.max_age is not None and now.timestamp() - authenticated_at > request.max_age


def hint_mismatch(request: PendingRequest, user_id: str) -> bool:
    """An `id_token_hint` names another user than the one signed in."""
    return request.id_token_hint_sub is not None and request.id_token_hint_sub != user_id
