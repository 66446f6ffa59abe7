"""One record of the User Import API (contract 4.2): validate it, then insert, update or skip.

A record is looked up by the request's `identifier` login ID. Unknown: the user is inserted.
Known and `upsert` true: the user is updated field by field; known and `upsert` false: skipped.
What each field does (Authgear's `userimport` rules):

| field                                    | insert                       | update                         |
|------------------------------------------|------------------------------|--------------------------------|
| email / phone_number / preferred_username| login ID added; null warns   | login ID set; null removes it  |
| (login ID type not enabled)              | ignored with a warning       | ignored with a warning         |
| email_verified / phone_number_verified   | true marks verified; false warns | sets the claim's verified state |
| name ... locale, address                 | set; null removes            | set; null removes (address whole) |
| custom_attributes                        | per key: set; null removes   | same                           |
| roles / groups                           | set to exactly the list      | same                           |
| disabled                                 | true disables; false warns   | disables or re-enables         |
| account_valid_from / _until              | set; null clears             | same                           |
| password / mfa.password                  | imported hash stored         | ignored with a warning         |
| mfa.email / mfa.phone_number             | secondary OOB authenticator; null warns | replaced; null removes all |
| mfa.totp                                 | TOTP authenticator           | ignored with a warning         |

Each record runs in a savepoint: an error undoes that record only and becomes its outcome.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import InterfaceError, OperationalError

from app.authenticators import imported_hashes
from app.authenticators.models import Authenticator
from app.errors import AppError, InternalError, Invalid, ValidationFailed
from app.extensions import db
from app.flows.inputs import obj, validate
from app.identities.account import ADDRESS_FIELDS, PROFILE_ATTRIBUTES
from app.identities.models import User, VerifiedClaim
from app.identities.normalize import normalize_email, normalize_phone
from app.identities.service import LoginIDSpec
from app.roles.models import Group, Role, user_groups, user_roles
from app.services import Services

log = logging.getLogger(__name__)

# Record field -> login ID type.
LOGIN_ID_TYPES = {"email": "email", "phone_number": "phone", "preferred_username": "username"}
CLAIMS = {"email": "email_verified", "phone_number": "phone_number_verified"}
PROFILE_FIELDS = (*PROFILE_ATTRIBUTES, "address")
REDACTED = "REDACTED"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_TEXT = {"type": "string", "maxLength": 1000}
_NULLABLE_TEXT = {"type": ["string", "null"], "maxLength": 1000}
_LOGIN_ID = {"type": "string", "minLength": 1, "maxLength": 400}
_NULLABLE_LOGIN_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 400}
_KEYS = {"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 40}}
_BOOL = {"type": "boolean"}
_NULLABLE_TIME = {"type": ["string", "null"], "maxLength": 64}
_PASSWORD = obj(
    {
        "type": {"enum": list(imported_hashes.IMPORT_TYPES)},
        "password_hash": {"type": "string", "minLength": 1, "maxLength": 1000},
        "expire_after": {"type": "string", "maxLength": 64},
    },
    ["type", "password_hash"],
)
_MFA = obj(
    {
        "email": _NULLABLE_LOGIN_ID,
        "phone_number": _NULLABLE_LOGIN_ID,
        "password": _PASSWORD,
        "totp": obj({"secret": {"type": "string", "minLength": 1, "maxLength": 200}}, ["secret"]),
    }
)


def record_schema(identifier: str) -> dict[str, Any]:
    """Closed schema of a record; the identifier field is required and not null."""
    properties: dict[str, Any] = {name: _NULLABLE_LOGIN_ID for name in LOGIN_ID_TYPES}
    properties[identifier] = _LOGIN_ID
    properties.update({name: _NULLABLE_TEXT for name in PROFILE_FIELDS})
    properties["address"] = {
        "type": ["object", "null"],
        "properties": {name: _TEXT for name in ADDRESS_FIELDS},
        "additionalProperties": False,
    }
    properties.update(
        {
            "email_verified": _BOOL,
            "phone_number_verified": _BOOL,
            "disabled": _BOOL,
            "custom_attributes": {"type": "object", "maxProperties": 100},
            "roles": _KEYS,
            "groups": _KEYS,
            "account_valid_from": _NULLABLE_TIME,
            "account_valid_until": _NULLABLE_TIME,
            "password": _PASSWORD,
            "mfa": _MFA,
        }
    )
    return obj(properties, [identifier])


_SCHEMAS = {identifier: record_schema(identifier) for identifier in LOGIN_ID_TYPES}


def redact(record: Any) -> Any:
    """The record as the status shows it: password hashes and the TOTP secret are `REDACTED`."""
    if not isinstance(record, dict):
        return record
    out = copy.deepcopy(record)

    def password(container: dict[str, Any]) -> None:
        if "password" in container:
            value = container["password"]
            if isinstance(value, dict):
                if "password_hash" in value:
                    value["password_hash"] = REDACTED
            else:
                container["password"] = REDACTED

    password(out)
    if "mfa" in out:
        mfa = out["mfa"]
        if isinstance(mfa, dict):
            password(mfa)
            if "totp" in mfa:
                if isinstance(mfa["totp"], dict):
                    if "secret" in mfa["totp"]:
                        mfa["totp"]["secret"] = REDACTED
                else:
                    mfa["totp"] = REDACTED
        else:
            out["mfa"] = REDACTED
    return out


def parse_time(value: str, location: str) -> datetime:
    """An RFC 3339 date-time with a time zone, or `ValidationFailed` at `location`."""
    if _RFC3339.match(value):
        try:
            return datetime.fromisoformat(value.upper())
        except ValueError:
            pass
    raise ValidationFailed(
        [{"location": location, "kind": "format", "details": {"format": "date-time"}}], "invalid date-time"
    )


@dataclass
class Outcome:
    outcome: str = "failed"
    user_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_detail(self, index: int) -> dict[str, Any]:
        """The stored detail; the (redacted) record is added from the task input when shown."""
        detail: dict[str, Any] = {"index": index, "outcome": self.outcome}
        if self.user_id:
            detail["user_id"] = self.user_id
        if self.warnings:
            detail["warnings"] = [{"message": m} for m in self.warnings]
        if self.errors:
            detail["errors"] = self.errors
        return detail


class RecordImporter:
    def __init__(self, svc: Services, identifier: str, upsert: bool) -> None:
        self.svc = svc
        self.identifier = identifier
        self.upsert = upsert

    def run(self, record: Any) -> Outcome:
        """Applies one record inside a savepoint (flushed, not committed) and says what happened."""
        outcome = Outcome()
        try:
            with db.session.begin_nested():
                self._apply(record, outcome)
        except (OperationalError, InterfaceError):
            raise  # the database is gone: the whole step is retried, not this record failed
        except AppError as exc:
            outcome.outcome, outcome.user_id, outcome.errors = "failed", None, [exc.to_dict()]
        except Exception:
            log.exception("user import: unexpected error in a record")
            error = InternalError("UnexpectedError", "unexpected error")
            outcome.outcome, outcome.user_id, outcome.errors = "failed", None, [error.to_dict()]
        return outcome

    # -- dispatch -------------------------------------------------------------------------------
    def _apply(self, record: Any, outcome: Outcome) -> None:
        validate(record, _SCHEMAS[self.identifier])
        for name in ("account_valid_from", "account_valid_until"):
            if isinstance(record.get(name), str):
                parse_time(record[name], f"/{name}")
        for where, container in (("", record), ("/mfa", record.get("mfa") or {})):
            if isinstance(container.get("password"), dict) and "expire_after" in container["password"]:
                parse_time(container["password"]["expire_after"], f"{where}/password/expire_after")
        identity = self.svc.users.find_identity(LOGIN_ID_TYPES[self.identifier], record[self.identifier])
        if identity is None:
            user = self._insert(record, outcome)
            outcome.outcome = "inserted"
        elif self.upsert:
            user = self._update(self.svc.users.get(identity.user_id), record, outcome)
            outcome.outcome = "updated"
        else:
            outcome.outcome, outcome.user_id = "skipped", identity.user_id
            outcome.warnings.append("skipping because upsert = false and user exists")
            return
        db.session.flush()
        outcome.user_id = user.id

    def _spec(self, field_name: str) -> LoginIDSpec | None:
        wanted = LOGIN_ID_TYPES[field_name]
        return next((s for s in self.svc.users.login_id_specs() if s.type == wanted), None)

    # -- insert ---------------------------------------------------------------------------------
    def _insert(self, record: dict[str, Any], outcome: Outcome) -> User:
        login_ids: list[tuple[str, str]] = []
        for name in LOGIN_ID_TYPES:
            if name not in record:
                continue
            if record[name] is None:
                outcome.warnings.append(f"{name} = null has no effect in insert.")
                continue
            spec = self._spec(name)
            if spec is None:
                outcome.warnings.append(f"{name} is ignored because it is not an allowed login ID.")
                continue
            login_ids.append((spec.key, record[name]))
        user = self.svc.users.create_user(login_ids)
        for name, flag in CLAIMS.items():
            if flag not in record:
                continue
            if not record[flag]:
                outcome.warnings.append(f"{flag} = false has no effect in insert.")
                continue
            identities = self.svc.users.identities_of(user.id, "login_id")
            value = next((i.login_id for i in identities if i.login_id_type == LOGIN_ID_TYPES[name]), None)
            if value is None:
                outcome.warnings.append(f"{flag} = true has no effect when {name} is absent.")
            else:
                self.svc.users.mark_verified(user.id, name, value)
        self._profile(user, record)
        if "disabled" in record:
            if record["disabled"]:
                self.svc.accounts.set_disabled(user, True, None)
            else:
                outcome.warnings.append("disabled = false has no effect in insert.")
        self._valid_period(user, record)
        self._roles_and_groups(user, record)
        mfa = record.get("mfa") or {}
        for container, kind in ((record, "primary"), (mfa, "secondary")):
            if "password" in container:
                self._password(user, container["password"], kind)
        for name, channel in (("email", "email"), ("phone_number", "sms")):
            if name not in mfa:
                continue
            if mfa[name] is None:
                outcome.warnings.append(f"mfa.{name} = null has no effect in insert.")
            else:
                self.svc.oob.create(user.id, channel, self._oob_target(channel, mfa[name]), "secondary")
        if "totp" in mfa:
            self.svc.totp.create(user.id, mfa["totp"]["secret"], "Imported")
        return user

    # -- update ---------------------------------------------------------------------------------
    def _update(self, user: User, record: dict[str, Any], outcome: Outcome) -> User:
        for name in LOGIN_ID_TYPES:
            if name == self.identifier or name not in record:
                continue
            spec = self._spec(name)
            if spec is None:
                outcome.warnings.append(f"{name} is ignored because it is not an allowed login ID.")
                continue
            self._set_login_id(user, spec, record[name])
        identities = self.svc.users.identities_of(user.id, "login_id")
        for name, flag in CLAIMS.items():
            if flag not in record:
                continue
            if name not in record:
                outcome.warnings.append(f"{flag} has no effect when {name} is absent.")
            elif record[name] is None:
                outcome.warnings.append(f"{flag} has no effect when {name} = null.")
            else:
                _, norm = self.svc.users.normalize(LOGIN_ID_TYPES[name], record[name])
                if any(i.login_id == norm.value and i.login_id_type == LOGIN_ID_TYPES[name] for i in identities):
                    self._set_verified(user.id, name, norm.value, record[flag])
        self._profile(user, record)
        if "disabled" in record and record["disabled"] != user.is_disabled:
            try:
                self.svc.accounts.set_disabled(user, record["disabled"], None)
            except Invalid as exc:  # e.g. a user scheduled for deletion: reported, not fatal
                outcome.warnings.append(exc.message)
        self._valid_period(user, record)
        self._roles_and_groups(user, record)
        mfa = record.get("mfa") or {}
        # Credentials are set on insert only: an import never replaces what a user may have changed.
        ignored = [n for n in ("password",) if n in record] + [f"mfa.{n}" for n in ("password", "totp") if n in mfa]
        for name in ignored:
            outcome.warnings.append(f"{name} is ignored because the user exists.")
        for name, channel in (("email", "email"), ("phone_number", "sms")):
            if name in mfa:
                self._replace_oob(user, channel, mfa[name])
        return user

    def _set_login_id(self, user: User, spec: LoginIDSpec, value: str | None) -> None:
        current = [i for i in self.svc.users.identities_of(user.id, "login_id") if i.login_id_key == spec.key]
        if value is None:
            for identity in current:
                self.svc.accounts.delete_identity(identity)
            return
        if not current:
            self.svc.users.add_login_id(user, spec.key, value)
            return
        _, norm = self.svc.users.normalize(spec.key, value)
        if current[0].login_id != norm.value:
            self.svc.accounts.update_login_id(user, current[0], spec.key, value)

    def _set_verified(self, user_id: str, claim: str, value: str, verified: bool) -> None:
        if verified:
            self.svc.users.mark_verified(user_id, claim, value)
        else:
            db.session.execute(
                delete(VerifiedClaim).where(
                    VerifiedClaim.user_id == user_id, VerifiedClaim.name == claim, VerifiedClaim.value == value
                )
            )

    def _replace_oob(self, user: User, channel: str, target: str | None) -> None:
        """The user's secondary OOB authenticators of `channel` become exactly `target` (or none)."""
        type_ = f"oob_otp_{channel}"
        current = [a for a in self.svc.oob.list_for_user(user.id, "secondary") if a.type == type_]
        wanted = self._oob_target(channel, target) if target is not None else None
        if wanted is not None and any(a.oob_target == wanted for a in current):
            return
        for auth in current:
            db.session.delete(auth)
        db.session.flush()
        if wanted is not None:
            self.svc.oob.create(user.id, channel, wanted, "secondary")

    # -- shared ---------------------------------------------------------------------------------
    @staticmethod
    def _oob_target(channel: str, value: str) -> str:
        return normalize_email(value, {}).value if channel == "email" else normalize_phone(value).value

    def _profile(self, user: User, record: dict[str, Any]) -> None:
        if any(name in record for name in PROFILE_FIELDS):
            attrs = dict(user.standard_attributes or {})
            for name in PROFILE_FIELDS:
                if name in record:
                    if record[name] is None:
                        attrs.pop(name, None)
                    else:
                        attrs[name] = record[name]
            user.standard_attributes = self.svc.accounts.validate_standard(attrs)
        if "custom_attributes" in record:
            custom = dict(user.custom_attributes or {})
            for key, value in record["custom_attributes"].items():
                if value is None:
                    custom.pop(key, None)
                else:
                    custom[key] = value
            user.custom_attributes = self.svc.accounts.validate_custom(custom)

    def _valid_period(self, user: User, record: dict[str, Any]) -> None:
        names = ("account_valid_from", "account_valid_until")
        if not any(name in record for name in names):
            return
        values = [user.account_valid_from, user.account_valid_until]
        for i, name in enumerate(names):
            if name in record:
                values[i] = parse_time(record[name], f"/{name}") if record[name] is not None else None
        self.svc.accounts.set_valid_period(user, values[0], values[1])

    def _roles_and_groups(self, user: User, record: dict[str, Any]) -> None:
        """`roles` and `groups` set the user's direct links to exactly the keys given."""
        if "roles" in record:
            have = set(db.session.scalars(select(Role.key).join(user_roles).where(user_roles.c.user_id == user.id)))
            wanted = set(record["roles"])
            if wanted - have:
                self.svc.roles.add_user_to_roles(user.id, sorted(wanted - have))
            if have - wanted:
                self.svc.roles.remove_user_from_roles(user.id, sorted(have - wanted))
        if "groups" in record:
            have = set(
                db.session.scalars(select(Group.key).join(user_groups).where(user_groups.c.user_id == user.id))
            )
            wanted = set(record["groups"])
            if wanted - have:
                self.svc.roles.add_user_to_groups(user.id, sorted(wanted - have))
            if have - wanted:
                self.svc.roles.remove_user_from_groups(user.id, sorted(have - wanted))

    def _password(self, user: User, password: dict[str, Any], kind: str) -> Authenticator:
        stored = imported_hashes.validate(password["type"], password["password_hash"])
        auth = self.svc.passwords.create_from_hash(user.id, stored, kind)
        if "expire_after" in password:
            auth.expire_after = parse_time(password["expire_after"], "/password/expire_after")
        return auth
