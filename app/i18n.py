"""Which language an HTML response speaks, and the Babel catalogs behind `gettext` in templates.

The language is one of `localization.supported_languages` (BCP 47 tags such as `zh-HK`), chosen
from, in order: the `ui_locales` query parameter (OIDC Core 3.1.2.1: a space-separated list), the
`ui_locales` of the pending authorization request the page serves, the `ui_locales` cookie, then
`Accept-Language`; otherwise `localization.fallback_language`.

Catalogs live in `translations/<ll>[_<CC>]/LC_MESSAGES/messages.po` (`zh_HK`, `pt_BR`, ...), the
folder names the message templates use too. Babel itself would look for `zh_Hant_HK` (it adds
the script subtag), so `CatalogDomain` maps a locale back to the folder name.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Domain, get_locale

from app.extensions import babel

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
LOCALE_COOKIE = "ui_locales"  # contract 0.5 (with `http.cookie_prefix`)
_MAX_CANDIDATES = 20


def _norm(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()


def match_language(candidates: Iterable[str], supported: list[str]) -> str | None:
    """The first supported tag for the first candidate that has one: exact, then without the
    script (`zh-Hant-HK` -> `zh-HK`), then by language (`fr-CA` -> `fr`, `pt` -> `pt-BR`)."""
    table = {_norm(s): s for s in supported}
    for i, raw in enumerate(candidates):
        if i >= _MAX_CANDIDATES or not raw or len(raw) > 35:
            break
        tag = _norm(raw)
        parts = tag.split("-")
        tries = [tag]
        if len(parts) == 3 and len(parts[1]) == 4:
            tries.append(f"{parts[0]}-{parts[2]}")
        for t in tries:
            if t in table:
                return table[t]
        language = parts[0]
        if language == "zh":
            # Chinese variants differ in script; only a Traditional/Simplified-compatible match counts.
            script = "hant" if {"hant", "hk", "tw", "mo"} & set(parts[1:]) else "hans"
            for s in supported:
                n = _norm(s)
                if n.startswith("zh") and (("hant" in n or n.endswith(("-hk", "-tw", "-mo"))) == (script == "hant")):
                    return s
            continue
        if language in table:
            return table[language]
        for key, s in table.items():
            if key.split("-")[0] == language:
                return s
    return None


def _accept_language() -> list[str]:
    return [lang for lang, _ in request.accept_languages][:_MAX_CANDIDATES]


def current_language() -> str:
    """The BCP 47 tag of the language of this request (one of the supported languages)."""
    localization = current_app.extensions["gatehouse"].config.project["localization"]
    supported = list(localization["supported_languages"])
    fallback = localization["fallback_language"]
    if not has_request_context():
        return fallback
    cached = g.get("_gatehouse_language")
    if cached:
        return cached
    prefix = current_app.extensions["gatehouse"].config.cookie_prefix
    sources = [
        (request.args.get("ui_locales") or "").split(),
        (g.get("ui_locales_hint") or "").split(),
        (request.cookies.get(prefix + LOCALE_COOKIE) or "").split(),
        _accept_language(),
    ]
    chosen = fallback
    for candidates in sources:
        found = match_language(candidates, supported)
        if found:
            chosen = found
            break
    g._gatehouse_language = chosen
    return chosen


def babel_locale_name(tag: str) -> str:
    """`zh-HK` -> `zh_HK`: the catalog folder (and Babel identifier) of a BCP 47 tag."""
    return tag.replace("-", "_")


def select_locale() -> str:
    """flask-babel's locale selector."""
    name = babel_locale_name(current_language())
    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return "en"
    return name


def catalog_folder(locale: Locale) -> str:
    return f"{locale.language}_{locale.territory}" if locale.territory else locale.language


class CatalogDomain(Domain):
    """flask-babel's default domain, reading `translations/<ll>_<CC>` rather than `<ll>_<Script>_<CC>`."""

    def get_translations(self) -> NullTranslations:
        locale = get_locale()
        if locale is None:
            return NullTranslations()
        key = (str(locale), self.domain[0])
        cached = self.cache.get(key)
        if cached is None:
            cached = Translations.load(str(TRANSLATIONS_DIR), [catalog_folder(locale)], self.domain[0])
            self.cache[key] = cached
        return cached


def init_babel(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS_DIR))
    # flask-babel keeps its domain on the (process-wide) Babel object; ours only changes where
    # catalogs are looked up, so every app of the process may share it.
    if not isinstance(babel.__dict__.get("domain_instance"), CatalogDomain):
        babel.domain_instance = CatalogDomain()


def html_lang() -> str:
    """The `lang` attribute of a page: the chosen BCP 47 tag."""
    return current_language()
