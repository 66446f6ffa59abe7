"""The catalogs: every message of the pages and message templates translated in every language,
and the language each request is served in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app.i18n import TRANSLATIONS_DIR, match_language
from app.messaging.templates import MessageRenderer

ROOT = Path(__file__).resolve().parents[2]
LOCALES = [
    "en", "zh_HK", "zh_TW", "zh_CN", "ja", "ko", "es", "es_ES", "es_419", "fr", "de", "pt", "pt_BR", "pt_PT",
    "it", "id", "th", "vi", "nl", "pl", "ms", "fil", "el", "ar", "he",
]  # fmt: skip
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")


def extracted() -> set[str | tuple[str, ...]]:
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    ids: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map, keywords=KEYWORDS):
        ids.add(tuple(message) if isinstance(message, (list, tuple)) else message)
    return ids


@pytest.fixture(scope="module")
def source_ids() -> set[str | tuple[str, ...]]:
    ids = extracted()
    assert len(ids) > 150  # the pages, their errors and the message templates
    return ids


def catalog_problems(catalog, source_ids) -> list[str]:
    problems = []
    for mid in sorted(source_ids, key=str):
        key = mid[0] if isinstance(mid, tuple) else mid
        message = catalog.get(key)
        if message is None:
            problems.append(f"missing: {mid!r}")
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(f and f.strip() for f in forms):
            problems.append(f"empty or fuzzy: {mid!r}")
            continue
        wanted = sorted(set(_PLACEHOLDER.findall(mid[-1] if isinstance(mid, tuple) else mid)))
        for form in forms:
            if sorted(set(_PLACEHOLDER.findall(form))) != wanted:
                problems.append(f"placeholders differ: {mid!r} -> {form!r}")
    return problems


def _read(locale: str):
    with (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


@pytest.mark.embedded
@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_every_message_translated(locale, source_ids):
    problems = catalog_problems(_read(locale), source_ids)
    assert not problems, f"{locale}: " + "; ".join(problems[:20])


@pytest.mark.embedded
def test_a_missing_empty_or_wrong_translation_is_caught(source_ids):
    catalog = _read("ja")
    catalog.delete("Sign in")
    catalog["Password"].string = ""
    catalog["to continue to %(app)s"].string = "続行"
    problems = catalog_problems(catalog, source_ids)
    assert "missing: 'Sign in'" in problems
    assert "empty or fuzzy: 'Password'" in problems
    assert any(p.startswith("placeholders differ: 'to continue") for p in problems)


ALL = [loc.replace("_", "-") for loc in LOCALES]


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("candidates", "supported", "expected"),
    [
        (["ja"], ["en", "ja"], "ja"),
        (["ja-JP"], ["en", "ja"], "ja"),
        (["zh-Hant-HK"], ["en", "zh-HK", "zh-TW"], "zh-HK"),
        (["zh-HK"], ["en", "zh-TW"], "zh-TW"),
        (["zh-CN"], ["en", "zh-HK", "zh-TW"], None),
        (["zh-CN", "fr"], ["en", "fr", "zh-HK"], "fr"),
        (["pt"], ["en", "pt-BR"], "pt-BR"),
        (["de-AT", "en"], ["en", "de"], "de"),
        (["xx", "../etc", "a" * 100], ["en"], None),
        # Authgear's locales (golang.org/x/text's matcher with CLDR's likely subtags and parents).
        (["zh-CN"], ALL, "zh-CN"),
        (["zh"], ALL, "zh-CN"),
        (["zh-Hans"], ALL, "zh-CN"),
        (["zh-SG"], ALL, "zh-CN"),
        (["zh-Hans-HK"], ALL, "zh-CN"),
        (["zh-Hant"], ALL, "zh-TW"),
        (["zh-MO"], ALL, "zh-HK"),
        (["zh-Hant-MO"], ["en", "zh-TW", "zh-HK"], "zh-HK"),
        (["zh-TW"], ["en", "zh-CN"], None),  # Simplified is never served for Traditional...
        (["zh-Hant", "ja"], ["en", "ja", "zh-CN"], "ja"),
        (["zh-SG"], ["en", "zh-HK", "zh-TW"], None),  # ... nor Traditional for Simplified
        (["zh"], ["en", "zh-TW"], None),
        (["es"], ALL, "es"),
        (["es"], ["en", "es-419", "es-ES"], "es-ES"),
        (["es-ES"], ALL, "es-ES"),
        (["es-ES"], ["en", "es", "es-419"], "es"),
        (["es-MX"], ALL, "es-419"),
        (["es-AR"], ["en", "es", "es-ES", "es-419"], "es-419"),
        (["es-US"], ALL, "es-419"),
        (["es-419"], ["en", "es"], "es"),
        (["es-MX"], ["en", "es"], "es"),
        (["es-GQ"], ["en", "es-419", "es-ES"], "es-ES"),
        (["pt"], ALL, "pt"),
        (["pt"], ["en", "pt-PT", "pt-BR"], "pt-BR"),
        (["pt-BR"], ["en", "pt", "pt-PT"], "pt"),
        (["pt-PT"], ALL, "pt-PT"),
        (["pt-AO"], ALL, "pt-PT"),
        (["pt-MZ"], ["en", "pt-BR", "pt-PT"], "pt-PT"),
        (["pt-PT"], ["en", "pt-BR"], "pt-BR"),
        (["id-ID"], ALL, "id"),
        (["in"], ALL, "id"),  # the deprecated code
        (["th-TH"], ALL, "th"),
        (["ms", "id"], ["en", "id", "th"], "id"),  # a language that is not supported is skipped
        (["ms-MY", "id"], ALL, "ms"),
        (["vi-VN"], ALL, "vi"),
        (["nl-BE"], ALL, "nl"),
        (["pl-PL"], ALL, "pl"),
        (["el-CY"], ALL, "el"),
        (["tl"], ALL, "fil"),  # the deprecated code
        (["fil-PH"], ALL, "fil"),
        (["ar-EG"], ALL, "ar"),
        (["ar-SA", "en"], ALL, "ar"),
        (["iw"], ALL, "he"),  # the deprecated code
        (["he-IL"], ALL, "he"),
        ([], ["en"], None),
    ],
)
def test_language_matching(candidates, supported, expected):
    assert match_language(candidates, supported) == expected


@pytest.mark.embedded
def test_message_templates_use_the_shared_catalogs():
    email = MessageRenderer(translations_dir=TRANSLATIONS_DIR).render_email(
        "otp_verification", {"app_name": "Acme", "code": "123456", "expires_in_minutes": 5}, "ja"
    )
    assert email.locale == "ja"
    assert "確認コード" in email.subject and "123456" in email.text


LANGS = {"localization": {"fallback_language": "en", "supported_languages": ["en", "ja", "zh-HK", "fr"]}}


def _title(resp) -> str:
    return re.search(r"<h1 class=\"title\">([^<]*)</h1>", resp.get_data(as_text=True)).group(1)


@pytest.mark.embedded
def test_language_of_a_page_ui_locales_then_cookie_then_accept_language(make_app):
    app = make_app(LANGS)
    client = app.test_client()
    first = client.get("/login", headers={"Accept-Language": "fr"})
    page = client.get(first.headers["Location"], headers={"Accept-Language": "fr"})
    assert _title(page) == "Se connecter"
    assert 'lang="fr"' in page.get_data(as_text=True)
    # ui_locales wins and is remembered for the following pages (cookie).
    resp = client.get("/login?ui_locales=zh-HK%20ja", headers={"Accept-Language": "fr"})
    assert "ui_locales=zh-HK" in resp.headers.get("Set-Cookie", "")
    page = client.get(resp.headers["Location"], headers={"Accept-Language": "fr"})
    assert _title(page) == "登入"
    # A language outside supported_languages falls back.
    other = make_app(LANGS).test_client()
    resp = other.get("/login?ui_locales=ko", headers={"Accept-Language": "de"})
    assert _title(other.get(resp.headers["Location"])) == "Sign in"


@pytest.mark.embedded
def test_fallback_language_is_used_when_nothing_matches(make_app):
    app = make_app({"localization": {"fallback_language": "ja", "supported_languages": ["en", "ja"]}})
    client = app.test_client()
    resp = client.get("/signup", headers={"Accept-Language": "de-DE"})
    assert _title(client.get(resp.headers["Location"])) == "アカウントを作成"
