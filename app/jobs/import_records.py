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

`RecordImporter.run_batch` applies a batch of records with a few set-based statements: one lookup
of every login ID in the batch, then multi-row INSERTs of the new users' rows in one savepoint.
It takes the plain inserts (login IDs, verified flags, profile, custom attributes, password) and
the skips; every other record (updates, roles, MFA, ... and any record that fails) goes through
`run`, and so does the whole batch when its savepoint fails, so outcomes are those of `run`.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jsonschema
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table, delete, insert, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import InterfaceError, OperationalError

from app.audit import AuditLog
from app.authenticators import imported_hashes
from app.authenticators.models import Authenticator
from app.db import CHANGES_USERS
from app.errors import AppError, InternalError, Invalid, ValidationFailed
from app.extensions import db
from app.flows.inputs import _cause as cause
from app.flows.inputs import closed_obj
from app.identities.account import ADDRESS_FIELDS, PROFILE_ATTRIBUTES
from app.identities.models import Identity, User, VerifiedClaim
from app.identities.normalize import NormalizedLoginID, normalize, normalize_email, normalize_phone
from app.identities.service import CLAIM_BY_TYPE, LoginIDSpec, UserService
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
_PASSWORD = closed_obj(
    {
        "type": {"enum": list(imported_hashes.IMPORT_TYPES)},
        "password_hash": {"type": "string", "minLength": 1, "maxLength": 1000},
        "expire_after": {"type": "string", "maxLength": 64},
    },
    ["type", "password_hash"],
)
_MFA = closed_obj(
    {
        "email": _NULLABLE_LOGIN_ID,
        "phone_number": _NULLABLE_LOGIN_ID,
        "password": _PASSWORD,
        "totp": closed_obj({"secret": {"type": "string", "minLength": 1, "maxLength": 200}}, ["secret"]),
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
    return closed_obj(properties, [identifier])


_SCHEMAS = {identifier: record_schema(identifier) for identifier in LOGIN_ID_TYPES}
# Built once: constructing a validator costs more than checking a record with it. The batch path
# only asks whether a record is valid; `run` reports why one is not.
_VALIDATORS = {identifier: jsonschema.Draft202012Validator(schema) for identifier, schema in _SCHEMAS.items()}
# What an insert may carry to be applied by `run_batch`; a record with anything else goes through `run`.
_BATCH_FIELDS = frozenset({*LOGIN_ID_TYPES, *CLAIMS.values(), *PROFILE_FIELDS, "custom_attributes", "password"})
# Every NOT NULL column: COPY applies no Python-side defaults.
_PASSWORD_TYPES = frozenset(imported_hashes.IMPORT_TYPES)


def _plain_valid(record: Any, identifier: str) -> bool:
    """True when the record certainly passes its schema: the common fields checked directly, as
    the schema says (`_VALIDATORS` takes 60 us a record, this a tenth of it). False means "ask the
    schema", not "invalid"."""
    if not isinstance(record, dict):
        return False
    value = record.get(identifier)
    if not isinstance(value, str) or not 1 <= len(value) <= 400:
        return False
    for name, value in record.items():
        if name in LOGIN_ID_TYPES:
            ok = value is None or (isinstance(value, str) and 1 <= len(value) <= 400)
        elif name in PROFILE_FIELDS and name != "address":
            ok = value is None or (isinstance(value, str) and len(value) <= 1000)
        elif name in CLAIMS.values():
            ok = isinstance(value, bool)
        elif name == "custom_attributes":
            ok = isinstance(value, dict) and len(value) <= 100
        elif name == "password":
            ok = (
                isinstance(value, dict)
                and value.keys() <= {"type", "password_hash", "expire_after"}
                and isinstance(value.get("type"), str)
                and value["type"] in _PASSWORD_TYPES
                and isinstance(value.get("password_hash"), str)
                and 1 <= len(value["password_hash"]) <= 1000
                and isinstance(value.get("expire_after", ""), str)
                and len(value.get("expire_after", "")) <= 64
            )
        else:
            return False
        if not ok:
            return False
    return True


_USER_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "standard_attributes",
    "custom_attributes",
    "is_disabled",
    "is_deactivated",
    "is_anonymized",
)


def _new_id() -> str:
    """`app.db.new_id` (a UUID v4 string) without building a `uuid.UUID`: a third of the time, which
    counts at three IDs per imported record."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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


def _copier() -> Callable[[Table, list[dict[str, Any]]], None] | None:
    """On PostgreSQL, a function that writes rows with COPY on the session's connection (in its
    transaction and savepoint): for PostgreSQL a row of COPY costs a fraction of a row of INSERT.
    Only rows of new users go this way, which app/resolver/invalidation.py would not mark anyway
    (see `_write`). None elsewhere (SQLite)."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return None
    driver = connection.connection.driver_connection

    def copy(table: Table, rows: list[dict[str, Any]]) -> None:
        names = list(rows[0])
        json_columns = {name for name in names if isinstance(table.c[name].type, JSON | JSONB)}
        with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as out:
            for row in rows:
                out.write_row([Jsonb(row[n]) if n in json_columns else row[n] for n in names])

    return copy


