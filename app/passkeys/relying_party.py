"""The WebAuthn relying party: creation and request options, their challenge sessions, and the
verification of attestations and assertions (W3C WebAuthn Level 2, sections 7.1 and 7.2).

As Authgear (pkg/lib/feature/passkey): the RP ID is the host of the public origin and the only
accepted origin is that origin; options ask for a resident key and user verification "preferred",
ES256 and RS256, direct attestation, the `uvm` and `credProps` extensions; user presence is
required, user verification is not (a "preferred" ceremony must not fail for lack of it).
A challenge is remembered as a session keyed by the challenge itself, so an assertion or an
attestation names its own session; it is used at most once and ends when its ceremony times out
(Authgear keeps every session an hour; Gatehouse ends a five-minute ceremony after five minutes).
Unlike Authgear, a sign count that does not grow is refused (section 6.1.1: a cloned authenticator).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from app.db import Clock
from app.errors import NotFound, Unauthorized
from app.kvstore import KVStore

# Authgear's duration.Short (a modal ceremony) and duration.PerHour (conditional mediation).
MODAL_TIMEOUT_MS = 5 * 60 * 1000
CONDITIONAL_TIMEOUT_MS = 60 * 60 * 1000
ES256, RS256 = -7, -257
AUTHENTICATOR_SELECTION = {"residentKey": "preferred", "userVerification": "preferred"}


class WebAuthnSessionNotFound(NotFound):
    """The challenge was never issued, has expired or was already used (Authgear's reason)."""

    def __init__(self) -> None:
        super().__init__("WebAuthnSessionNotFound", "webauthn session not found")


def invalid_credentials() -> Unauthorized:
    # Authgear answers every failed passkey check so: nothing tells which part was wrong.
    return Unauthorized("InvalidCredentials", "invalid credentials")


@dataclass(frozen=True)
class RelyingPartyConfig:
    rp_id: str
    origin: str
    name: str

    @classmethod
    def of(cls, public_origin: str, project: dict[str, Any]) -> RelyingPartyConfig:
        # Authgear names the RP after its app name; Gatehouse's is the theme's, else the project id.
        theme = (project.get("ui") or {}).get("theme")
        name = theme.get("app_name") if isinstance(theme, dict) else None
        name = name.strip()[:100] if isinstance(name, str) and name.strip() else str(project.get("id", ""))
        return cls(rp_id=urlsplit(public_origin).hostname or "", origin=public_origin, name=name)


@dataclass(frozen=True)
class Registration:
    credential_id: str  # base64url without padding, as Authgear stores it
    public_key: bytes  # COSE_Key
    sign_count: int
    display_name: str  # the `user.displayName` of the creation options
    user_handle: str


@cache
def _webauthn() -> Any:
    """py_webauthn, imported on first use: it costs a web worker about 6 MB, and most requests of
    most projects never run a passkey ceremony."""
    import webauthn
    import webauthn.helpers
    import webauthn.helpers.exceptions

    return webauthn


def _bad_response_errors() -> tuple[type[Exception], ...]:
    return (_webauthn().helpers.exceptions.WebAuthnException, KeyError, TypeError, ValueError)


def _b64(data: bytes) -> str:
    return _webauthn().helpers.bytes_to_base64url(data)


def _unb64(text: str) -> bytes:
    return _webauthn().helpers.base64url_to_bytes(text)


def _parse_json(response: Any) -> dict[str, Any]:
    if not isinstance(response, dict):
        raise invalid_credentials()
    return response


def challenge_of(response: dict[str, Any]) -> str:
    """The challenge a response's clientDataJSON names; a malformed response is invalid credentials."""
    errors = _bad_response_errors()
    try:
        client_data = _webauthn().helpers.parse_client_data_json(_unb64(response["response"]["clientDataJSON"]))
    except errors:
        raise invalid_credentials() from None
    return _b64(client_data.challenge)


class RelyingParty:
    def __init__(self, store: KVStore, clock: Clock, config: RelyingPartyConfig) -> None:
        self.store = store
        self.clock = clock
        self.config = config

    # -- options --------------------------------------------------------------------------------
    def creation_options(self, user_handle: str, name: str, exclude: list[str]) -> dict[str, Any]:
        challenge = _b64(_webauthn().helpers.generate_challenge())
        public_key: dict[str, Any] = {
            "challenge": challenge,
            "rp": {"id": self.config.rp_id, "name": self.config.name},
            "user": {"id": _b64(user_handle.encode()), "name": name, "displayName": name},
            "pubKeyCredParams": [{"type": "public-key", "alg": ES256}, {"type": "public-key", "alg": RS256}],
            "timeout": MODAL_TIMEOUT_MS,
            "authenticatorSelection": dict(AUTHENTICATOR_SELECTION),
            "attestation": "direct",
            "extensions": {"credProps": True, "uvm": True},
        }
        if exclude:
            public_key["excludeCredentials"] = [{"type": "public-key", "id": c} for c in exclude]
        options = {"publicKey": public_key}
        self._open(challenge, "creation", options, MODAL_TIMEOUT_MS)
        return options

    def request_options(self, allow: list[str] | None = None, conditional: bool = False) -> dict[str, Any]:
        """Options for `navigator.credentials.get`: with `allow`, only those credentials of one user
        (an empty list allows none, as Authgear); without, any discoverable credential, and the long
        timeout Authgear gives a ceremony that may wait in an autofill list."""
        challenge = _b64(_webauthn().helpers.generate_challenge())
        timeout = MODAL_TIMEOUT_MS if allow is not None else CONDITIONAL_TIMEOUT_MS
        public_key: dict[str, Any] = {
            "challenge": challenge,
            "timeout": timeout,
            "rpId": self.config.rp_id,
            "userVerification": AUTHENTICATOR_SELECTION["userVerification"],
            "extensions": {"uvm": True},
        }
        if allow is not None:
            public_key["allowCredentials"] = [{"type": "public-key", "id": c} for c in allow]
        options: dict[str, Any] = {"publicKey": public_key}
        if conditional:
            options["mediation"] = "conditional"
        self._open(challenge, "request", options, timeout)
        return options

    # -- sessions -------------------------------------------------------------------------------
    def _key(self, challenge: str) -> str:
        return f"passkey_session:{challenge}"

    def _open(self, challenge: str, kind: str, options: dict[str, Any], timeout_ms: int) -> None:
        expire_at = self.clock() + timedelta(milliseconds=timeout_ms)
        session = {"kind": kind, "options": options, "expire_at": expire_at.isoformat()}
        self.store.set(self._key(challenge), json.dumps(session), ttl=timeout_ms / 1000 + 60, only_new=True)

    def peek(self, challenge: str, kind: str) -> dict[str, Any]:
        """The live, unused session of `challenge`, or WebAuthnSessionNotFound."""
        if len(challenge) > 200:
            raise WebAuthnSessionNotFound()
        raw = self.store.get(self._key(challenge))
        if raw is None or self.store.get(self._key(challenge) + ":used") is not None:
            raise WebAuthnSessionNotFound()
        session = json.loads(raw)
        if session["kind"] != kind or datetime.fromisoformat(session["expire_at"]) <= self.clock():
            raise WebAuthnSessionNotFound()
        return session

    def consume(self, challenge: str) -> None:
        """Marks the challenge used; of two responses racing on one challenge only one gets here."""
        if not self.store.set(
            self._key(challenge) + ":used", "1", ttl=CONDITIONAL_TIMEOUT_MS / 1000 + 60, only_new=True
        ):
            raise WebAuthnSessionNotFound()
        self.store.delete(self._key(challenge))

    # -- ceremonies -----------------------------------------------------------------------------
    def verify_registration(self, response: Any) -> tuple[Registration, str]:
        """Checks an attestation against its session; returns it with its challenge (not yet consumed)."""
        response = _parse_json(response)
        challenge = challenge_of(response)
        session = self.peek(challenge, "creation")
        public_key = session["options"]["publicKey"]
        errors = _bad_response_errors()
        try:
            verified = _webauthn().verify_registration_response(
                credential=response,
                expected_challenge=_unb64(challenge),
                expected_rp_id=self.config.rp_id,
                expected_origin=self.config.origin,
                require_user_presence=True,
                require_user_verification=public_key["authenticatorSelection"]["userVerification"] == "required",
                supported_pub_key_algs=[p["alg"] for p in public_key["pubKeyCredParams"]],
            )
        except errors:
            raise invalid_credentials() from None
        user = public_key["user"]
        registration = Registration(
            credential_id=_b64(verified.credential_id),
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            display_name=user["displayName"],
            user_handle=_unb64(user["id"]).decode(),
        )
        return registration, challenge

    def assertion_credential(self, response: Any) -> tuple[str, str]:
        """The credential ID an assertion names and its challenge, once the session is known live."""
        response = _parse_json(response)
        challenge = challenge_of(response)
        session = self.peek(challenge, "request")
        credential_id = response.get("rawId") or response.get("id")
        if not isinstance(credential_id, str) or not credential_id:
            raise invalid_credentials()
        allowed = session["options"]["publicKey"].get("allowCredentials")
        if allowed is not None and credential_id.rstrip("=") not in {c["id"] for c in allowed}:
            # A ceremony for one user's credentials accepts none of another user's.
            raise invalid_credentials()
        return credential_id.rstrip("="), challenge

    def verify_assertion(self, response: dict[str, Any], challenge: str, public_key: bytes, sign_count: int) -> int:
        """Checks the signature, origin, RP ID, user presence and sign count; the new sign count."""
        errors = _bad_response_errors()
        try:
            verified = _webauthn().verify_authentication_response(
                credential=response,
                expected_challenge=_unb64(challenge),
                expected_rp_id=self.config.rp_id,
                expected_origin=self.config.origin,
                credential_public_key=public_key,
                credential_current_sign_count=sign_count,
                require_user_verification=False,
            )
        except errors:
            raise invalid_credentials() from None
        return verified.new_sign_count
