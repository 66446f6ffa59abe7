"""The discovery document (OIDC Discovery 1.0 section 3, RFC 8414), contract 1.2.

Both well-known URLs serve the same object with Authgear's key set and values
(pkg/lib/oauth/metadata.go, pkg/lib/oauth/oidc/metadata.go): every scope of Authgear's AllowedScopes
(`device_sso` and the pre-authenticated-url scope included), and the three grant types Authgear lists;
Authgear's own grants (id-token, settings-action, anonymous-request, biometric-request,
app2app-request, token-exchange) work without being listed, as in Authgear. No DPoP (the key stays,
with an empty list, so clients see DPoP is not supported).
"""

from __future__ import annotations

from typing import Any

from app.oidc.scopes import SUPPORTED_SCOPES


def discovery_document(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "end_session_endpoint": f"{issuer}/oauth2/end_session",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code", "urn:authgear:params:oauth:response-type:settings-action", "none"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "dpop_signing_alg_values_supported": [],
        "claims_supported": ["iss", "aud", "iat", "exp", "sub", *STANDARD_CLAIMS_ORDER],
    }


# Contract 1.2's order of the standard claims in `claims_supported`.
STANDARD_CLAIMS_ORDER = (
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "preferred_username",
    "family_name",
    "given_name",
    "middle_name",
    "name",
    "nickname",
    "picture",
    "profile",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "address",
    "updated_at",
)
