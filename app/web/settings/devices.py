"""A short, human description of a session's device from its User-Agent ("Chrome on Windows").

A few well-known browser and system names are enough to tell one's own devices apart; anything
else shows the beginning of the User-Agent itself.
"""

from __future__ import annotations

import re

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(?:Chrome|Chromium|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
_SYSTEMS = (
    ("iPhone", re.compile(r"\biPhone\b")),
    ("iPad", re.compile(r"\biPad\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)
MAX_SHOWN = 60


def describe(user_agent: str | None) -> tuple[str | None, str | None]:
    """(browser, system) names when recognised; (None, None) for an unknown or empty User-Agent."""
    ua = (user_agent or "")[:1000]
    browser = next((name for name, pattern in _BROWSERS if pattern.search(ua)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(ua)), None)
    return browser, system


def fallback(user_agent: str | None) -> str:
    ua = (user_agent or "").strip()
    return ua if len(ua) <= MAX_SHOWN else ua[: MAX_SHOWN - 1] + "…"
