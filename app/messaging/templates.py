"""Localized message texts: email subject, plain-text and HTML bodies, and the SMS text.

Templates live in `templates/messages/<name>.{subject.txt,txt,html,sms.txt}` and mark their text
with `{% trans %}`. They are rendered by a plain jinja2 Environment (not Flask's: messages are
sent outside requests too) with the i18n extension and the Babel catalog
`translations/<locale>/LC_MESSAGES/messages.mo`; a locale without a catalog falls back to the
fallback language's catalog, then to the English source text. Only `.html` is autoescaped.
"""

from __future__ import annotations

import gettext
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

ROOT = Path(__file__).resolve().parents[2]
MESSAGES_DIR = ROOT / "templates" / "messages"
TRANSLATIONS_DIR = ROOT / "translations"
DOMAIN = "messages"

TEMPLATES = frozenset(
    {"otp_verification", "otp_login", "login_link", "account_recovery", "forgot_password_link", "send_password"}
)

# BCP 47 / POSIX locale names only: the value becomes part of a catalog path.
_LOCALE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,4}$")


def normalize_locale(locale: str | None) -> str | None:
    """`zh-hant-HK` -> `zh_hant_HK`; None for anything that is not a locale name."""
    if not locale or len(locale) > 35 or not _LOCALE.fullmatch(locale):
        return None
    return locale.replace("-", "_")


@dataclass(frozen=True)
class RenderedEmail:
    locale: str
    subject: str
    text: str
    html: str


class MessageRenderer:
    def __init__(
        self,
        templates_dir: Path = MESSAGES_DIR,
        translations_dir: Path = TRANSLATIONS_DIR,
        fallback_language: str = "en",
    ) -> None:
        self.templates_dir = Path(templates_dir)
        self.translations_dir = Path(translations_dir)
        self.fallback_language = normalize_locale(fallback_language) or "en"
        self._envs: dict[str, Environment] = {}
        self._lock = threading.Lock()

    def catalog_locale(self, locale: str | None) -> str:
        """The locale whose catalog will be used: `locale` (or its language) when a catalog exists,
        else the fallback language."""
        name = normalize_locale(locale)
        found = gettext.find(DOMAIN, str(self.translations_dir), [name]) if name else None
        # gettext also tries the bare language (fr_CA -> fr): report the catalog it found.
        return Path(found).parents[1].name if found else self.fallback_language

    def _env(self, locale: str) -> Environment:
        # One Environment per locale: installed gettext callables are per environment, and
        # sharing one across threads rendering different languages would mix them up.
        with self._lock:
            env = self._envs.get(locale)
            if env is None:
                env = Environment(
                    loader=FileSystemLoader(str(self.templates_dir)),
                    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
                    extensions=["jinja2.ext.i18n"],
                    undefined=StrictUndefined,
                    lstrip_blocks=True,
                )
                # A NullTranslations (English source text) when the locale has no catalog.
                translations = Translations.load(str(self.translations_dir), [locale], DOMAIN)
                env.install_gettext_translations(translations, newstyle=True)
                self._envs[locale] = env
            return env

    def _render(self, locale: str, filename: str, params: dict[str, Any]) -> str:
        context = {"link": None, **params, "lang": locale.replace("_", "-")}
        return self._env(locale).get_template(filename).render(context).strip()

    def render_email(self, template: str, params: dict[str, Any], locale: str | None) -> RenderedEmail:
        _check(template)
        used = self.catalog_locale(locale)
        subject = " ".join(self._render(used, f"{template}.subject.txt", params).split())
        return RenderedEmail(
            locale=used,
            subject=subject,
            text=self._render(used, f"{template}.txt", params) + "\n",
            html=self._render(used, f"{template}.html", params) + "\n",
        )

    def render_sms(self, template: str, params: dict[str, Any], locale: str | None) -> str:
        _check(template)
        return self._render(self.catalog_locale(locale), f"{template}.sms.txt", params)


def _check(template: str) -> None:
    if template not in TEMPLATES:
        raise ValueError(f"unknown message template {template!r}")
