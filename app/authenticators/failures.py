"""Audit rows for refused authentication attempts, as in Authgear's audit log.

* `authentication.<stage>.<type>.failed` (e.g. `authentication.primary.password.failed`): a password,
  OTP code, TOTP code or recovery code did not match. Data: `authentication_stage` and
  `authenticator_type`, never what was submitted.
* `authentication.identity.login_id.failed`: no user has the login ID given at login (no user ID).
* `authentication.blocked`: the attempt was refused before any check, because the account is locked
  out (`TooManyRequest/AccountLockout`) or its status forbids signing in (disabled, deactivated,
  scheduled for deletion...). Data: the error as the client saw it.
* `rate_limit.blocked`: a rate limit refused the attempt. Data: Authgear's payload, `rate_limit`
  {name, group} (e.g. `authentication.password.per_user_per_ip` of `authentication.password`); no
  user ID, as in Authgear. A cooldown belongs to no rate limit and leaves no row, as in Authgear.

The request that was refused rolls its transaction back, so `write_alone` writes the row after the
rollback in a transaction of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from app.audit import AuditLogWriter
from app.context import RequestContext
from app.errors import AppError
from app.extensions import db

log = logging.getLogger(__name__)

# Forbidden reasons of `check_account_status` (contract 0.2): the account may not sign in at all.
ACCOUNT_STATUS_REASONS = frozenset(
    {
        "DisabledUser",
        "DeactivatedUser",
        "AnonymizedUser",
        "ScheduledDeletionByAdmin",
        "ScheduledDeletionByEndUser",
        "ScheduledAnonymizationByAdmin",
        "UserOutsideValidPeriod",
    }
)
# The errors of a check that ran and did not match.
MISMATCH_REASONS = frozenset({"InvalidCredentials", "InvalidOTPCode", "UserNotFound"})


@dataclass(frozen=True)
class AuditEvent:
    activity_type: str
    user_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


def authentication_failed(authentication: str, user_id: str | None) -> AuditEvent:
    """The row for a flow `authentication` (`primary_password`, `secondary_totp`, `recovery_code`,
    `primary_oob_otp_email`...) whose check failed."""
    if authentication == "recovery_code":
        stage, authenticator_type = "secondary", "recovery_code"
    else:
        stage, _, authenticator_type = authentication.partition("_")
    return AuditEvent(
        f"authentication.{stage}.{authenticator_type}.failed",
        user_id,
        {"authentication_stage": stage, "authenticator_type": authenticator_type},
    )


def login_id_failed(login_id: str) -> AuditEvent:
    return AuditEvent("authentication.identity.login_id.failed", None, {"login_id": login_id})


def refusal_event(exc: BaseException, user_id: str | None, mismatch: AuditEvent | None = None) -> AuditEvent | None:
    """The row an error that refused an authentication attempt leaves, or None for other errors.

    `mismatch` is what the caller was checking when it raised a mismatch error (wrong password or
    code, unknown login ID); it is used only for those errors."""
    if not isinstance(exc, AppError):
        return None
    if exc.reason == "AccountLockout" or exc.reason in ACCOUNT_STATUS_REASONS:
        error = {"name": exc.name, "reason": exc.reason, "info": dict(exc.info)}
        return AuditEvent("authentication.blocked", user_id, {"error": error})
    if exc.name == "TooManyRequest" and exc.reason == "RateLimited":
        rate_limit = (exc.info or {}).get("rate_limit")
        return AuditEvent("rate_limit.blocked", None, {"rate_limit": rate_limit}) if rate_limit else None
    if mismatch is not None and exc.reason in MISMATCH_REASONS:
        return mismatch
    return None


def write_alone(audit: AuditLogWriter, ctx: RequestContext | None, event: AuditEvent) -> None:
    """Roll back what the refused attempt did, then write and commit `event` on its own.

    A failure to write is logged, never raised: the caller is about to raise the refusal itself."""
    db.session.rollback()
    try:
        audit.write(event.activity_type, ctx, event.user_id, event.data)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not write the audit row %s", event.activity_type)
