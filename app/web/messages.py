"""What the pages say about an engine error: a message ID per Authgear `reason`, translated.

The engine raises `AppError`s with Authgear's name/reason; the text a user reads is looked up
here, never taken from the error's English `message`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext, lazy_gettext, ngettext

from app.flows.errors import MISCONFIGURATION_REASONS

# Errors the user answers by leaving: the account cannot sign in. Shown on the account_status page.
ACCOUNT_STATUS = {
    "DisabledUser": lazy_gettext("This account has been disabled."),
    "DeactivatedUser": lazy_gettext("This account has been deactivated."),
    "AnonymizedUser": lazy_gettext("This account no longer exists."),
    "ScheduledDeletionByAdmin": lazy_gettext("This account is scheduled for deletion."),
    "ScheduledDeletionByEndUser": lazy_gettext("This account is scheduled for deletion."),
    "ScheduledAnonymizationByAdmin": lazy_gettext("This account is scheduled for removal."),
    "UserOutsideValidPeriod": lazy_gettext("This account cannot sign in at this time."),
}

BY_REASON = {
    "UserNotFound": lazy_gettext("We couldn't find an account with that email, phone number or username."),
    "InvalidOTPCode": lazy_gettext("That code is incorrect or has expired."),
    "InvalidVerificationCode": lazy_gettext("That code is incorrect or has expired."),
    "InvalidTOTPCode": lazy_gettext("That code doesn't match. Check your authenticator app and try again."),
    "AccountLockout": lazy_gettext("Too many failed attempts. Your account is locked for a while; try again later."),
    "AuthenticationFlowNoPublicSignup": lazy_gettext(
        "New accounts cannot be created here. Ask the administrator for an invitation."
    ),
    # Authgear's older interaction API name for the same refusal.
    "NoPublicSignup": lazy_gettext("New accounts cannot be created here. Ask the administrator for an invitation."),
    "AuthenticationFlowNotAllowed": lazy_gettext("This way of signing in is not available for this application."),
    "AuthenticationFlowNotFound": lazy_gettext("This page has expired. Please start again."),
    # A passkey ceremony whose challenge expired or was used (app/passkeys/relying_party.py).
    "WebAuthnSessionNotFound": lazy_gettext("This page has expired. Please start again."),
    "AuthenticationFlowDifferentUserID": lazy_gettext("You are signed in as a different user."),
    "AuthenticationFlowUnsupported": lazy_gettext("This way of signing in is not available."),
    "InvalidIDToken": lazy_gettext("Please sign in again."),
    # A declared authentication_flow that cannot work (app/flows/errors.py): only the operator can fix it.
    **dict.fromkeys(
        MISCONFIGURATION_REASONS,
        lazy_gettext("This project is misconfigured, so you cannot continue. Please contact the administrator."),
    ),
    "NewPasswordTypo": lazy_gettext("The passwords don't match."),
    "FormInvalid": lazy_gettext("Please check the highlighted field."),
    "CSRFError": lazy_gettext(
        "This form has expired or was sent from another page. Go back, reload the page and try again."
    ),
    # Bot protection (app/botprotection): a failed check ends the flow, as in Authgear.
    "BotProtectionRequired": lazy_gettext("Please complete the captcha to continue."),
    "BotProtectionVerificationFailed": lazy_gettext("Captcha verification failed. Please start again."),
    "BotProtectionVerificationServiceUnavailable": lazy_gettext(
        "The captcha service is not responding right now. Please try again in a moment."
    ),
    "MessageDeliveryFailed": lazy_gettext("We couldn't send the code. Check the address, or send a new code."),
    "NotFound": lazy_gettext("This page doesn't exist."),
    "RequestEntityTooLarge": lazy_gettext("What you sent is too large."),
    **ACCOUNT_STATUS,
}

CREDENTIALS = {
    "enter_password": lazy_gettext("Incorrect email or password."),
    "enter_totp": lazy_gettext("That code is incorrect. Check your authenticator app and try again."),
    "enter_recovery_code": lazy_gettext("That recovery code is incorrect or has been used."),
    # On these pages only a passkey's signature can be refused (Authgear's InvalidCredentials for passkey).
    **dict.fromkeys(
        ("login", "use_passkey", "prompt_create_passkey"),
        lazy_gettext("Your passkey could not be used. Try again, or use another way to continue."),
    ),
}

PASSWORD_RULES = {
    "PasswordTooShort": "minimum_length",
    "PasswordUppercaseRequired": "uppercase_required",
    "PasswordLowercaseRequired": "lowercase_required",
    "PasswordAlphabetRequired": "alphabet_required",
    "PasswordDigitRequired": "digit_required",
    "PasswordSymbolRequired": "symbol_required",
    "PasswordContainingExcludedKeywords": "excluded_keywords",
    "PasswordBelowGuessableLevel": "minimum_zxcvbn_score",
    "PasswordReused": "history",
}

IDENTIFICATION_LABEL = {
    frozenset({"email"}): lazy_gettext("Email address"),
    frozenset({"phone"}): lazy_gettext("Phone number"),
    frozenset({"username"}): lazy_gettext("Username"),
    frozenset({"email", "phone"}): lazy_gettext("Email or phone number"),
    frozenset({"email", "username"}): lazy_gettext("Email or username"),
    frozenset({"phone", "username"}): lazy_gettext("Phone number or username"),
    frozenset({"email", "phone", "username"}): lazy_gettext("Email, phone number or username"),
}


def identification_label(kinds: set[str]) -> str:
    return str(IDENTIFICATION_LABEL.get(frozenset(kinds & {"email", "phone", "username"}), gettext("Email address")))


def password_rules(policy: dict[str, Any]) -> list[tuple[str, str]]:
    """(rule key, text) for each requirement of a `password_policy` object (contract 6.6)."""
    rules: list[tuple[str, str]] = []
    if policy.get("minimum_length"):
        n = int(policy["minimum_length"])
        rules.append(("minimum_length", ngettext("At least %(num)d character", "At least %(num)d characters", n)))
    texts = {
        "uppercase_required": gettext("An uppercase letter"),
        "lowercase_required": gettext("A lowercase letter"),
        "alphabet_required": gettext("A letter"),
        "digit_required": gettext("A digit"),
        "symbol_required": gettext("A symbol"),
    }
    for key, text in texts.items():
        if policy.get(key):
            rules.append((key, text))
    if policy.get("minimum_zxcvbn_score"):
        rules.append(("minimum_zxcvbn_score", gettext("Hard to guess")))
    if policy.get("excluded_keywords"):
        rules.append(("excluded_keywords", gettext("No easily guessed words")))
    if (policy.get("history") or {}).get("enabled"):
        rules.append(("history", gettext("Not a password you used recently")))
    return rules


def error_text(error: dict[str, Any], page: str) -> str:
    """The sentence to show for a stored `{name, reason, info}` error on `page`."""
    reason = str(error.get("reason", ""))
    info = error.get("info") or {}
    from app.web.sso import oauth_error_text  # social login's errors (app/web/sso.py imports this module)

    oauth_text = oauth_error_text(error)
    if oauth_text is not None:
        return oauth_text
    if reason == "InvalidCredentials":
        return str(CREDENTIALS.get(page, CREDENTIALS["enter_password"]))
    if reason == "UserNotFound" and error.get("identification") == "passkey":
        return gettext("This passkey is not linked to an account here. Use another way to sign in.")
    if reason == "RateLimited":
        wait = retry_wait(info)
        if page in ("enter_oob_otp", "forgot_password/otp") and error.get("resend"):
            if wait:
                return gettext("Please wait %(duration)s before requesting another code.", duration=wait)
            return gettext("Please wait a moment before requesting another code.")
        if page in ("enter_oob_otp", "forgot_password/otp") and not wait:
            return gettext("Too many incorrect codes. Request a new code and try again.")
        if wait:
            return gettext("Too many attempts. Please try again in %(duration)s.", duration=wait)
        return gettext("Too many attempts. Please wait a while and try again.")
    if reason == "AccountLockout" and info.get("until"):
        wait = _until_text(str(info["until"]))
        if wait:
            return gettext(
                "Too many failed attempts. Your account is locked; try again in %(duration)s.", duration=wait
            )
    if reason == "PasswordPolicyViolated":
        return gettext("The password doesn't meet the requirements below.")
    if reason == "PasswordReused":
        return gettext("Choose a password you have not used recently.")
    if reason == "InvariantViolated":
        kind = (info.get("cause") or {}).get("kind")
        if kind == "DuplicatedIdentity":
            return gettext("An account with this email, phone number or username already exists.")
        if kind == "NoAuthenticator":
            return gettext("There is no way for this account to sign in here.")
        return gettext("This change is not allowed.")
    if reason == "ValidationFailed":
        return _validation_text(info, page, error.get("identification"))
    message = BY_REASON.get(reason)
    if message is not None:
        return str(message)
    if error.get("name") == "TooManyRequest":
        return gettext("Too many attempts. Please wait a while and try again.")
    return gettext("Something went wrong. Please try again.")


def _validation_text(info: dict[str, Any], page: str, identification: Any) -> str:
    causes = info.get("causes") or []
    for cause in causes:
        if not isinstance(cause, dict):
            continue
        if cause.get("location") == "/login_id" and cause.get("kind") == "blocked":
            # ui.phone_input.allowlist refused the number's country (Authgear's PhoneNumberCountryCodeAllowlist).
            return gettext("Phone numbers from this country or region are not accepted.")
        if cause.get("location") == "/login_id" and cause.get("kind") == "format":
            if identification == "phone":
                return gettext("Enter a phone number with its country code, for example +85298765432.")
            if identification == "username":
                return gettext("Enter a valid username.")
            return gettext("Enter a valid email address.")
        if cause.get("location") == "/target":
            return gettext("Enter a valid email address or phone number.")
        if cause.get("location") == "/attributes":
            return gettext("Please fill in the required fields.")
    if page in ("login", "signup", "forgot_password"):
        return gettext("Enter a valid email address, phone number or username.")
    return gettext("Please check what you entered and try again.")


def broken_rules(error: dict[str, Any] | None) -> set[str]:
    """The policy rules a `PasswordPolicyViolated` error names, for marking them in the list."""
    if not error or error.get("reason") != "PasswordPolicyViolated":
        return set()
    causes = (error.get("info") or {}).get("causes") or []
    return {PASSWORD_RULES[c["Name"]] for c in causes if isinstance(c, dict) and c.get("Name") in PASSWORD_RULES}


# -- how long to wait (issue 21) ---------------------------------------------------------------------
# Authgear's RateLimited info names the bucket (`bucket_name`); its rule in authgear.yaml gives the
# period after which attempts are counted afresh, and a cooldown's length is the wait itself.
_BUCKET_RULES = {
    "AuthenticationGeneralPerIP": ("authentication", "rate_limits", "general", "per_ip"),
    "AuthenticationGeneralPerUserPerIP": ("authentication", "rate_limits", "general", "per_user_per_ip"),
    "SignupPerIP": ("authentication", "rate_limits", "signup", "per_ip"),
    "AccountEnumerationPerIP": ("authentication", "rate_limits", "account_enumeration", "per_ip"),
    "AuthflowAPIPerIP": ("authentication_flow", "rate_limits", "per_ip"),
}
_COOLDOWNS = {
    "VerificationCooldown": ("verification", "rate_limits", "{channel}", "trigger_cooldown"),
    "ForgotPasswordCooldown": ("forgot_password", "rate_limits", "{channel}", "trigger_cooldown"),
    "OOBOTPCooldown": ("authentication", "rate_limits", "oob_otp", "{channel}", "trigger_cooldown"),
}


def _lookup(project: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = project
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def retry_seconds(info: dict[str, Any]) -> float | None:
    """At most how long a `RateLimited` error's bucket refuses (its rule's period or cooldown), or None."""
    from app.config import parse_duration
    from app.services import services

    bucket = str(info.get("bucket_name") or "")
    project = services().config.project
    value: Any = None
    if bucket in _BUCKET_RULES:
        rule = _lookup(project, _BUCKET_RULES[bucket])
        value = rule.get("period") if isinstance(rule, dict) else None
    for prefix, path in _COOLDOWNS.items():
        if bucket.startswith(prefix):
            channel = "sms" if bucket.endswith("SMS") else "email"
            value = _lookup(project, tuple(p.format(channel=channel) for p in path)) or "1m"
    if not isinstance(value, str):
        return None
    try:
        seconds = parse_duration(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def _duration_text(seconds: float) -> str:
    from flask_babel import format_timedelta

    return str(format_timedelta(timedelta(seconds=max(1, round(seconds))), threshold=1, add_direction=False))


def retry_wait(info: dict[str, Any]) -> str | None:
    """The wait of a `RateLimited` error in words ("1 minute", localized by CLDR), or None."""
    seconds = retry_seconds(info)
    return _duration_text(seconds) if seconds else None


def _until_text(until: str) -> str | None:
    from app.services import services

    try:
        at = datetime.fromisoformat(until.replace("Z", "+00:00"))
    except ValueError:
        return None
    seconds = (at - services().clock()).total_seconds()
    return _duration_text(seconds) if seconds > 0 else None
