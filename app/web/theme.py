"""The look of the hosted pages from `ui` in authgear.yaml, and the page's colour scheme.

Keys (Gatehouse's own; unknown keys are ignored, invalid values fall back to the defaults):

    ui:
      theme:
        app_name: Example          # shown in the header and titles (default: the project id)
        logo_uri: /static/logo.svg # a same-origin path, an https URL or a data:image URI
        primary_color: "#2457d6"   # buttons, links and focus rings in the light scheme
        dark_primary_color: "#8fb0ff"
      dark_theme_disabled: false   # Authgear's keys: force the light (or dark) scheme
      light_theme_disabled: false

Colours reach the page through `/theme.css` (a stylesheet, so the CSP needs no inline style);
the text on a primary-coloured button is black or white, whichever contrasts more.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PRIMARY = "#2457d6"
DEFAULT_DARK_PRIMARY = "#8fb0ff"
SCHEMES = ("light", "dark")
# The page colours of static/web/app.css that links are drawn on (the lighter of each pair).
LIGHT_BACKGROUND, LIGHT_TEXT = "#f3f5f9", "#141a26"
DARK_SURFACE, DARK_TEXT = "#171e29", "#e8ecf3"
COLOR_SCHEME_COOKIE = "x_color_scheme"  # contract 0.5

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_DATA_IMAGE = re.compile(r"^data:image/(?:png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=]+$")


def _color(value: Any, default: str) -> str:
    return value if isinstance(value, str) and _HEX.match(value) else default


def _rgb(color: str) -> tuple[float, float, float]:
    h = color[1:]
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _luminance(color: str) -> float:
    """WCAG 2.x relative luminance."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_text(background: str) -> str:
    """Black or white, whichever has the higher WCAG contrast ratio on `background`."""
    lum = _luminance(background)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def contrast_ratio(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def link_color(primary: str, background: str, fallback: str) -> str:
    """The primary colour for links when it is readable on the page (WCAG AA, 4.5:1), else `fallback`."""
    return primary if contrast_ratio(primary, background) >= 4.5 else fallback


def _logo(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 100_000:
        return None
    if value.startswith("/") and not value.startswith("//"):
        return value
    if _DATA_IMAGE.match(value):
        return value
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.netloc:
        return value
    return None


@dataclass(frozen=True)
class Theme:
    app_name: str
    logo_uri: str | None
    primary_color: str
    dark_primary_color: str
    forced_scheme: str | None  # "light" or "dark" when the other one is disabled

    @property
    def logo_origin(self) -> str | None:
        """The origin the CSP must allow for images when the logo is on another host."""
        if self.logo_uri and self.logo_uri.startswith("https://"):
            parts = urlsplit(self.logo_uri)
            return f"{parts.scheme}://{parts.netloc}"
        return None

    def css(self) -> str:
        light, dark = self.primary_color, self.dark_primary_color
        light_link = link_color(light, LIGHT_BACKGROUND, LIGHT_TEXT)
        dark_link = link_color(dark, DARK_SURFACE, DARK_TEXT)
        light_vars = f"--primary: {light}; --on-primary: {contrast_text(light)}; --link: {light_link};"
        dark_vars = f"--primary: {dark}; --on-primary: {contrast_text(dark)}; --link: {dark_link};"
        return (
            f":root {{ {light_vars} }}\n"
            f'@media (prefers-color-scheme: dark) {{ :root:not([data-color-scheme="light"]) {{ {dark_vars} }} }}\n'
            f':root[data-color-scheme="dark"] {{ {dark_vars} }}\n'
        )

    @property
    def version(self) -> str:
        return hashlib.sha256(self.css().encode()).hexdigest()[:12]


def theme_of(project: dict[str, Any]) -> Theme:
    ui = project.get("ui") or {}
    theme = ui.get("theme") if isinstance(ui.get("theme"), dict) else {}
    name = theme.get("app_name")
    forced = None
    if ui.get("dark_theme_disabled") is True:
        forced = "light"
    elif ui.get("light_theme_disabled") is True:
        forced = "dark"
    return Theme(
        app_name=name.strip()[:100] if isinstance(name, str) and name.strip() else str(project.get("id", "")),
        logo_uri=_logo(theme.get("logo_uri")),
        primary_color=_color(theme.get("primary_color"), DEFAULT_PRIMARY),
        dark_primary_color=_color(theme.get("dark_primary_color"), DEFAULT_DARK_PRIMARY),
        forced_scheme=forced,
    )


def color_scheme(theme: Theme, *requested: str | None) -> str | None:
    """`light`, `dark`, or None to follow `prefers-color-scheme`: the forced scheme, else the first
    valid request (query, cookie, authorization request)."""
    if theme.forced_scheme:
        return theme.forced_scheme
    for value in requested:
        if value in SCHEMES:
            return value
        if value == "auto":
            return None
    return None
