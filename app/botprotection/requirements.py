"""`bot_protection.requirements` in the default flows (Authgear's generate_config_*_flow.go).

Declared flows say `bot_protection: {mode}` on their branches themselves; the generated `default`
flows get it from the project's requirements, branch by branch, as Authgear generates them:

- signup, promote: login ID branches of identify take `signup_or_login`; an email (phone) branch
  whose address is verified during the signup takes the stricter of that and `oob_otp_email`
  (`oob_otp_sms`), since a code is sent; create_authenticator's secondary OOB OTP branches take
  `oob_otp_email` / `oob_otp_sms`.
- login: login ID branches of identify take `signup_or_login`; authenticate's password branches take
  `password` and its OOB OTP branches `oob_otp_email` / `oob_otp_sms`.
- signup_login: email and phone branches take the stricter of `signup_or_login` and the OOB OTP
  requirement of their channel; username ones `signup_or_login`.
- account_recovery: every identify branch takes `account_recovery`.
"""

from __future__ import annotations

from typing import Any

from app.botprotection.schema import BOT_PROTECTION_MODES

LOGIN_IDS = ("email", "phone", "username")
BY_AUTHENTICATION = {
    "primary_password": "password",
    "secondary_password": "password",
    "primary_oob_otp_email": "oob_otp_email",
    "secondary_oob_otp_email": "oob_otp_email",
    "primary_oob_otp_sms": "oob_otp_sms",
    "secondary_oob_otp_sms": "oob_otp_sms",
}
OOB_OF_LOGIN_ID = {"email": "oob_otp_email", "phone": "oob_otp_sms"}


def _mode(project: dict[str, Any], name: str) -> str | None:
    section = project.get("bot_protection") or {}
    if not section.get("enabled") or not (section.get("provider") or {}).get("type"):
        return None
    return ((section.get("requirements") or {}).get(name) or {}).get("mode")


def stricter(a: str | None, b: str | None) -> str | None:
    """Authgear's GetStricterBotProtectionRiskMode; None when neither is set."""
    if a is None or b is None:
        return a or b
    return "always" if "always" in (a, b) else "never"


def _set(branch: dict[str, Any], mode: str | None) -> None:
    if mode in BOT_PROTECTION_MODES:
        branch["bot_protection"] = {"mode": mode}


def apply(project: dict[str, Any], flow_type: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put the project's requirements on the branches of a generated flow (in place); returns it."""
    section = project.get("bot_protection") or {}
    if not section.get("enabled") or not (section.get("provider") or {}).get("type"):
        return steps
    for step in steps:
        _step(project, flow_type, step)
    return steps


def _verified_at_signup(branch: dict[str, Any]) -> bool:
    return any(s.get("type") == "verify" for s in branch.get("steps", []))


def _step(project: dict[str, Any], flow_type: str, step: dict[str, Any]) -> None:
    kind = step.get("type")
    for branch in step.get("one_of", []):
        identification = branch.get("identification")
        authentication = branch.get("authentication")
        if kind == "identify" and identification in LOGIN_IDS:
            if flow_type == "account_recovery":
                _set(branch, _mode(project, "account_recovery"))
            elif flow_type in ("signup", "promote"):
                oob = OOB_OF_LOGIN_ID.get(identification)
                extra = _mode(project, oob) if oob and _verified_at_signup(branch) else None
                _set(branch, stricter(_mode(project, "signup_or_login"), extra))
            elif flow_type == "signup_login":
                oob = OOB_OF_LOGIN_ID.get(identification)
                _set(branch, stricter(_mode(project, "signup_or_login"), _mode(project, oob) if oob else None))
            elif flow_type == "login":
                _set(branch, _mode(project, "signup_or_login"))
        elif kind == "authenticate" and flow_type == "login" and authentication in BY_AUTHENTICATION:
            _set(branch, _mode(project, BY_AUTHENTICATION[authentication]))
        elif (
            kind == "create_authenticator"
            and authentication in BY_AUTHENTICATION
            and authentication.startswith("secondary_oob_otp_")
        ):
            _set(branch, _mode(project, BY_AUTHENTICATION[authentication]))
        for nested in branch.get("steps", []):
            _step(project, flow_type, nested)
