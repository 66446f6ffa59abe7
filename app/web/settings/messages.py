"""What the settings pages say: the confirmation after a change (a message ID kept in the flashed
message, translated when shown) and the sentence for each error, by Authgear reason; errors the
hosted pages already know are worded as they word them (`app.web.messages.error_text`)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext, lazy_gettext

from app.web.messages import error_text, login_id_text, target_invalid_text

NOTICES = {
    "profile_saved": lazy_gettext("Your profile has been updated."),
    "login_id_added": lazy_gettext("It has been added to your account."),
    "login_id_changed": lazy_gettext("It has been changed."),
    "login_id_removed": lazy_gettext("It has been removed from your account."),
    "login_id_verified": lazy_gettext("Thank you. It has been verified."),
    "primary_changed": lazy_gettext("Your primary contact has been changed."),
    "password_changed": lazy_gettext("Your password has been changed."),
    "password_created": lazy_gettext("Your password has been set."),
    "totp_added": lazy_gettext("Your authenticator app has been added."),
    "oob_added": lazy_gettext("Two-factor codes will be sent there from now on."),
    "authenticator_removed": lazy_gettext("It has been removed."),
    "session_revoked": lazy_gettext("That session has been signed out."),
    "sessions_revoked": lazy_gettext("Your other sessions have been signed out."),
    "authorization_revoked": lazy_gettext("The app's access has been removed."),
    "code_sent": lazy_gettext("We sent you a new code."),
    "passkey_added": lazy_gettext("Your passkey has been added."),
    "oauth_linked": lazy_gettext("The account has been connected. You can sign in with it from now on."),
    "oauth_unlinked": lazy_gettext("The account has been disconnected."),
}

SETTINGS_ERRORS = {
    "AccessControlViolated": lazy_gettext("You can't change this information here."),
    "RemoveLastSecondaryAuthenticator": lazy_gettext(
        "Two-factor authentication is required, so you can't remove your last second factor. Add another one first."
    ),
    "RemoveLastPrimaryAuthenticator": lazy_gettext(
        "You can't remove this: you would have no way left to sign in. Set a password or add another passkey first."
    ),
    "IdentityModifyDisabled": lazy_gettext("This can't be changed here."),
    "DuplicatedAuthenticator": lazy_gettext("You have already added this."),
    "ClaimNotVerifiable": lazy_gettext("This can't be verified."),
    "SettingsPendingNotFound": lazy_gettext("This page has expired. Please start again."),
    "AccountDeletionDisabled": lazy_gettext("Deleting your account isn't available here."),
    "IdentityNotFound": lazy_gettext("This page doesn't exist."),
    "AuthenticatorNotFound": lazy_gettext("This page doesn't exist."),
    "SessionNotFound": lazy_gettext("That session has already ended."),
    "AuthorizationNotFound": lazy_gettext("This page doesn't exist."),
}


def notice_text(key: str) -> str | None:
    text = NOTICES.get(key)
    return str(text) if text is not None else None


def _first_cause(info: dict[str, Any]) -> dict[str, Any]:
    cause = (info.get("causes") or [None])[0]
    return cause if isinstance(cause, dict) else {}


def settings_error_text(error: dict[str, Any], page: str) -> str:
    """The sentence for an `AppError.to_dict()` on a settings page."""
    reason = str(error.get("reason", ""))
    info = error.get("info") or {}
    kind = (info.get("cause") or {}).get("kind") if reason == "InvariantViolated" else None
    if "RemoveLastIdentity" in (kind, reason):  # names only the kinds of login ID the project takes
        return login_id_text("remove_last")
    if kind in SETTINGS_ERRORS:
        return str(SETTINGS_ERRORS[kind])
    if reason in SETTINGS_ERRORS:
        return str(SETTINGS_ERRORS[reason])
    if reason == "PasswordPolicyViolated":
        names = {c.get("Name") for c in info.get("causes") or [] if isinstance(c, dict)}
        if names == {"PasswordReused"}:
            return gettext("Choose a password you have not used recently.")
    if reason == "InvalidCredentials" and page == "settings/passkeys":
        return gettext("The passkey could not be created. Please try again.")
    if reason == "InvalidCredentials":
        return gettext("The current password is incorrect.")
    if reason == "InvalidTOTPCode":
        return gettext("That code doesn't match. Check your authenticator app and try again.")
    if reason == "ValidationFailed":
        locations = {c.get("location") for c in info.get("causes") or [] if isinstance(c, dict)}
        if {"location": "/birthdate", "kind": "maximum"}.items() <= _first_cause(info).items():
            return gettext("Your birthday can't be in the future.")
        if "/login_id" in locations:
            return error_text(error, page)
        if "/target" in locations:
            return target_invalid_text()
        return gettext("Please check what you entered and try again.")
    return error_text(error, page)
