"""Global node IDs (contract 0.4): base64url without padding of `<Type>:<raw id>`.

Audit log entries have integer IDs, written as 16 hex digits (`AuditLog:000000000004d2e7`).
"""

from __future__ import annotations

import binascii
import re

from app.crypto import b64url, b64url_decode
from app.errors import Invalid

NODE_TYPES = frozenset(
    {"User", "Identity", "Authenticator", "Session", "Authorization", "Role", "Group", "AuditLog", "Resource", "Scope"}
)
MAX_ID_LENGTH = 400
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


def to_global_id(type_name: str, raw_id: str) -> str:
    return b64url(f"{type_name}:{raw_id}".encode())


def audit_log_global_id(row_id: int) -> str:
    return to_global_id("AuditLog", f"{row_id:016x}")


def from_global_id(global_id: object) -> tuple[str, str] | None:
    """`(type, raw id)` of a well-formed ID of a known type, else None."""
    if not isinstance(global_id, str) or not global_id or len(global_id) > MAX_ID_LENGTH:
        return None
    try:
        text = b64url_decode(global_id).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    type_name, sep, raw = text.partition(":")
    if not sep or type_name not in NODE_TYPES:
        return None
    if type_name == "AuditLog":
        return (type_name, raw) if _HEX16.match(raw) else None
    # Every other node has a UUID (contract 0.4); checking the shape keeps junk out of SQL.
    return (type_name, raw) if _UUID.match(raw) else None


def decode_id(global_id: object, type_name: str) -> str:
    """The raw ID inside a global ID of the given type, or Authgear's `Invalid` error."""
    parsed = from_global_id(global_id)
    if parsed is None or parsed[0] != type_name:
        raise Invalid("Invalid", f"invalid {type_name} ID")
    return parsed[1]


def decode_ids(global_ids: list[str] | None, type_name: str) -> list[str]:
    return [decode_id(g, type_name) for g in global_ids or []]