class LoginIDRules:
    """`UserService.normalize` and the enabled login ID specs, read once: the service rebuilds its
    specs on every call (tens of microseconds, several times per record of an import)."""

    def __init__(self, users: UserService) -> None:
        self.users = users
        self.specs = users.login_id_specs()
        self._by_name: dict[str, LoginIDSpec | None] = {}

    def spec(self, field_name: str) -> LoginIDSpec | None:
        """The enabled spec of a record field's login ID type (`email`, ...), or None."""
        if field_name not in self._by_name:
            wanted = LOGIN_ID_TYPES[field_name]
            self._by_name[field_name] = next((s for s in self.specs if s.type == wanted), None)
        return self._by_name[field_name]

    def normalize(self, key_or_type: str, raw: Any) -> tuple[LoginIDSpec, NormalizedLoginID]:
        """As `UserService.normalize` (same spec lookup, rules and errors)."""
        spec = next((s for s in self.specs if key_or_type in (s.key, s.type)), None)
        if spec is None:
            return self.users.normalize(key_or_type, raw)  # its error
        users = self.users
        rules = users.phone_input if spec.type == "phone" else users.login_id_config["types"].get(spec.type, {})
        return spec, normalize(spec.type, raw, rules, spec.max_length)


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
        self.rules = LoginIDRules(svc.users)

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

    # -- batches --------------------------------------------------------------------------------
    def run_batch(self, records: list[Any]) -> list[Outcome]:
        """Applies records in order, as `run` one by one would, with set-based statements for the
        plain inserts and skips (flushed, not committed); one outcome per record."""
        keyed: list[tuple[str, list[tuple[LoginIDSpec, Any]]] | None] = [self._keys(r) for r in records]
        if self._repeats(keyed):
            # Two records name one login ID: the second must see what the first did.
            return [self.run(record) for record in records]
        wanted = sorted({k for entry in keyed if entry is not None for k in (entry[0], *self._dedup_keys(entry[1]))})
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 1000):
            rows_found = db.session.execute(
                select(Identity.dedup_key, Identity.user_id).where(Identity.dedup_key.in_(wanted[start : start + 1000]))
            )
            # Rows unpack as (key, user) pairs; Result.tuples() is deprecated since SQLAlchemy 2.1.
            found.update((key, user_id) for key, user_id in rows_found)
        outcomes: list[Outcome | None] = [None] * len(records)
        rows: dict[str, list[dict[str, Any]]] = {"users": [], "identities": [], "claims": [], "auths": [], "audit": []}
        batched: list[int] = []
        for i, (record, entry) in enumerate(zip(records, keyed, strict=True)):
            if entry is None:
                continue  # invalid, or not a plain record: `run` below
            lookup, login_ids = entry
            if lookup in found:
                if not self.upsert:
                    outcomes[i] = Outcome("skipped", found[lookup], ["skipping because upsert = false and user exists"])
                continue
            if any(k in found for k in self._dedup_keys(login_ids)) or not _BATCH_FIELDS.issuperset(record):
                continue
            try:
                outcomes[i] = self._insert_rows(record, login_ids, rows)
                batched.append(i)
            except Exception:  # noqa: BLE001, S112 (`run` reports it, with the very error it always did)
                outcomes[i] = None
        if batched and not self._write(rows):
            for i in batched:
                outcomes[i] = None
        return [o if o is not None else self.run(r) for o, r in zip(outcomes, records, strict=True)]

    def _keys(self, record: Any) -> tuple[str, list[tuple[LoginIDSpec, Any]]] | None:
        """The identifier's lookup key and the record's normalized login IDs (what `_insert` would
        add), or None when the record is invalid (`run` reports it)."""
        try:
            if not _plain_valid(record, self.identifier) and not _VALIDATORS[self.identifier].is_valid(record):
                return None
            self._check_times(record)
            by_type, norm = self.rules.normalize(LOGIN_ID_TYPES[self.identifier], record[self.identifier])
            lookup = f"login_id:{by_type.key}:{norm.unique_key}"
            login_ids = []
            for name in LOGIN_ID_TYPES:
                if record.get(name) is not None and (spec := self._spec(name)) is not None:
                    if name == self.identifier and spec == by_type:
                        login_ids.append((spec, norm))  # normalizing is not free: once is enough
                    else:
                        login_ids.append((spec, self.rules.normalize(spec.key, record[name])[1]))
        except AppError:
            return None
        return lookup, login_ids

    @staticmethod
    def _dedup_keys(login_ids: list[tuple[LoginIDSpec, Any]]) -> list[str]:
        return [f"login_id:{spec.key}:{norm.unique_key}" for spec, norm in login_ids]

    def _repeats(self, keyed: list[tuple[str, list[tuple[LoginIDSpec, Any]]] | None]) -> bool:
        """Whether two records share a login ID (a record naming its own twice does not count)."""
        seen: set[str] = set()
        for entry in keyed:
            if entry is None:
                continue
            mine = {entry[0], *self._dedup_keys(entry[1])}
            if seen & mine:
                return True
            seen |= mine
        return False

    def _insert_rows(
        self, record: dict[str, Any], login_ids: list[tuple[LoginIDSpec, Any]], rows: dict[str, list[dict[str, Any]]]
    ) -> Outcome:
        """The rows `_insert` would write for a plain record, added to `rows`, and its outcome.
        Raises what `_insert` would raise, before anything is added."""
        outcome = Outcome("inserted")
        for name in LOGIN_ID_TYPES:
            if name in record and record[name] is None:
                outcome.warnings.append(f"{name} = null has no effect in insert.")
            elif name in record and self._spec(name) is None:
                outcome.warnings.append(f"{name} is ignored because it is not an allowed login ID.")
        now = self.svc.clock()
        user_id = _new_id()
        attrs: dict[str, Any] = {}
        identities = []
        for spec, norm in login_ids:
            claim = CLAIM_BY_TYPE[spec.type]
            attrs.setdefault(claim, norm.value)
            identities.append(
                {
                    "id": _new_id(),
                    "user_id": user_id,
                    "type": "login_id",
                    "dedup_key": f"login_id:{spec.key}:{norm.unique_key}",
                    "login_id_key": spec.key,
                    "login_id_type": spec.type,
                    "login_id": norm.value,
                    "original_login_id": norm.value,
                    "claims": {claim: norm.value},
                    "created_at": now,
                    "updated_at": now,
                }
            )
        claims = []
        for name, flag in CLAIMS.items():
            if flag not in record:
                continue
            if not record[flag]:
                outcome.warnings.append(f"{flag} = false has no effect in insert.")
                continue
            value = next((n.value for s, n in login_ids if s.type == LOGIN_ID_TYPES[name]), None)
            if value is None:
                outcome.warnings.append(f"{flag} = true has no effect when {name} is absent.")
            else:
                claims.append({"id": _new_id(), "user_id": user_id, "name": name, "value": value, "created_at": now})
        if any(name in record for name in PROFILE_FIELDS):
            for name in PROFILE_FIELDS:
                if name in record:
                    if record[name] is None:
                        attrs.pop(name, None)
                    else:
                        attrs[name] = record[name]
            attrs = self.svc.accounts.validate_standard(attrs)
        custom: dict[str, Any] = {}
        if "custom_attributes" in record:
            custom = {k: v for k, v in record["custom_attributes"].items() if v is not None}
            custom = self.svc.accounts.validate_custom(custom)
        auths = []
        if "password" in record:
            password = record["password"]
            auths.append(
                {
                    "id": _new_id(),
                    "user_id": user_id,
                    "type": "password",
                    "kind": "primary",
                    "is_default": False,
                    "password_hash": imported_hashes.validate(password["type"], password["password_hash"]),
                    "expire_after": parse_time(password["expire_after"], "/password/expire_after")
                    if "expire_after" in password
                    else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        user = (user_id, now, now, attrs, custom, False, False, False)
        rows["users"].append(dict(zip(_USER_COLUMNS, user, strict=True)))
        rows["identities"] += identities
        rows["claims"] += claims
        rows["auths"] += auths
        # As `create_user` audits it (app/audit.py's row for a context-free write).
        rows["audit"].append(
            {
                "created_at": now,
                "activity_type": "user.created",
                "user_id": user_id,
                "ip_address": None,
                "user_agent": None,
                "client_id": None,
                "data": {"login_ids": [spec.key for spec, _ in login_ids]},
            }
        )
        outcome.user_id = user_id
        return outcome

    def _write(self, rows: dict[str, list[dict[str, Any]]]) -> bool:
        """Inserts the batch's rows in one savepoint; False (nothing written) when it fails, e.g.
        a login ID taken meanwhile by another import: then each record runs on its own."""
        tables = ((User, "users"), (Identity, "identities"), (VerifiedClaim, "claims"), (Authenticator, "auths"))
        try:
            with db.session.begin_nested():
                copy = _copier()
                for model, key in (*tables, (AuditLog, "audit")):
                    if not rows[key]:
                        continue
                    if copy is not None:
                        copy(model.__table__, rows[key])
                    else:
                        # Through the session, as app/resolver/invalidation.py asks; rows of users
                        # that did not exist change no resolution made before (none can have been
                        # made), so no change token is replaced for them.
                        statement = insert(model.__table__).execution_options(**{CHANGES_USERS: []})
                        db.session.execute(statement, rows[key])
        except (OperationalError, InterfaceError):
            raise  # the database is gone: the whole step is retried
        except Exception as exc:  # noqa: BLE001 (each record then gets the outcome `run` gives it)
            log.info("user import: a batch failed (%s); applying its records one by one", type(exc).__name__)
            return False
        return True

    # -- dispatch -------------------------------------------------------------------------------
    @staticmethod
    def _check_times(record: dict[str, Any]) -> None:
        for name in ("account_valid_from", "account_valid_until"):
            if isinstance(record.get(name), str):
                parse_time(record[name], f"/{name}")
        for where, container in (("", record), ("/mfa", record.get("mfa") or {})):
            if isinstance(container.get("password"), dict) and "expire_after" in container["password"]:
                parse_time(container["password"]["expire_after"], f"{where}/password/expire_after")

    def _apply(self, record: Any, outcome: Outcome) -> None:
        errors = sorted(_VALIDATORS[self.identifier].iter_errors(record), key=lambda e: list(e.absolute_path))
        if errors:  # as app.flows.inputs.validate reports them
            raise ValidationFailed([cause(e) for e in errors[:10]])
        self._check_times(record)
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
        return self.rules.spec(field_name)

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
                _, norm = self.rules.normalize(LOGIN_ID_TYPES[name], record[name])
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
        _, norm = self.rules.normalize(spec.key, value)
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
            have = set(db.session.scalars(select(Group.key).join(user_groups).where(user_groups.c.user_id == user.id)))
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
