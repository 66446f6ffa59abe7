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

import re
from collections.abc import Iterable
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Domain, get_locale

from app.extensions import babel

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
LOCALE_COOKIE = "ui_locales"  # contract 0.5 (with `http.cookie_prefix`)
_MAX_CANDIDATES = 20


def _norm(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()


_SUBTAG = re.compile(r"[a-z0-9]{1,8}")


def _split(tag: str) -> tuple[str, str | None, str | None] | None:
    """`zh-hant-hk` -> (`zh`, `hant`, `hk`); None when it is not a language tag."""
    parts = tag.split("-")
    if not all(_SUBTAG.fullmatch(p) for p in parts) or not 2 <= len(parts[0]) <= 3 or not parts[0].isalpha():
        return None
    script = region = None
    for part in parts[1:3]:
        if len(part) == 4 and part.isalpha() and script is None and region is None:
            script = part
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            region = region or part
    language = parts[0]
    alias = get_global("language_aliases").get(language)  # `in` -> id, `iw` -> he, `tl` -> fil, `sh` -> sr-Latn
    if alias:
        language, _, alias_script = alias.lower().partition("_")
        script = script or alias_script or None
    return language, script, region


def _likely(language: str, script: str | None, region: str | None) -> tuple[str, str | None, str | None]:
    """CLDR's "add likely subtags": `zh-SG` -> zh-Hans-SG, `zh-MO` -> zh-Hant-MO, `pt` -> pt-Latn-BR,
    `es-419` -> es-Latn-419 (the maximized tags golang.org/x/text's matcher, Authgear's, compares)."""
    likely = get_global("likely_subtags")
    keys = []
    if script and region:
        keys.append(f"{language}_{script.title()}_{region.upper()}")
    if region:
        keys.append(f"{language}_{region.upper()}")
    if script:
        keys.append(f"{language}_{script.title()}")
    keys.append(language)
    for key in keys:
        found = likely.get(key)
        if found:
            _, s, r = (found.split("_") + [None, None])[:3]
            return language, script or (s.lower() if s else None), region or (r.lower() if r else None)
    return language, script, region


def _parent_regions(language: str, script: str | None, region: str | None) -> list[str]:
    """The regions of a tag's CLDR parent locales: `es-MX` -> 419 (es-419), `pt-AO` -> pt (pt-PT),
    `zh-Hant-MO` -> hk (zh-Hant-HK)."""
    exceptions = get_global("parent_exceptions")
    found: list[str] = []
    while region and len(found) < 4:
        key = f"{language}_{script.title()}_{region.upper()}" if script else ""
        parent = exceptions.get(key) or exceptions.get(f"{language}_{region.upper()}")
        if not parent or parent.count("_") == 0:
            break
        region = parent.rsplit("_", 1)[1].lower()
        if region.isalpha() and len(region) == 4:  # a script-only parent (zh_Hant)
            break
        found.append(region)
    return found


def match_language(candidates: Iterable[str], supported: list[str]) -> str | None:
    """The supported tag for the first candidate that has one, as Authgear's matcher (its
    `intl.BestMatch` over golang.org/x/text/language) chooses:

    * the same tag (case and `_`/`-` aside);
    * else one of the same language and script once both are filled in with CLDR's likely
      subtags: the same region first (`pt` is pt-BR, `es` is es-ES, `zh-Hant` is zh-TW), then
      the region CLDR makes its parent (`es-MX`/`es-AR`/`es-US` -> es-419, `pt-AO`/`pt-MZ` ->
      pt-PT, `zh-MO` -> zh-HK), then the language's usual region (`es-GQ` -> es-ES), then any
      (`fr-CA` -> fr, `zh-HK` -> zh-TW), in the order listed;
    * deprecated codes as their replacements (`in` -> id, `iw` -> he, `tl` -> fil).

    Unlike Authgear, a different script never matches: Simplified Chinese (`zh`, `zh-CN`,
    `zh-SG`, `zh-Hans`) is never served as zh-HK/zh-TW, nor Traditional (`zh-HK`, `zh-TW`,
    `zh-MO`, `zh-Hant`) as zh-CN."""
    table: list[tuple[str, str, tuple[str, str | None, str | None]]] = []
    for s in supported:
        split = _split(_norm(s))
        if split:
            table.append((_norm(s), s, _likely(*split)))
    for i, raw in enumerate(candidates):
        if i >= _MAX_CANDIDATES or not raw or len(raw) > 35:
            break
        tag = _norm(raw)
        exact = next((s for key, s, _ in table if key == tag), None)
        if exact:
            return exact
        split = _split(tag)
        if split is None:
            continue
        language, script, region = _likely(*split)
        parents = _parent_regions(language, script, region)
        usual = _likely(language, script, None)[2]  # es-GQ: es-ES rather than es-419
        best, best_score = None, 0
        for _, s, (s_language, s_script, s_region) in table:
            if s_language != language or (script and s_script and script != s_script):
                continue
            score = 4 if s_region == region else 3 if s_region in parents else 2 if s_region == usual else 1
            if score > best_score:
                best, best_score = s, score
        if best:
            return best
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


def text_direction(tag: str) -> str:
    """The `dir` attribute for a BCP 47 tag: `rtl` for a language written right to left (`ar`,
    `he`, `fa`, ... as CLDR says, `iw` too), else `ltr`."""
    split = _split(_norm(tag))
    if split is None:
        return "ltr"
    language, script, _ = split
    try:
        locale = Locale.parse(f"{language}_{script.title()}" if script else language)
    except (UnknownLocaleError, ValueError):
        return "ltr"
    return "rtl" if locale.text_direction == "rtl" else "ltr"
