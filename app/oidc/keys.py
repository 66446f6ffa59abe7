"""The OIDC signing keys: the `oauth` secret's RSA JWKs (contract 1.7).

The first key signs (ID tokens, JWT access tokens); every key is published at `/oauth2/jwks`, so a
token signed before a rotation still verifies. `rotate` puts a new key first and drops keys that were
replaced longer ago than the longest lifetime of anything they could have signed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from app.config import AppConfig
from app.errors import InternalError
from app.project_files import new_rsa_jwk

ALG = "RS256"
# Members of an RSA public JWK that are published (RFC 7517 section 4, RFC 7518 section 6.3.1).
_PUBLIC_MEMBERS = ("kty", "kid", "use", "alg", "n", "e")
MAX_JWT_LENGTH = 16 * 1024


class SigningKeys:
    def __init__(self, jwks: list[dict[str, Any]]) -> None:
        keys: list[RSAKey] = []
        for data in jwks:
            key = RSAKey.import_key(dict(data))
            if not key.kid:
                # RFC 7638 thumbprint as the key ID, so every published key has one.
                key = RSAKey.import_key({**data, "kid": key.thumbprint()})
            keys.append(key)
        self._keys = keys
        self._set = KeySet(keys) if keys else None

    @classmethod
    def from_config(cls, config: AppConfig) -> SigningKeys:
        return cls(list(config.secrets.get("oauth", {}).get("keys", [])))

    @property
    def signing_key(self) -> RSAKey:
        if not self._keys:
            raise InternalError("NoSigningKey", "no OIDC signing key; run `flask --app app gatehouse init`")
        return self._keys[0]

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        out = []
        for key in self._keys:
            data = key.as_dict(private=False)
            data.setdefault("alg", ALG)
            data.setdefault("use", "sig")
            out.append({k: data[k] for k in _PUBLIC_MEMBERS if k in data})
        return {"keys": out}

    def sign(self, claims: dict[str, Any], typ: str = "JWT") -> str:
        key = self.signing_key
        return jwt.encode({"alg": ALG, "typ": typ, "kid": key.kid}, claims, key, algorithms=[ALG])

    def verify(self, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(header, claims) when the signature is ours (RS256, known `kid`); None otherwise.

        Claims (exp, iss, aud) are the caller's to check: an `id_token_hint` may be expired."""
        if self._set is None or not isinstance(token, str) or len(token) > MAX_JWT_LENGTH or token.count(".") != 2:
            return None
        try:
            decoded = jwt.decode(token, self._set, algorithms=[ALG])
        except (JoseError, ValueError, TypeError, KeyError):
            return None
        if decoded.header.get("alg") != ALG or not isinstance(decoded.claims, dict):
            return None
        return dict(decoded.header), dict(decoded.claims)


def rotate(jwks: list[dict[str, Any]], retire_after: int, now: int | None = None) -> tuple[list[dict[str, Any]], str]:
    """A key list with a fresh key first; returns it and the new key's ID.

    A key stays published while anything it signed may still be valid: it is dropped once the key
    that replaced it is older than `retire_after` seconds."""
    now = int(time.time()) if now is None else now
    new = new_rsa_jwk()
    new["created_at"] = now
    kept = [new]
    replaced_at = now
    for data in jwks:
        if now - replaced_at <= retire_after:
            kept.append(data)
        created = data.get("created_at")
        # Without a creation time the older key's replacement time is unknown: keep it (conservative).
        replaced_at = int(created) if isinstance(created, int | float) else replaced_at
    return kept, new["kid"]


def rotate_in_secrets_file(path: Path, retire_after: int) -> tuple[str, list[str]]:
    """Rotates the `oauth` key set inside `authgear.secrets.yaml`; returns the new kid and the
    kids still published."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    document = raw if isinstance(raw, dict) else {}
    items = document.setdefault("secrets", [])
    if not isinstance(items, list):
        raise ValueError(f"{path.name} /secrets: must be a list of {{key, data}}")
    item = next((i for i in items if isinstance(i, dict) and i.get("key") == "oauth"), None)
    if item is None:
        item = {"key": "oauth", "data": {"keys": []}}
        items.append(item)
    data = item.setdefault("data", {})
    kept, kid = rotate(list(data.get("keys") or []), retire_after)
    data["keys"] = kept
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    return kid, [k.get("kid", "") for k in kept]
