"""Users as User Export API records (contract 5.4) and as CSV rows (contract 5.2), in batches.

Users are read 1,000 at a time in (created_at, id) order with keyset pagination, and each batch
takes a fixed number of queries (identities, authenticators, roles, groups, verified claims) with
plain rows rather than ORM objects, so memory stays flat whatever the user count. On PostgreSQL
that is one statement per batch, the related rows aggregated per user, read with the driver's
cursor (most of an export's time was SQLAlchemy's: ORM identities and a bind parameter per id).

Record keys follow Go's `omitempty` as Authgear writes them: empty strings, lists and maps are
left out; `email_verified`, `phone_number_verified`, `disabled`, `is_anonymized`,
`biometric_count` and `passkey_count` are always there, and so are `address` and `mfa` (objects,
possibly empty). `roles` are the user's own roles, not those of its groups. Password hashes are
never exported. CSV cells that a spreadsheet would run as formulas are prefixed with `'`
(`neutralize`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from psycopg.types.json import set_json_loads
from sqlalchemy import select, tuple_

from app.authenticators.models import Authenticator
from app.authenticators.totp import otpauth_uri
from app.extensions import db
from app.identities.account import ADDRESS_FIELDS, PROFILE_ATTRIBUTES
from app.identities.models import Identity, User, VerifiedClaim
from app.jobs.tasks import rfc3339
from app.roles.models import Group, Role, user_groups, user_roles

BATCH_SIZE = 1000
# Contract 5.2, in Authgear's order; `/custom_attributes/<name>` for each configured attribute follow.
DEFAULT_CSV_POINTERS = (
    "/sub /preferred_username /email /phone_number /email_verified /phone_number_verified /name /given_name "
    "/middle_name /nickname /profile /picture /website /gender /birthdate /zoneinfo /locale /address/formatted "
    "/address/street_address /address/locality /address/region /address/postal_code /address/country /roles "
    "/groups /disabled /created_at /delete_at /last_login_at /is_anonymized /anonymize_at "
    "/temporarily_disabled_from /temporarily_disabled_until /account_valid_from /account_valid_until /identities "
    "/mfa/emails /mfa/phone_numbers /mfa/totps /biometric_count /passkey_count"
).split()

_USER_COLUMNS = (
    User.id,
    User.created_at,
    User.last_login_at,
    User.is_disabled,
    User.delete_at,
    User.is_anonymized,
    User.anonymize_at,
    User.account_valid_from,
    User.account_valid_until,
    User.standard_attributes,
    User.custom_attributes,
)
# The fields of an identity that a record uses, in this order (`_record` reads them by position).
_IDENTITY_COLUMNS = (
    Identity.type,
    Identity.login_id_key,
    Identity.login_id_type,
    Identity.login_id,
    Identity.original_login_id,
    Identity.provider_alias,
    Identity.provider_type,
    Identity.provider_subject_id,
    Identity.claims,
    Identity.provider_profile,
)

# PostgreSQL: one statement per batch reads the users with everything their records need (the
# related rows aggregated per user, in the order of the queries of `build_records`), through the
# driver's cursor: no ORM objects, no bind parameter per user id, no SQLAlchemy row processing.
# psycopg prepares it after a few batches. Verified claims come as "name value" (names have no
# space). A batch is `_Complete`, so `build_records` reads nothing more.
_PG_BATCH = """
SELECT u.id, u.created_at, u.last_login_at, u.is_disabled, u.delete_at, u.is_anonymized, u.anonymize_at,
       u.account_valid_from, u.account_valid_until, u.standard_attributes,
       NULLIF(u.custom_attributes, '{{}}'::jsonb),
       (SELECT json_agg(json_build_array(i.type, i.login_id_key, i.login_id_type, i.login_id,
                                         i.original_login_id, i.provider_alias, i.provider_type,
                                         i.provider_subject_id, i.claims, i.provider_profile)
                        ORDER BY i.created_at, i.id)
          FROM identities i WHERE i.user_id = u.id),
       (SELECT json_agg(json_build_array(a.type, a.oob_target, a.totp_secret) ORDER BY a.created_at, a.id)
          FROM authenticators a
         WHERE a.user_id = u.id AND a.kind = 'secondary' AND a.type IN ('oob_otp_email', 'oob_otp_sms', 'totp')),
       ARRAY(SELECT r.key FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id
             ORDER BY r.key),
       ARRAY(SELECT g.key FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = u.id
             ORDER BY g.key),
       ARRAY(SELECT v.name || ' ' || v.value FROM verified_claims v WHERE v.user_id = u.id)
  FROM users u
 WHERE {after}
 ORDER BY u.created_at, u.id
 LIMIT %(limit)s
