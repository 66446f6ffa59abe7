"""Authgear's errors of social and enterprise login (pkg/api/errors.go, pkg/lib/authn/sso,
oauthrelyingpartyutil, stdattrs, webappoauth), with their names, reasons, messages and info keys."""

from __future__ import annotations

from typing import Any

from app.errors import BadRequest, InternalError, Invalid, NotFound


class OAuthProviderNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("OAuthProviderNotFound", "oauth provider not found")


class OAuthProviderMissingCredentials(Invalid):
    def __init__(self, alias: str, provider_type: str) -> None:
        super().__init__(
            "OAuthProviderMissingCredentials",
            "oauth provider is missing credentials",
            {"OAuthProviderAlias": alias, "OAuthProviderType": provider_type},
        )


class OAuthError(BadRequest):
    """The provider answered with an OAuth error (RFC 6749 section 4.1.2.1 or 5.2): the user cancelled
    (`access_denied`), or the token endpoint refused the code. The info carries the provider's words."""

    def __init__(self, error: str, description: str = "", uri: str = "", provider_type: str = "", category: str = ""):
        message = f"{error}: {description}" if description else error
        super().__init__(
            "OAuthError",
            message,
            {
                "error": error,
                "error_description": description,
                "error_uri": uri,
                "provider_type": provider_type,
                "error_category": category,
            },
        )


class OAuthProtocolError(BadRequest):
    """The provider's answer breaks the protocol: a bad ID token, a missing subject, an unreadable body."""

    def __init__(self, message: str, info: dict[str, Any] | None = None) -> None:
        super().__init__("OAuthProtocolError", message, info)


class InvalidConfiguration(InternalError):
    """The provider's settings cannot work (a discovery document that is not there, a bad Apple key)."""

    def __init__(self, message: str) -> None:
        super().__init__("InvalidConfiguration", message)


class OAuthProviderUnavailable(BadRequest):
    """Gatehouse's reason for a provider that did not answer in time or could not be reached: the
    user may try again; the request never hangs and never becomes a 500."""

    def __init__(self, provider_type: str, message: str = "oauth provider is unavailable") -> None:
        super().__init__(
            "OAuthError",
            message,
            {
                "error": "temporarily_unavailable",
                "error_description": message,
                "error_uri": "",
                "provider_type": provider_type,
                "error_category": "timeout",
            },
        )


class StandardAttributesEmailRequired(BadRequest):
    def __init__(self, provider_type: str | None = None) -> None:
        info = {"ProviderType": provider_type} if provider_type else None
        super().__init__("StandardAttributesEmailRequired", "claim email is required but it is missing", info)


class OAuthStateInvalid(Invalid):
    """webappoauth's ErrOAuthStateInvalid: a callback whose `state` was not issued, was used, or expired."""

    def __init__(self) -> None:
        super().__init__("Invalid", "invalid state")
