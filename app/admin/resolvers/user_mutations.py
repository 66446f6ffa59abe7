"""Mutations on a whole user account: create, update, delete, anonymize, status, valid period,
verified claims, password reset and expiry, lockout reset."""

from __future__ import annotations

from typing import Any

from app.admin.context import AdminContext
from app.admin.ids import decode_id
from app.admin.resolvers.identities import get_identity, login_id_definition
from app.admin.resolvers.mutation import admin_mutation, user_payload
from app.errors import Invalid, ValidationFailed
from app.flows.steps import account_recovery
from app.flows.steps.account_recovery import PURPOSE as ACCOUNT_RECOVERY
from app.hooks.effects import user_event
from app.identities.models import Identity, User

SEND_PASSWORD_TEMPLATE = "send_password"  # noqa: S105 (a message template name, not a secret)
MESSAGE_CHANNELS = (("email", "email"), ("phone", "sms"))  # login ID type -> channel, in order of preference


def _user(ctx: AdminContext, input: dict[str, Any]) -> User:  # noqa: A002
    return ctx.services.users.get(decode_id(input["userID"], "User"))


def _user_locale(user: User) -> str:
    """The user's `locale` standard attribute; empty (the fallback language) when unset."""
    locale = (user.standard_attributes or {}).get("locale")
    return locale if isinstance(locale, str) else ""


def password_destination(ctx: AdminContext, user: User) -> tuple[str, str]:
    """`(channel, address)` a password is sent to: the user's email login ID, else its phone
    login ID; Authgear's `Invalid/SendPasswordNoTarget` when it has neither."""
    login_ids = ctx.services.users.identities_of(user.id, "login_id")
    for login_id_type, channel in MESSAGE_CHANNELS:
        for identity in login_ids:
            if identity.login_id_type == login_id_type and identity.login_id:
                return channel, identity.login_id
    raise Invalid("SendPasswordNoTarget", "the user has no email or phone login ID to send the password to")


def send_password(ctx: AdminContext, user: User, destination: tuple[str, str], password: str) -> None:
    """Mails or texts a password an administrator set (template `send_password`, in the user's
    locale). Called last in a mutation, so nothing after it can fail and leave the user holding a
    password that was rolled back; the password is never logged (the sender logs a masked address)."""
    channel, address = destination
    params = {"app_name": ctx.services.config.project.get("id", ""), "password": password}
    sender = ctx.services.sender
    if channel == "email":
        sender.send_email(address, SEND_PASSWORD_TEMPLATE, params, _user_locale(user))
    else:
        sender.send_sms(address, SEND_PASSWORD_TEMPLATE, params, _user_locale(user))


def _password_to_set(ctx: AdminContext, input: dict[str, Any]) -> str | None:  # noqa: A002
    """The password given, a generated one (empty string or null with sendPassword), or None."""
    password = input.get("password")
    if password:
        return password
    if input.get("sendPassword"):
        return ctx.services.accounts.generate_password()
    if password == "":
        raise ValidationFailed(
            [{"location": "/sendPassword", "kind": "const", "details": {"expected": True}}],
            "a generated password must be sent: set sendPassword",
        )
    return None