"""
PG_EXPORT_FIRST = _PG_BATCH.format(after="true")
_PG_NEXT = _PG_BATCH.format(after="(u.created_at, u.id) > (%(created_at)s, %(id)s)")


_RAW_DECODE = json.JSONDecoder().raw_decode


def _json_loads(data: bytes) -> Any:
    # What psycopg's loader does (`json.loads` of the bytes) less the encoding detection: the
    # server sends UTF-8 JSON text, whole.
    return _RAW_DECODE(data.decode())[0]


class _Complete(list):  # type: ignore[type-arg]
    """A batch of user rows that carry their related rows already (PostgreSQL)."""


def user_batches(batch_size: int = BATCH_SIZE) -> Iterator[list[Any]]:
    """Rows of all users, `batch_size` at a time, oldest first."""
    if db.session.get_bind().dialect.name == "postgresql":
        yield from _pg_batches(batch_size)
        return
    after: tuple[Any, str] | None = None
    while True:
        stmt = select(*_USER_COLUMNS).order_by(User.created_at, User.id).limit(batch_size)
        if after is not None:
            stmt = stmt.where(tuple_(User.created_at, User.id) > tuple_(*after))
        rows = db.session.execute(stmt).all()
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        after = (rows[-1].created_at, rows[-1].id)


def _pg_batches(batch_size: int) -> Iterator[list[Any]]:
    params: dict[str, Any] = {"limit": batch_size}
    while True:
        # The session's connection and transaction, as the other path: the caller's commits end
        # each batch's reads alike.
        driver = db.session.connection().connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            set_json_loads(_json_loads, cursor)
            cursor.execute(_PG_NEXT if "id" in params else PG_EXPORT_FIRST, params)
            rows = _Complete(cursor.fetchall())
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        params.update(created_at=rows[-1][1], id=rows[-1][0])


def _grouped(stmt: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for row in db.session.execute(stmt):
        out[row[0]].append(tuple(row)[1:])
    return out


def build_records(users: list[Any], issuer: str) -> list[dict[str, Any]]:
    """The export records of one batch of user rows."""
    if isinstance(users, _Complete):
        return [_record(u, u[11], u[12], u[13], u[14], set(u[15]), issuer) for u in users]
    ids = [u.id for u in users]
    identities = _grouped(
        select(Identity.user_id, *_IDENTITY_COLUMNS)
        .where(Identity.user_id.in_(ids))
        .order_by(Identity.user_id, Identity.created_at, Identity.id)
    )
    authenticators = _grouped(
        select(Authenticator.user_id, Authenticator.type, Authenticator.oob_target, Authenticator.totp_secret)
        .where(
            Authenticator.user_id.in_(ids),
            Authenticator.kind == "secondary",
            Authenticator.type.in_(("oob_otp_email", "oob_otp_sms", "totp")),
        )
        .order_by(Authenticator.user_id, Authenticator.created_at, Authenticator.id)
    )
    roles = _grouped(
        select(user_roles.c.user_id, Role.key)
        .join(Role, Role.id == user_roles.c.role_id)
        .where(user_roles.c.user_id.in_(ids))
        .order_by(user_roles.c.user_id, Role.key)
    )
    groups = _grouped(
        select(user_groups.c.user_id, Group.key)
        .join(Group, Group.id == user_groups.c.group_id)
        .where(user_groups.c.user_id.in_(ids))
        .order_by(user_groups.c.user_id, Group.key)
    )
    verified = _grouped(
        select(VerifiedClaim.user_id, VerifiedClaim.name, VerifiedClaim.value).where(VerifiedClaim.user_id.in_(ids))
    )
    return [
        _record(
            u,
            identities.get(u.id),
            authenticators.get(u.id),
            [r[0] for r in roles.get(u.id, ())],
            [g[0] for g in groups.get(u.id, ())],
            {f"{v[0]} {v[1]}" for v in verified.get(u.id, ())},
            issuer,
        )
        for u in users
    ]


_EMPTY: dict[str, Any] = {}


def _record(
    user: Any,
    identities: list[Any] | None,
    authenticators: list[Any] | None,
    roles: list[str],
    groups: list[str],
    verified: set[str],
    issuer: str,
) -> dict[str, Any]:
    """One record from a user row (`_USER_COLUMNS`, by position), its identities
    (`_IDENTITY_COLUMNS`), its secondary authenticators (type, OOB target, TOTP secret), role and
    group keys, and verified claims as "name value"."""
    (
        user_id,
        created_at,
        last_login_at,
        is_disabled,
        delete_at,
        is_anonymized,
        anonymize_at,
        valid_from,
        valid_until,
        attrs,
        custom,
    ) = user[:11]
    attrs = attrs or _EMPTY
    get = attrs.get
    rec: dict[str, Any] = {"sub": user_id}
    for name in ("preferred_username", "email", "phone_number"):
        if get(name):
            rec[name] = attrs[name]
    for name in ("email", "phone_number"):
        value = get(name)
        rec[f"{name}_verified"] = bool(value) and isinstance(value, str) and f"{name} {value}" in verified
    for name in PROFILE_ATTRIBUTES:
        if get(name):
            rec[name] = attrs[name]
    address = get("address")
    rec["address"] = {k: address[k] for k in ADDRESS_FIELDS if address.get(k)} if isinstance(address, dict) else {}
    if custom:
        rec["custom_attributes"] = custom
    if roles:
        rec["roles"] = roles
    if groups:
        rec["groups"] = groups
    rec["created_at"] = rfc3339(created_at)
    rec["disabled"] = bool(is_disabled)
    if delete_at is not None:
        rec["delete_at"] = rfc3339(delete_at)
    if last_login_at is not None:
        rec["last_login_at"] = rfc3339(last_login_at)
    rec["is_anonymized"] = bool(is_anonymized)
    if anonymize_at is not None:
        rec["anonymize_at"] = rfc3339(anonymize_at)
    if valid_from is not None:
        rec["account_valid_from"] = rfc3339(valid_from)
    if valid_until is not None:
        rec["account_valid_until"] = rfc3339(valid_until)
    exported, passkeys = [], 0
    for row in identities or ():
        kind, key, login_id_type, login_id, original, alias, provider_type, subject, claims, profile = row
        if kind == "passkey":
            passkeys += 1
        elif kind == "login_id":
            exported.append(
                {
                    "type": "login_id",
                    "login_id": {"key": key, "type": login_id_type, "value": login_id, "original_value": original},
                    "claims": claims or {},
                }
            )
        elif kind == "oauth":
            exported.append(
                {
                    "type": "oauth",
                    "oauth": {
                        "provider_alias": alias,
                        "provider_type": provider_type,
                        "provider_subject_id": subject,
                        # Authgear's user_profile: the provider's raw profile (none when not stored).
                        **({"user_profile": profile} if profile else {}),
                    },
                    "claims": claims or {},
                }
            )
    if exported:
        rec["identities"] = exported
    mfa: dict[str, Any] = {}
    if authenticators:
        account = next((attrs[k] for k in ("email", "preferred_username", "phone_number") if get(k)), user_id)
        for kind, target, secret in authenticators:
            if kind == "oob_otp_email":
                mfa.setdefault("emails", []).append(target)
            elif kind == "oob_otp_sms":
                mfa.setdefault("phone_numbers", []).append(target)
            elif secret:
                mfa.setdefault("totps", []).append({"secret": secret, "uri": otpauth_uri(secret, account, issuer)})
    rec["mfa"] = mfa
    rec["biometric_count"] = 0
    rec["passkey_count"] = passkeys
    return rec


# One encoder for every line: `json.dumps` with arguments builds a new one per call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def ndjson_line(record: dict[str, Any]) -> str:
    return _ENCODE(record) + "\n"


# -- CSV (contract 5.2) -------------------------------------------------------------------------
def parse_pointer(pointer: str) -> list[str] | None:
    """RFC 6901 reference tokens of a JSON pointer, or None when it is not one."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        return None
    tokens = []
    for raw in pointer[1:].split("/"):
        if "~" in raw.replace("~0", "").replace("~1", ""):
            return None
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def default_field_name(pointer: str) -> str:
    """Authgear's default column name: the pointer's non-empty segments joined with `.`."""
    return ".".join(part for part in pointer.split("/") if part)


