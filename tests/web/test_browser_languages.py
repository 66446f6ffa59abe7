"""Authgear's languages in Chromium: the login page and settings pages rendered in each, with no
English left over (every visible text, placeholder, label and title is compared with the English
page) and no text overflowing a 390 px wide phone screen.

LANGUAGES grows with the catalogs: add a tag (and, when the language really writes a word as English
does, the word to SAME_AS_ENGLISH)."""

from __future__ import annotations

import pytest

from app.config import deep_merge
from app.context import RequestContext
from tests.factories import random_email, random_password
from tests.settings.conftest import SETTINGS_PROJECT

pytestmark = pytest.mark.usefixtures("_catalogs")

LANGUAGES = ["zh-CN", "es-ES", "es-419", "pt", "pt-PT", "id", "th", "vi", "nl", "pl", "ms", "fil", "el", "ar", "he"]
# Words a language writes exactly as English does (loanwords and cognates), per language tag.
SAME_AS_ENGLISH: dict[str, set[str]] = {
    "id": {"Status"},
    "pt": {"Status"},
    "fil": {"Password", "Profile", "Authenticator app"},  # Filipino's usual words for them
}
# Not text to translate: the app name, brand and sample values.
NEVER_TRANSLATED = {"Gatehouse", "Google", "Apple", "+85298765432"}
# The custom attributes of the settings test project are labelled by their names (configuration).
CONFIGURED_NAMES = {
    a["pointer"].lstrip("/") for a in SETTINGS_PROJECT["user_profile"]["custom_attributes"]["attributes"]
}
PAGES = ["/login", "/settings", "/settings/profile", "/settings/mfa"]
PHONE = {"width": 390, "height": 844}

# The visible text of a page: text nodes, and the placeholders, labels and titles people see or hear.
# Text in an element whose `lang` differs from the page's (the language menu) is left out.
_TEXTS = """() => {
  const lang = document.documentElement.lang;
  const own = (el) => { const l = el.closest('[lang]'); return !l || l.lang === lang; };
  const shown = (el) => el.checkVisibility({visibilityProperty: true}) || el.closest('.visually-hidden, .sr-only');
  const texts = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement, text = node.textContent.trim();
    if (text && el && !el.closest('script, style, template') && own(el) && shown(el)) texts.push(text);
  }
  for (const el of document.body.querySelectorAll('[placeholder], [aria-label], [title], [alt]')) {
    if (!own(el)) continue;
    for (const attr of ['placeholder', 'aria-label', 'title', 'alt']) {
      const value = (el.getAttribute(attr) || '').trim();
      if (value) texts.push(value);
    }
  }
  return texts;
}"""

# Elements whose content is wider than their box (cut off or spilling over), and the page's width.
_OVERFLOW = """() => {
  const out = [];
  for (const el of document.querySelectorAll('main, main *, header, header *, footer, footer *')) {
    if (!el.checkVisibility() || el.clientWidth < 2) continue;  // 1 px: text for screen readers only
    if (el.scrollWidth > el.clientWidth + 1) {
      const text = el.textContent.trim().slice(0, 60);
      out.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.scrollWidth} > ${el.clientWidth}: ${text}`);
    }
  }
  const page = document.documentElement.scrollWidth;
  if (page > window.innerWidth) out.push(`page: ${page} > ${window.innerWidth}`);
  return out;
}"""


def _signed_in(in_app, server, context) -> str:
    """A user with a password, an email and an IdP session whose cookie the browser holds."""
    email = random_email().lower()
    with in_app(server) as svc:
        user = svc.users.create_user([("email", email)])
        svc.passwords.create(user.id, random_password(), check_policy=False)
        svc.users.mark_verified(user.id, "email", email)
        _, token = svc.sessions.create(user.id, ["pwd"], RequestContext(ip="127.0.0.1", user_agent="Chrome/126.0"))
    context.add_cookies([{"name": "session", "value": token, "url": server.origin}])
    return email


def _visit(page, server, path: str, tag: str) -> list[str]:
    page.goto(server.url(f"{path}?ui_locales={tag}"))
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == tag, page.url
    return page.evaluate(_TEXTS)


def untranslated(texts: list[str], english: set[str], tag: str, extra: set[str]) -> list[str]:
    """The texts of a page in `tag` that are still its English page's texts."""
    allowed = NEVER_TRANSLATED | SAME_AS_ENGLISH.get(tag, set()) | extra
    return sorted({t for t in texts if t in english and t not in allowed and any(c.isalpha() for c in t)})


def test_untranslated_text_is_found():
    english = {"Sign in", "Password", "Gatehouse", "Status", "alice@example.com"}
    texts = ["Iniciar sesión", "Password", "Gatehouse", "Status", "12", "alice@example.com"]
    assert untranslated(texts, english, "es-ES", {"alice@example.com"}) == ["Password", "Status"]
    assert untranslated(texts, english, "pt", {"alice@example.com"}) == ["Password"]


@pytest.fixture(scope="module")
def project():
    return deep_merge(SETTINGS_PROJECT, {"localization": {"supported_languages": ["en", *LANGUAGES]}})


@pytest.mark.parametrize("tag", LANGUAGES)
def test_pages_are_translated_and_fit_a_phone(tag, web, context_factory, shots, in_app, project):
    server = web(project)
    context = context_factory(viewport=PHONE, locale=tag)
    page = context.new_page()
    problems = []
    email = ""
    for path in PAGES:
        if path.startswith("/settings") and not email:
            email = _signed_in(in_app, server, context)
        english = set(_visit(page, server, path, "en"))
        texts = _visit(page, server, path, tag)
        shots.visit(page, f"{path.strip('/').replace('/', '-')}-{tag}")
        names = {page.locator(".brand__name").inner_text(), *CONFIGURED_NAMES}
        if email:
            names |= {email, email.split("@")[0]}
        left = untranslated(texts, english, tag, names)
        if left:
            problems.append(f"{path}: English left: {left}")
        overflow = page.evaluate(_OVERFLOW)
        if overflow:
            problems.append(f"{path}: overflow at 390 px: {overflow}")
    assert not problems, f"{tag}: " + "; ".join(problems)
