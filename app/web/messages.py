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


# -- copy that follows the configuration (issue 21) ---------------------------------------------------
# What names "your email, phone number or username" names only the kinds of login ID the project takes
# (identity.login_id.keys types): one wording per combination that occurs; any other combination
# (phone and username without email) reads as all three.
LOGIN_ID_KINDS = ("email", "phone", "username")
_ALL = frozenset(LOGIN_ID_KINDS)
_E, _P, _U = frozenset({"email"}), frozenset({"phone"}), frozenset({"username"})
_EP, _EU = frozenset({"email", "phone"}), frozenset({"email", "username"})
BY_LOGIN_ID_KINDS: dict[str, dict[frozenset[str], Any]] = {
    "not_found": {
        _E: lazy_gettext("We couldn't find an account with that email address."),
        _P: lazy_gettext("We couldn't find an account with that phone number."),
        _U: lazy_gettext("We couldn't find an account with that username."),
        _EP: lazy_gettext("We couldn't find an account with that email or phone number."),
        _EU: lazy_gettext("We couldn't find an account with that email or username."),
        _ALL: lazy_gettext("We couldn't find an account with that email, phone number or username."),
    },
    "exists": {
        _E: lazy_gettext("An account with this email address already exists."),
        _P: lazy_gettext("An account with this phone number already exists."),
        _U: lazy_gettext("An account with this username already exists."),
        _EP: lazy_gettext("An account with this email or phone number already exists."),
        _EU: lazy_gettext("An account with this email or username already exists."),
        _ALL: lazy_gettext("An account with this email, phone number or username already exists."),
    },
    "invalid": {
        _E: lazy_gettext("Enter a valid email address."),
        _P: lazy_gettext("Enter a phone number with its country code, for example +85298765432."),
        _U: lazy_gettext("Enter a valid username."),
        _EP: lazy_gettext("Enter a valid email address or phone number."),
        _EU: lazy_gettext("Enter a valid email address or username."),
        _ALL: lazy_gettext("Enter a valid email address, phone number or username."),
    },
    # The settings pages: removing the only login ID (RemoveLastIdentity).
    "remove_last": {
        _E: lazy_gettext("You can't remove this: it is your only way to sign in. Add another email address first."),
        _P: lazy_gettext("You can't remove this: it is your only way to sign in. Add another phone number first."),
        _U: lazy_gettext("You can't remove this: it is your only way to sign in. Add another username first."),
        _EP: lazy_gettext(
            "You can't remove this: it is your only way to sign in. Add another email address or phone number first."
        ),
        _EU: lazy_gettext(
            "You can't remove this: it is your only way to sign in. Add another email address or username first."
        ),
        _ALL: lazy_gettext(
            "You can't remove this: it is your only way to sign in. Add another email address, phone number "
            "or username first."
        ),
    },
    # The forgot-password page's lead: codes go to an email address or a phone number, never a username.
    "forgot_password": {
        _E: lazy_gettext("Enter the email address of your account and we'll send you a code."),
        _P: lazy_gettext("Enter the phone number of your account and we'll send you a code."),
        _EP: lazy_gettext("Enter the email address or phone number of your account and we'll send you a code."),
    },
}
# The settings home's summary of second factors: the enabled ones, joined as the language lists them.
SECOND_FACTORS = {
    "totp": lazy_gettext("authenticator apps"),
    "oob_otp_email": lazy_gettext("codes by email"),
    "oob_otp_sms": lazy_gettext("codes by text message"),
    "oob_otp": lazy_gettext("codes by email or text message"),
    "secondary_password": lazy_gettext("an additional password"),
    "recovery_code": lazy_gettext("recovery codes"),
}


def _project() -> dict[str, Any]:
    from app.services import services

    return services().config.project


def enabled_login_id_kinds(project: dict[str, Any] | None = None) -> frozenset[str]:
    """The kinds of login ID the project takes: `identity.login_id.keys` types, when `login_id` is
    among `authentication.identities`."""
    project = project if project is not None else _project()
    if "login_id" not in ((project.get("authentication") or {}).get("identities") or ["login_id"]):
        return frozenset()
    keys = ((project.get("identity") or {}).get("login_id") or {}).get("keys") or []
    return frozenset(str(k.get("type")) for k in keys if isinstance(k, dict)) & _ALL


def sms_enabled(project: dict[str, Any] | None = None) -> bool:
    """Whether codes go by text message: `oob_otp_sms` among the primary or secondary authenticators."""
    auth = (project if project is not None else _project()).get("authentication") or {}
    return any("oob_otp_sms" in (auth.get(k) or []) for k in ("primary_authenticators", "secondary_authenticators"))


