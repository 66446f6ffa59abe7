"""The OIDC provider (contract section 1): discovery, JWKS, authorize, consent, token, userinfo,
revoke and end_session on authlib's server classes, with joserfc for JOSE.

`bp` is the blueprint; importing the route modules registers their views on it.
"""

from app.oidc import routes_authorize, routes_logout, routes_meta, routes_sdk, routes_token  # noqa: F401 (register views)
from app.oidc.blueprint import bp

__all__ = ["bp"]
