"""The hosted auth pages (contract 7.1), thin over the flow engine: `bp` is the blueprint;
importing the route modules registers their views on it."""

from app.web import entry, flow_pages, sso  # noqa: F401 (register views)
from app.web.blueprint import bp

__all__ = ["bp"]
