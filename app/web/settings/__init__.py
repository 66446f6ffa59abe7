"""The settings pages (contract 7.2) and the settings actions apps start (contract 1.8): `bp` is the
blueprint; importing the route modules registers their views on it."""

from app.web.settings import (  # noqa: F401
    routes_biometric,
    routes_identity,
    routes_oauth,
    routes_passkeys,
    routes_profile,
    routes_security,
    routes_sessions,
)
from app.web.settings.blueprint import bp

__all__ = ["bp"]
