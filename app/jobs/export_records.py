"""Users as User Export API records (contract 5.4) and as CSV rows (contract 5.2), in batches.

Users are read 1,000 at a time in (created_at, id) order with keyset pagination, and each batch
takes a fixed number of queries (identities, authenticators, roles, groups, verified claims) with
plain rows rather than ORM objects, so memory stays flat whatever the user count.

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
from collections.abc import Iterator
from typing import Any

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


def user_batches(batch_size: int = BATCH_SIZE) -> Iterator[list[Any]]:
    """Rows of all users, `batch_size` at a time, oldest first."""
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


def _grouped(stmt: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for row in db.session.execute(stmt):
        out[row[0]].append(row)
    return out


def build_records(users: list[Any], issuer: str) -> list[dict[str, Any]]:
    """The export records of one batch of user rows."""
    ids = [u.id for u in users]
    identities = _grouped(
        select(Identity.user_id, Identity)
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
    records = [
        _record(
            u,
            identities.get(u.id, []),
            authenticators.get(u.id, []),
            [r.key for r in roles.get(u.id, [])],
            [g.key for g in groups.get(u.id, [])],
            {(v.name, v.value) for v in verified.get(u.id, [])},
            issuer,
        )
        for u in users
    ]
    db.session.expunge_all()  # the identities of this batch are not needed again
    return records


def _record(
    user: Any,
    identities: list[Any],
    authenticators: list[Any],
    roles: list[str],
    groups: list[str],
    verified: set[tuple[str, str]],
    issuer: str,
) -> dict[str, Any]:
    attrs = user.standard_attributes or {}
    rec: dict[str, Any] = {"sub": user.id}
    for name in ("preferred_username", "email", "phone_number"):
        if attrs.get(name):
            rec[name] = attrs[name]
    for name in ("email", "phone_number"):
        rec[f"{name}_verified"] = bool(attrs.get(name)) and (name, attrs[name]) in verified
    for name in PROFILE_ATTRIBUTES:
        if attrs.get(name):
            rec[name] = attrs[name]
    address = attrs.get("address") if isinstance(attrs.get("address"), dict) else {}
    rec["address"] = {k: address[k] for k in ADDRESS_FIELDS if address.get(k)}
    if user.custom_attributes:
        rec["custom_attributes"] = user.custom_attributes
    if roles:
        rec["roles"] = roles
    if groups:
        rec["groups"] = groups
    rec["created_at"] = rfc3339(user.created_at)
    rec["disabled"] = bool(user.is_disabled)
    for name in ("delete_at", "last_login_at"):
        if getattr(user, name) is not None:
            rec[name] = rfc3339(getattr(user, name))
    rec["is_anonymized"] = bool(user.is_anonymized)
    for name in ("anonymize_at", "account_valid_from", "account_valid_until"):
        if getattr(user, name) is not None:
            rec[name] = rfc3339(getattr(user, name))
    exported, passkeys = [], 0
    for row in identities:
        identity = row.Identity
        if identity.type == "passkey":
            passkeys += 1
        elif identity.type == "login_id":
            exported.append(
                {
                    "type": "login_id",
                    "login_id": {
                        "key": identity.login_id_key,
                        "type": identity.login_id_type,
                        "value": identity.login_id,
                        "original_value": identity.original_login_id,
                    },
                    "claims": identity.claims or {},
                }
            )
        elif identity.type == "oauth":
            exported.append(
                {
                    "type": "oauth",
                    "oauth": {
                        "provider_alias": identity.provider_alias,
                        "provider_type": identity.provider_type,
                        "provider_subject_id": identity.provider_subject_id,
                    },
                    "claims": identity.claims or {},
                }
            )
    if exported:
        rec["identities"] = exported
    account = next((attrs[k] for k in ("email", "preferred_username", "phone_number") if attrs.get(k)), user.id)
    mfa: dict[str, Any] = {}
    for row in authenticators:
        if row.type == "oob_otp_email":
            mfa.setdefault("emails", []).append(row.oob_target)
        elif row.type == "oob_otp_sms":
            mfa.setdefault("phone_numbers", []).append(row.oob_target)
        elif row.totp_secret:
            uri = otpauth_uri(row.totp_secret, account, issuer)
            mfa.setdefault("totps", []).append({"secret": row.totp_secret, "uri": uri})
    rec["mfa"] = mfa
    rec["biometric_count"] = 0
    rec["passkey_count"] = passkeys
    return rec


def ndjson_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


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
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def csv_line(cells: list[str]) -> str:
    """One CSV record ending in `\n`, quoted as Go's encoding/csv (which Authgear uses) quotes: a
    field containing `,`, `"`, CR or LF, or starting with white space (Python's csv module leaves
    a lone CR unquoted when lines end in LF, which splits the row for every reader)."""
    return ",".join(_quoted(c) if _needs_quotes(c) else c for c in cells) + "\n"


def _needs_quotes(field: str) -> bool:
    if field == "":
        return False
    return field == "\\." or any(c in field for c in ',"\r\n') or field[0].isspace()


def _quoted(field: str) -> str:
    return '"' + field.replace('"', '""') + '"'


def neutralize(text: str) -> str:
    """A text a spreadsheet would run as a formula (`=HYPERLINK(...)`, `@SUM(...)`, `-2+3`), with a
    `'` in front so it is shown as text. Plain numbers (`+85298765432`, `-5`) stay as they are.
    Authgear writes cells raw; the NDJSON export is never changed."""
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
