"""Right-to-left languages (Arabic, Hebrew): `dir="rtl"` on the pages and emails, a mirrored layout
(compared with bounding boxes in Chromium), emails, phone numbers and codes kept left to right, and
the catalogs of the languages added with them (plural rules, isolated placeholders)."""

from __future__ import annotations

import re

import pytest
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from app.config import deep_merge
from app.context import RequestContext
from app.i18n import TRANSLATIONS_DIR, text_direction
from app.messaging.templates import MessageRenderer
from tests.factories import random_email, random_password
from tests.settings.conftest import ALL_LOGIN_ID_KEYS, SETTINGS_PROJECT

RTL = ["ar", "he"]
# The catalogs added with them; each must follow Babel's (CLDR's) plural rules for its language.
ADDED = ["vi", "nl", "pl", "ms", "fil", "el", "ar", "he"]
PHONE_NUMBER = "+85298765432"
FSI, LRI, PDI = "\u2068", "\u2066", "\u2069"
# Values that may be written left to right, isolated (FSI ... PDI) in right-to-left catalogs, except
# in email subjects and SMS texts.
ISOLATED = re.compile(r"%\((target|user|value|app|client|date|time|ip|browser|system)\)s")


def _read(locale: str):
    with (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("tag", "direction"),
    [("ar", "rtl"), ("ar-EG", "rtl"), ("he", "rtl"), ("iw", "rtl"), ("fa", "rtl"), ("en", "ltr"), ("fil", "ltr"),
     ("zh-HK", "ltr"), ("el", "ltr"), ("", "ltr"), ("../x", "ltr")],
)  # fmt: skip
def test_text_direction(tag, direction):
    assert text_direction(tag) == direction


@pytest.mark.embedded
@pytest.mark.parametrize("locale", ADDED)
def test_catalog_plural_forms_are_babels(locale):
    catalog = _read(locale)
    plural = get_plural(locale)
    assert catalog.num_plurals == plural.num_plurals
    assert catalog.plural_expr == plural.plural_expr
    plurals = [m for m in catalog if m.id and m.pluralizable]
    assert plurals
    for message in plurals:
        assert len(message.string) == plural.num_plurals and all(message.string), message.id


@pytest.mark.embedded
@pytest.mark.parametrize("locale", RTL)
def test_left_to_right_values_are_isolated_in_rtl_catalogs(locale):
    """An email address or phone number inside Arabic or Hebrew text keeps its "+" and punctuation
    with it (as <bdi> would): the placeholder is wrapped in FSI ... PDI, the sample number in LRI ... PDI."""
    problems = []
    for message in _read(locale):
        if not message.id:
            continue
        for form in message.string if isinstance(message.string, tuple) else (message.string,):
            only_app_name = re.fullmatch(r"[^%]*%\(app_name\)s[^%]*", form)
            subject_or_sms = form.count(FSI) == 0 and ("%(code)s" in form or only_app_name)
            for name in ISOLATED.findall(form):
                if f"{FSI}%({name})s{PDI}" not in form and not subject_or_sms:
                    problems.append(f"{message.id!r}: %({name})s")
            if PHONE_NUMBER in form and f"{LRI}{PHONE_NUMBER}{PDI}" not in form:
                problems.append(f"{message.id!r}: {PHONE_NUMBER}")
    assert not problems, problems


@pytest.mark.embedded
@pytest.mark.parametrize(("locale", "direction"), [("ar", "rtl"), ("he", "rtl"), ("fr", "ltr"), ("pl", "ltr")])
def test_emails_are_laid_out_in_the_language_direction(locale, direction):
    renderer = MessageRenderer(translations_dir=TRANSLATIONS_DIR)
    params = {"app_name": "Acme", "code": "123456", "expires_in_minutes": 5}
    for template in ("otp_login", "otp_verification", "account_recovery"):
        email = renderer.render_email(template, params, locale)
        assert email.locale == locale
        assert re.search(rf'<html lang="{locale}" dir="{direction}">', email.html), email.html[:200]
        assert '<p dir="ltr" style="font-size:24px;font-weight:bold;letter-spacing:4px">123456</p>' in email.html
        assert "code expires" not in email.text  # translated, with the plural form of 5
    email = renderer.render_email("send_password", {"app_name": "Acme", "password": "x9!k-Q"}, locale)
    assert f'dir="{direction}"' in email.html and '<p dir="ltr"' in email.html


@pytest.mark.embedded
def test_arabic_plural_forms_in_an_email():
    renderer = MessageRenderer(translations_dir=TRANSLATIONS_DIR)
    texts = {
        n: renderer.render_email("otp_login", {"app_name": "Acme", "code": "1", "expires_in_minutes": n}, "ar").text
        for n in (1, 2, 5, 15, 100)
    }
    assert "2 دقيقتين" in texts[2] and "5 دقائق" in texts[5] and "15 دقيقة" in texts[15] and "100 دقيقة" in texts[100]


