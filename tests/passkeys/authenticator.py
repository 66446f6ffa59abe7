"""A software WebAuthn authenticator for the tests: a P-256 key made here, answering creation and
request options with real attestations (`none` or `packed` self-attestation) and assertions,
serialised as a browser's `PublicKeyCredential.toJSON()` does (WebAuthn Level 3, section 5.1.8)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40
AAGUID = bytes(16)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    def __init__(self, user_verifying: bool = True) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_verifying = user_verifying
        self.user_handle: bytes | None = None

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _flags(self, extra: int = 0) -> int:
        return UP | (UV if self.user_verifying else 0) | extra

    @staticmethod
    def client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(
        self,
        options: dict[str, Any],
        origin: str = "http://localhost:3000",
        rp_id: str | None = None,
        fmt: str = "none",
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """The creation response to `options` (`{"publicKey": ...}`); `rp_id`, `origin` and
        `challenge` default to what the options ask, and may be set to other values to lie."""
        public_key = options["publicKey"]
        rp_id = rp_id or public_key["rp"]["id"]
        self.user_handle = unb64url(public_key["user"]["id"])
        client_data = self.client_data("webauthn.create", challenge or public_key["challenge"], origin)
        attested = AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags(AT)]) + struct.pack(">I", self.sign_count)
        )
        auth_data += attested
        statement: dict[str, Any] = {}
        if fmt == "packed":
            signed = auth_data + hashlib.sha256(client_data).digest()
            statement = {"alg": -7, "sig": self.key.sign(signed, ec.ECDSA(hashes.SHA256()))}
        attestation = cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        origin: str = "http://localhost:3000",
        rp_id: str | None = None,
        challenge: str | None = None,
        sign_count: int | None = None,
        user_present: bool = True,
    ) -> dict[str, Any]:
        """The assertion answering request `options`; the sign count grows by one unless given."""
        public_key = options["publicKey"]
        rp_id = rp_id or public_key["rpId"]
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        client_data = self.client_data("webauthn.get", challenge or public_key["challenge"], origin)
        flags = self._flags() if user_present else self._flags() & ~UP
        auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", self.sign_count)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = b64url(self.user_handle)
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
