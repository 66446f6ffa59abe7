"""`check_account_status`: refuse disabled, deactivated, anonymized, scheduled-for-deletion and
out-of-period accounts. It takes no input; it fails the input that led to it."""

from __future__ import annotations

from typing import Any

from app.errors import Forbidden
from app.flows.run import Done, FlowRun, Outcome, register
from app.identities.account import outside_valid_period
from app.identities.models import User


def account_status_error(user: User, now: Any) -> Forbidden | None:
    # Authgear's order: anonymized, then outside the valid period, then the stored status.
    if user.is_anonymized:
        return Forbidden("AnonymizedUser", "the account is anonymized")
    if outside_valid_period(user, now):
        return Forbidden("UserOutsideValidPeriod", "user is outside valid period")
    if user.is_deactivated:
        return Forbidden("DeactivatedUser", "the account is deactivated")
    if user.delete_at is not None:
        reason = (
            "ScheduledDeletionByEndUser" if user.deletion_scheduled_by == "end_user" else "ScheduledDeletionByAdmin"
        )
        return Forbidden(reason, "the account is scheduled for deletion", {"delete_at": user.delete_at.isoformat()})
    if user.anonymize_at is not None:
        return Forbidden("ScheduledAnonymizationByAdmin", "the account is scheduled for anonymization")
    if user.is_disabled:
        return Forbidden(
            "DisabledUser", "the account is disabled", {"reason": user.disable_reason} if user.disable_reason else None
        )
    return None


@register("check_account_status")
class CheckAccountStatus:
    def enter(self, run: FlowRun) -> Outcome:
        error = account_status_error(run.user(), run.svc.clock())
        if error is not None:
            raise error
        return Done()

    def action(self, run: FlowRun) -> dict[str, Any]:  # never waits
        return {"data": {}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        return Done()