# -- in Chromium --------------------------------------------------------------------------------------
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# Bounding boxes (CSS px) of what the checks compare.
_BOXES = """() => {
  const box = (el) => {
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, width: r.width};
  };
  const card = document.querySelector('main.card');
  const cs = getComputedStyle(card);
  const content = card.getBoundingClientRect();
  const input = document.querySelector('main .input:not([type=hidden])');
  return {
    dir: document.documentElement.dir,
    direction: cs.direction,
    contentLeft: content.left + parseFloat(cs.paddingLeft) + parseFloat(cs.borderLeftWidth),
    contentRight: content.right - parseFloat(cs.paddingRight) - parseFloat(cs.borderRightWidth),
    title: box(document.querySelector('main .title')),
    label: box(document.querySelector('main .field__label')),
    labelText: (() => {
      const l = document.querySelector('main .field__label');
      if (!l) return null;
      const r = document.createRange();
      r.selectNodeContents(l);
      const b = r.getBoundingClientRect();
      return {left: b.left, right: b.right};
    })(),
    input: box(input),
    inputAlign: input ? getComputedStyle(input).textAlign : null,
    englishLinkDir: (document.querySelector('footer a[lang="en"]') || {}).dir || null,
  };
}"""

# The first and last characters of a text node inside `selector`, where they are drawn.
_CHARS = """(selector) => {
  const el = document.querySelector(selector);
  const text = el.firstChild;
  const at = (i) => {
    const r = document.createRange();
    r.setStart(text, i);
    r.setEnd(text, i + 1);
    return r.getBoundingClientRect();
  };
  const first = at(0), last = at(text.length - 1), box = el.getBoundingClientRect();
  return {text: text.textContent, first: first.left, last: last.left, left: box.left, right: box.right};
}"""

# Where "+", the first and the last digit of the sample phone number of a hint are drawn.
_SAMPLE = """(number) => {
  for (const el of document.querySelectorAll('main .field__hint')) {
    const node = el.firstChild, i = node.textContent.indexOf(number);
    if (i < 0) continue;
    const at = (k) => {
      const r = document.createRange();
      r.setStart(node, k);
      r.setEnd(node, k + 1);
      return r.getBoundingClientRect().left;
    };
    return {plus: at(i), first_digit: at(i + 1), last_digit: at(i + number.length - 1)};
  }
  return null;
}"""


def _project(languages: list[str]) -> dict:
    return deep_merge(
        deep_merge(SETTINGS_PROJECT, ALL_LOGIN_ID_KEYS),
        {"localization": {"supported_languages": ["en", *languages]}},
    )


def _sign_in(in_app, server, context) -> str:
    """A user with an email, a phone number and a password, its session cookie in the browser."""
    email = random_email().lower()
    with in_app(server) as svc:
        user = svc.users.create_user([("email", email), ("phone", PHONE_NUMBER)])
        svc.passwords.create(user.id, random_password(), check_policy=False)
        svc.users.mark_verified(user.id, "email", email)
        _, token = svc.sessions.create(user.id, ["pwd"], RequestContext(ip="127.0.0.1", user_agent="Chrome/126.0"))
    context.add_cookies([{"name": "session", "value": token, "url": server.origin}])
    return email


def _open(page, server, path: str, tag: str) -> dict:
    sep = "&" if "?" in path else "?"
    page.goto(server.url(f"{path}{sep}ui_locales={tag}"))
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == tag
    return page.evaluate(_BOXES)


def _near(a: float, b: float, tolerance: float = 2.0) -> bool:
    return abs(a - b) <= tolerance


@pytest.mark.parametrize("tag", RTL)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_login_page_is_mirrored(tag, viewport, web, context_factory, shots):
    server = web(_project(RTL))
    page = context_factory(viewport=viewport).new_page()
    english = _open(page, server, "/login", "en")
    assert english["dir"] == "ltr" and english["direction"] == "ltr"
    assert _near(english["title"]["left"], english["contentLeft"])
    assert _near(english["labelText"]["left"], english["contentLeft"])

    boxes = _open(page, server, "/login", tag)
    shots.visit(page, f"login-{tag}-{viewport['width']}")
    assert boxes["dir"] == "rtl" and boxes["direction"] == "rtl"
    # The card's text starts at its right edge: the title and the field's label end there...
    assert _near(boxes["title"]["right"], boxes["contentRight"]), boxes
    width = boxes["contentRight"] - boxes["contentLeft"]
    assert boxes["title"]["left"] > boxes["contentLeft"] + 2 or boxes["title"]["width"] >= width - 2, boxes
    assert _near(boxes["labelText"]["right"], boxes["contentRight"]), boxes
    assert boxes["labelText"]["left"] > boxes["contentLeft"] + 10, boxes
    # ... and the input's text starts at the right too (an email or phone number typed in it stays
    # left to right: `unicode-bidi: plaintext`).
    assert _near(boxes["input"]["right"], boxes["contentRight"]), boxes
    assert boxes["inputAlign"] == "right"
    # The language menu names English left to right.
    assert boxes["englishLinkDir"] == "ltr"
    # The sample phone number of the hint keeps its "+" in front (at the left) of its digits.
    sample = page.evaluate(_SAMPLE, PHONE_NUMBER)
    assert sample is not None and sample["plus"] < sample["first_digit"] < sample["last_digit"], sample