def login_id_text(key: str, kinds: set[str] | frozenset[str] | None = None) -> str:
    """The `BY_LOGIN_ID_KINDS[key]` wording for `kinds` (default: the project's kinds of login ID)."""
    table = BY_LOGIN_ID_KINDS[key]
    chosen = frozenset(kinds if kinds is not None else enabled_login_id_kinds()) & _ALL
    if key == "forgot_password":
        chosen = chosen & {"email", "phone"} or _EP
    return str(table.get(chosen) or table[_EP if key == "forgot_password" else _ALL])


def target_invalid_text(project: dict[str, Any] | None = None) -> str:
    """A refused address for codes, naming only the channels the project sends codes by."""
    auth = (project if project is not None else _project()).get("authentication") or {}
    types = set(auth.get("primary_authenticators") or []) | set(auth.get("secondary_authenticators") or [])
    if "oob_otp_email" in types and "oob_otp_sms" in types:
        return gettext("Enter a valid email address or phone number.")
    if "oob_otp_sms" in types:
        return gettext("Enter a phone number with its country code, for example +85298765432.")
    return gettext("Enter a valid email address.")


def second_factors_summary(types: list[str], recovery_codes: bool) -> str:
    """The second factors the project offers, as a phrase ("Authenticator apps, codes by email and
    recovery codes")."""
    from babel.lists import format_list
    from flask_babel import get_locale

    keys = [t for t in ("totp", "oob_otp_email", "oob_otp_sms", "secondary_password") if t in types]
    if "oob_otp_email" in keys and "oob_otp_sms" in keys:
        keys[keys.index("oob_otp_email")] = "oob_otp"
        keys.remove("oob_otp_sms")
    if recovery_codes:
        keys.append("recovery_code")
    if not keys:
        return ""
    text = format_list([str(SECOND_FACTORS[k]) for k in keys], locale=get_locale() or "en")
    return text[:1].upper() + text[1:]


def identification_label(kinds: set[str]) -> str:
    """The login ID field's label: the kinds the page offers, else the project's, else "Email address"."""
    chosen = frozenset(kinds) & _ALL or enabled_login_id_kinds()
    return str(IDENTIFICATION_LABEL.get(chosen, gettext("Email address")))


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
    if reason == "UserNotFound":
        return login_id_text("not_found", _page_kinds(page))
    if reason == "RateLimited":
        wait = retry_wait(info)
        if error.get("resend"):  # a code page of the flows or of the settings
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
    if reason == "PasswordResetFailed":  # a reset link (app/authenticators/recovery_links.py)
        if (info.get("cause") or {}).get("kind") == "UsedCode":
            return gettext("This reset link was already used. Ask for a new one if you need to.")
        return gettext("This reset link is incorrect or has expired. Ask for a new one.")
    if reason == "PasswordPolicyViolated":
        return gettext("The password doesn't meet the requirements below.")
    if reason == "PasswordReused":
        return gettext("Choose a password you have not used recently.")
    if reason == "InvariantViolated":
        kind = (info.get("cause") or {}).get("kind")
        if kind == "DuplicatedIdentity":
            return login_id_text("exists")
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
        reason = (cause.get("details") or {}).get("reason")
        if cause.get("location") == "/login_id" and reason == "PhoneNumberCountryCodeAllowlist":
            # ui.phone_input.allowlist refused the number's country.
            return gettext("Phone numbers from this country or region are not accepted.")
        # A reserved or excluded username, an address with `+` (kind blocked): said as a bad format.
        if cause.get("location") == "/login_id" and cause.get("kind") in ("format", "blocked"):
            if identification == "phone":
                return gettext("Enter a phone number with its country code, for example +85298765432.")
            if identification == "username":
                return gettext("Enter a valid username.")
            return gettext("Enter a valid email address.")
        if cause.get("location") == "/target":
            return target_invalid_text()
        if cause.get("location") == "/attributes":
            return gettext("Please fill in the required fields.")
    if page in ("login", "signup", "forgot_password"):
        return login_id_text("invalid", _page_kinds(page))
    return gettext("Please check what you entered and try again.")


def _page_kinds(page: str) -> frozenset[str]:
    kinds = enabled_login_id_kinds()
    return kinds & {"email", "phone"} or kinds if page == "forgot_password" else kinds


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
    "SignupPerIP": ("authentication", "rate_limits", "signup", "per_ip"),
    "AccountEnumerationPerIP": ("authentication", "rate_limits", "account_enumeration", "per_ip"),
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
    from app.ratelimit import verification_rule
    from app.services import services

    bucket = str(info.get("bucket_name") or "")
    project = services().config.project
    value: Any = None
    rule = verification_rule(project["authentication"]["rate_limits"], bucket)
    if rule is None and bucket in _BUCKET_RULES:
        rule = _lookup(project, _BUCKET_RULES[bucket])
    if isinstance(rule, dict):
        value = rule.get("period")
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
