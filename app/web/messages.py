"""What the pages say about an engine error: a message ID per Authgear `reason`, translated.

The engine raises `AppError`s with Authgear's name/reason; the text a user reads is looked up
here, never taken from the error's English `message`.
"""

from __future__ import annotations

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
        if page in ("enter_oob_otp", "forgot_password/otp") and error.get("resend"):
            return gettext("Please wait a moment before requesting another code.")
        if page in ("enter_oob_otp", "forgot_password/otp"):
            return gettext("Too many incorrect codes. Request a new code and try again.")
        return gettext("Too many attempts. Please wait a while and try again.")
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