@pytest.mark.parametrize("tag", RTL)
def test_settings_pages_are_mirrored(tag, web, context_factory, in_app, shots):
    server = web(_project(RTL))
    context = context_factory(viewport=PHONE)
    page = context.new_page()
    _sign_in(in_app, server, context)

    _open(page, server, "/settings", tag)
    shots.visit(page, f"settings-{tag}")
    # Each row's title starts at the right; its chevron (›, mirrored to ‹) sits at the left end.
    row = page.evaluate("""() => {
      const link = document.querySelector('.row__link');
      const title = link.querySelector('.row__title'), chevron = link.querySelector('.row__chevron');
      const b = (el) => el.getBoundingClientRect();
      return {link: {left: b(link).left, right: b(link).right}, title: {left: b(title).left, right: b(title).right},
              chevron: {left: b(chevron).left, right: b(chevron).right}};
    }""")
    assert row["chevron"]["right"] < row["title"]["left"], row
    assert _near(row["title"]["right"], row["link"]["right"]), row
    assert _near(row["chevron"]["left"], row["link"]["left"]), row

    _open(page, server, "/settings/profile", tag)
    # The back link's arrow is at its right end and points right (flipped "←").
    back = page.evaluate("""() => {
      const link = document.querySelector('a.back'), arrow = link.querySelector('[aria-hidden="true"]');
      const a = arrow.getBoundingClientRect(), l = link.getBoundingClientRect();
      return {arrow: {left: a.left, right: a.right}, link: {left: l.left, right: l.right},
              transform: getComputedStyle(arrow).transform};
    }""")
    assert _near(back["arrow"]["right"], back["link"]["right"]), back
    assert back["transform"].startswith("matrix(-1"), back

    _open(page, server, "/settings/identity/phone", tag)
    shots.visit(page, f"settings-phone-{tag}")
    # The phone number is drawn left to right ("+" first, at the left), at the right of its row,
    # with its badges after it (to its left).
    chars = page.evaluate(_CHARS, ".row__title bdi")
    assert chars["text"] == PHONE_NUMBER
    assert chars["first"] < chars["last"], chars
    row = page.evaluate("""() => {
      const main = document.querySelector('.row__main').getBoundingClientRect();
      const badge = document.querySelector('.row__title .badge');
      return {right: main.right, badge: badge ? badge.getBoundingClientRect().right : null};
    }""")
    assert _near(chars["right"], row["right"]), (chars, row)
    if row["badge"] is not None:
        assert row["badge"] <= chars["left"], (chars, row)


@pytest.mark.parametrize("tag", RTL)
def test_code_page_keeps_the_address_left_to_right(tag, web, context_factory, in_app, shots):
    """A sentence with an email address in it ("We sent a code to ...") keeps the address whole,
    its own direction inside the right-to-left sentence."""
    server = web(_project(RTL))
    context = context_factory(viewport=PHONE)
    page = context.new_page()
    _sign_in(in_app, server, context)
    page.goto(server.url(f"/settings/identity/add_email?ui_locales={tag}"))
    page.wait_for_load_state("load")
    address = f"{random_email().lower()}."[:-1]
    page.fill("main .input[type=email]", address)
    # Typed left to right inside an input that keeps the right edge.
    assert page.evaluate("() => getComputedStyle(document.querySelector('main .input[type=email]')).direction") == "ltr"
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("load")
    shots.visit(page, f"verify-email-{tag}")
    # "…to ⁨u****@example.com⁩." : the (masked) address is isolated and drawn left to right, its
    # first character at the left, inside the right-to-left sentence.
    drawn = page.evaluate("""() => {
      const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) {
        const node = walker.currentNode;
        const start = node.textContent.indexOf('\\u2068'), end = node.textContent.indexOf('\\u2069');
        if (start < 0 || end < 0) continue;
        const at = (i) => {
          const r = document.createRange();
          r.setStart(node, i);
          r.setEnd(node, i + 1);
          return r.getBoundingClientRect();
        };
        const sentence = node.parentElement.getBoundingClientRect();
        return {value: node.textContent.slice(start + 1, end), first: at(start + 1).left, last: at(end - 1).left,
                stop: at(end + 1 < node.textContent.length ? end + 1 : end - 1).left, right: sentence.right};
      }
      return null;
    }""")
    assert drawn is not None, page.locator("main").inner_text()
    assert drawn["value"].endswith(address.split("@")[1]), drawn
    assert drawn["first"] < drawn["last"], drawn
    assert drawn["stop"] < drawn["first"], drawn  # the sentence's full stop comes after it: to its left
    assert page.locator("html").get_attribute("dir") == "rtl"
