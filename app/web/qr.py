"""QR codes as inline SVG, drawn on the server (segno), for the TOTP setup page."""

from __future__ import annotations

import segno
from markupsafe import Markup, escape


def qr_svg(data: str, label: str) -> Markup:
    """An accessible `<svg role="img">` of `data`; black on white whatever the colour scheme,
    so that authenticator apps can read it."""
    code = segno.make(data, error="m", micro=False)
    svg = code.svg_inline(scale=5, border=4, dark="#000", light="#fff", svgclass="qr", omitsize=True)
    # segno's output is built from numbers only; the label is escaped before it goes in.
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))  # noqa: S704