@admin_mutation("createUser")
def create_user(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    svc = ctx.services
    key, value = login_id_definition(input["definition"])
    password = input.get("password")
    if password is None:
        # null means no password at all (Authgear): only an explicit empty string asks for a generated one.
        to_set = None
    else:
        to_set = _password_to_set(ctx, input)
    user = svc.users.create_user([(key, value)], ctx.request)
    send_to = password_destination(ctx, user) if to_set is not None and input.get("sendPassword") else None
    if to_set is not None:
        auth = svc.passwords.create(user.id, to_set, "primary", ctx.request)
        if input.get("setPasswordExpired"):
            auth.expire_after = svc.clock()
    if input.get("accountValidFrom") is not None or input.get("accountValidUntil") is not None:
        svc.accounts.set_valid_period(user, input.get("accountValidFrom"), input.get("accountValidUntil"), ctx.request)
    user_event("user.pre_create", user, ctx.request, identities=True)  # as Authgear, triggered_by admin_api
    if send_to is not None and to_set is not None:
        send_password(ctx, user, send_to, to_set)
    return user_payload(user)


@admin_mutation("updateUser")
def update_user(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    ctx.services.accounts.update_attributes(
        user, input.get("standardAttributes"), input.get("customAttributes"), ctx.request
    )
    return user_payload(user)


@admin_mutation("deleteUser")
def delete_user(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    global_id = input["userID"]
    user_id = ctx.services.accounts.delete(user, input.get("reason"), ctx.request)
    return {"deletedUserID": global_id}, user_id


@admin_mutation("anonymizeUser")
def anonymize_user(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    user_id = ctx.services.accounts.anonymize(user, ctx.request)
    return {"anonymizedUserID": input["userID"]}, user_id


@admin_mutation("scheduleAccountDeletion")
def schedule_deletion(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    return user_payload(ctx.services.accounts.schedule_deletion(user, input.get("reason"), ctx.request))


@admin_mutation("unscheduleAccountDeletion")
def unschedule_deletion(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    return user_payload(ctx.services.accounts.unschedule_deletion(_user(ctx, input), ctx.request))


@admin_mutation("scheduleAccountAnonymization")
def schedule_anonymization(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    return user_payload(ctx.services.accounts.schedule_anonymization(_user(ctx, input), ctx.request))


@admin_mutation("unscheduleAccountAnonymization")
def unschedule_anonymization(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    return user_payload(ctx.services.accounts.unschedule_anonymization(_user(ctx, input), ctx.request))


@admin_mutation("setDisabledStatus")
def set_disabled_status(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    if input.get("temporarilyDisabledFrom") is not None or input.get("temporarilyDisabledUntil") is not None:
        # The data model has no columns for a temporary disable period.
        raise ValidationFailed(
            [{"location": "/temporarilyDisabledFrom", "kind": "const", "details": {"expected": None}}],
            "temporary disabling is not supported",
        )
    user = _user(ctx, input)
    return user_payload(ctx.services.accounts.set_disabled(user, input["isDisabled"], input.get("reason"), ctx.request))


@admin_mutation("setAccountValidFrom")
def set_account_valid_from(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    accounts = ctx.services.accounts
    return user_payload(
        accounts.set_valid_period(user, input.get("accountValidFrom"), user.account_valid_until, ctx.request)
    )


@admin_mutation("setAccountValidUntil")
def set_account_valid_until(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    accounts = ctx.services.accounts
    return user_payload(
        accounts.set_valid_period(user, user.account_valid_from, input.get("accountValidUntil"), ctx.request)
    )


@admin_mutation("setAccountValidPeriod")
def set_account_valid_period(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    accounts = ctx.services.accounts
    return user_payload(
        accounts.set_valid_period(user, input.get("accountValidFrom"), input.get("accountValidUntil"), ctx.request)
    )


@admin_mutation("setVerifiedStatus")
def set_verified_status(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    accounts = ctx.services.accounts
    return user_payload(
        accounts.set_verified(user, input["claimName"], input["claimValue"], input["isVerified"], ctx.request)
    )


@admin_mutation("resetPassword")
def reset_password(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    password = _password_to_set(ctx, input)
    if password is None:
        raise ValidationFailed(
            [{"location": "/password", "kind": "required", "details": {"missing": ["password"]}}],
            "password is required unless sendPassword is set",
        )
    send_to = password_destination(ctx, user) if input.get("sendPassword") else None
    ctx.services.accounts.reset_password(user, password, bool(input.get("setPasswordExpired")), ctx.request)
    if send_to is not None:
        send_password(ctx, user, send_to, password)
    return user_payload(user)


def _recovery_login_id(input: dict[str, Any]) -> Identity:  # noqa: A002
    """The email or phone login ID identity named by `loginID`, or `Invalid`."""
    identity = get_identity(decode_id(input["loginID"], "Identity"))
    if identity.type != "login_id" or identity.login_id_type not in ("email", "phone") or not identity.login_id:
        raise Invalid("Invalid", "loginID must be the ID of an email or phone login ID identity")
    return identity


@admin_mutation("sendResetPasswordMessage")
def send_reset_password_message(ctx: AdminContext, input: dict[str, Any]) -> tuple[bool, str]:  # noqa: A002
    """Sends the account recovery code to a login ID, as the account_recovery flow's
    select_destination step does; the user enters it in that flow to choose a new password.

    The target's cooldown and messaging limits apply (`TooManyRequest/RateLimited`: a code sent
    moments ago is still valid); the per-IP limits do not, as the request comes from the
    administrator's backend, not from the user."""
    identity = _recovery_login_id(input)
    svc = ctx.services
    user = svc.users.get(identity.user_id)
    channel = dict(MESSAGE_CHANNELS)[identity.login_id_type or ""]
    # By email a reset link, as Authgear sends and the default flow takes (app/authenticators/recovery_links.py).
    meta = account_recovery.admin_link_meta(svc, user.id) if channel == "email" else None
    form = "link" if meta else "code"
    svc.otp.send(ACCOUNT_RECOVERY, channel, identity.login_id or "", locale=_user_locale(user), form=form, meta=meta)
    return True, user.id


@admin_mutation("setPasswordExpired")
def set_password_expired(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = _user(ctx, input)
    return user_payload(ctx.services.accounts.set_password_expired(user, input["expired"], ctx.request))


@admin_mutation("resetAccountLockout")
def reset_account_lockout(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    """Forgets the user's failed attempts and ends its lock now."""
    user = _user(ctx, input)
    ctx.services.lockout.clear(user.id)
    return user_payload(user)


BINDABLES: list[Any] = []