def resolve(record: Any, tokens: list[str]) -> Any:
    node = record
    for part in tokens:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and (part == "0" or not part.startswith("0")):
            index = int(part)
            node = node[index] if index < len(node) else None
        else:
            return None
        if node is None:
            return None
    return node


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV Injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ... except a plain number, such as an E.164 phone number or a negative integer: no formula.
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def cell(value: Any) -> str:
    """Strings and numbers raw, booleans `true`/`false`, null or missing empty, arrays and
    objects as compact JSON; then `neutralize`d."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return neutralize(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return neutralize(str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value))
    return _ENCODE(value)


def csv_line(cells: list[str]) -> str:
    """One CSV record ending in `\n`, quoted as Go's encoding/csv (which Authgear uses) quotes: a
    field containing `,`, `"`, CR or LF, or starting with white space (Python's csv module leaves
    a lone CR unquoted when lines end in LF, which splits the row for every reader)."""
    return ",".join(_quoted(c) if _needs_quotes(c) else c for c in cells) + "\n"


def _needs_quotes(field: str) -> bool:
    if field == "":
        return False
    return "," in field or '"' in field or "\r" in field or "\n" in field or field[0].isspace() or field == "\\."


def csv_writer(columns: list[list[str]]) -> Callable[[dict[str, Any]], str]:
    """`csv_line` of the `cell`s of the columns (reference tokens) of a record, as one function:
    a column of one token is a dict look-up rather than a `resolve`, and a cell that is a plain
    string goes straight to `neutralize`. The same text as the long way."""
    getters = [itemgetter_or_resolve(tokens) for tokens in columns]

    def line(record: dict[str, Any]) -> str:
        cells = []
        for get in getters:
            value = get(record)
            text = neutralize(value) if type(value) is str else cell(value)
            cells.append(_quoted(text) if _needs_quotes(text) else text)
        return ",".join(cells) + "\n"

    return line


def itemgetter_or_resolve(tokens: list[str]) -> Callable[[dict[str, Any]], Any]:
    if len(tokens) == 1:
        key = tokens[0]
        return lambda record: record.get(key)
    return lambda record: resolve(record, tokens)


def _quoted(field: str) -> str:
    return '"' + field.replace('"', '""') + '"'


def neutralize(text: str) -> str:
    """A text a spreadsheet would run as a formula (`=HYPERLINK(...)`, `@SUM(...)`, `-2+3`), with a
    `'` in front so it is shown as text. Plain numbers (`+85298765432`, `-5`) stay as they are.
    Authgear writes cells raw; the NDJSON export is never changed."""
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
