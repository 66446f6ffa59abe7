"""The JSON API's scenario files (tests/flows/scenarios) run through the hosted pages in Chromium.

Each `create` opens the flow's first page, each `input` becomes what a person does on the page
showing the step (fill the fields, press the button, follow "other ways to continue"), `from`
goes back to a saved page, and `expect`/`error` are checked against the page shown: the page of
the expected step, or the translated message of the expected error.

What the pages cannot express is skipped, step by step, and named here:
- `raw` request bodies (tests/flows/scenarios/hostile.yaml is all of them): malformed JSON objects;
- inputs a form cannot produce: unknown or extra keys, non-string values, an option the page does
  not offer (`identification: fax`, an `index` that is not the option's), a missing field that
  the API reports by schema, `confirm_recovery_code: false`, and `id_token` identification;
- choices the pages make by themselves (sending the only destination's code, making the TOTP
  secret, sending a known target's code): the input is already done when the page shows.
Scenarios of flow types the pages do not start (`promote`) are skipped whole.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from app.web.messages import error_text
from tests.flows.runner import ScenarioRun, load_scenarios

SCENARIOS = load_scenarios()
ENTRY = {
    "login": "/login",
    "signup_login": "/login",
    "signup": "/signup",
    "reauth": "/reauth",
    "account_recovery": "/authflow/v2/forgot_password",
}
V2 = "/authflow/v2/"
TYPE_PAGES = {
    "identify": {"/login", "/signup", "/reauth", V2 + "forgot_password"},
    # (an authenticate step enrolling a second factor in an MFA grace period shows the setup pages)
    "authenticate": {
        V2 + p
        for p in ("enter_password", "enter_totp", "enter_recovery_code", "enter_oob_otp", "setup_totp", "setup_oob_otp")
    }
    | {V2 + "create_password"},
    "create_authenticator": {V2 + p for p in ("create_password", "setup_totp", "setup_oob_otp", "enter_oob_otp")},
    "verify": {V2 + "enter_oob_otp"},
    "view_recovery_code": {V2 + "view_recovery_code"},
    "change_password": {V2 + "change_password"},
    "fill_in_user_profile": {V2 + "fill_in_user_profile"},
    "terminate_other_sessions": {V2 + "terminate_other_sessions"},
    "select_destination": {V2 + "forgot_password/otp", V2 + "forgot_password/link/sent"},
    "verify_account_recovery_code": {V2 + "forgot_password/otp", V2 + "forgot_password/link/sent"},
    "reset_password": {V2 + "reset_password"},
    "finished": {
        V2 + "finish",
        V2 + "change_password/success",
        V2 + "reset_password/success",
        "/oauth2/consent",
        "/settings",
    },
}
AUTH_LINK = {
    "primary_password": "Use your password",
    "secondary_password": "Use your password",
    "secondary_totp": "Use your authenticator app",
    "recovery_code": "Use a recovery code",
}
AUTH_PAGE = {
    "primary_password": "enter_password",
    "secondary_password": "enter_password",
    "secondary_totp": "enter_totp",
    "recovery_code": "enter_recovery_code",
}
EXPIRED = "This page has expired."


class Skip(Exception):
    """This step is API-only."""


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


class PageRun:
    def __init__(self, scenario: dict[str, Any], page: Any, server: Any, run: ScenarioRun, shots: Any) -> None:
        self.scenario = scenario
        self.page = page
        self.server = server
        self.run = run
        self.shots = shots
        self.saved: dict[str, str] = {}
        self.skipped: list[str] = []
        self.last_input: dict[str, Any] = {}

    # -- what the page shows ----------------------------------------------------------------------
    @property
    def path(self) -> str:
        return urlsplit(self.page.url).path

    @property
    def page_name(self) -> str:
        path = self.path
        return path[len(V2) :] if path.startswith(V2) else path.strip("/")

    def main_text(self) -> str:
        return self.page.locator("main").inner_text() if self.page.locator("main").count() else ""

    def submit(self, name: str | None = None) -> None:
        if name:
            self.page.get_by_role("button", name=name).first.click()
        else:
            self.page.locator("main form button[type=submit]").first.click()
        self.page.wait_for_load_state("load")

    def settle(self) -> None:
        """Let the finish page move on (meta refresh) when it does."""
        self.page.wait_for_load_state("load")
        if self.path == V2 + "finish":
            self.page.wait_for_load_state("networkidle")

    def visit(self) -> None:
        self.shots.visit(self.page, "scenario-" + self.page_name.replace("/", "-"))

    # -- steps ------------------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> None:
        flow_type = body["type"]
        if flow_type not in ENTRY:
            raise Skip(f"flow type {flow_type} has no page")
        query = body.get("url_query") or ""
        if body.get("name", "default") != "default":
            extra = urlencode({"x_authentication_flow_group": "scenario"})
            query = f"{query}&{extra}" if query else extra
        self.page.goto(self.server.url(ENTRY[flow_type] + ("?" + query if query else "")))
        self.page.wait_for_load_state("load")
        for inp in body.get("batch_input") or []:
            self.input(self.run.render(inp))

    def input(self, inp: dict[str, Any]) -> None:
        self.last_input = inp
        page = self.page
        name = self.page_name
        keys = set(inp)
        if keys == {"identification", "login_id"}:
            if inp["identification"] not in ("email", "phone", "username") or not _is_str(inp["login_id"]):
                raise Skip("identification or login_id a form cannot send")
            page.locator("#login_id").fill(inp["login_id"])
            return self.submit()
        if "identification" in keys:
            raise Skip("extra keys or id_token identification")
        authentication = inp.get("authentication")
        if authentication in AUTH_PAGE and keys == {"authentication", _field(authentication)} | (
            {"request_device_token"} & keys
        ):
            if name != AUTH_PAGE[authentication]:
                link = page.get_by_role("link", name=AUTH_LINK[authentication])
                if not link.count():
                    raise Skip(f"{authentication} is not offered (the API reports it by schema)")
                link.first.click()
                page.wait_for_load_state("load")
            if not _is_str(inp[_field(authentication)]):
                raise Skip("a value a form cannot send")
            page.locator("#" + _dom_field(authentication)).fill(inp[_field(authentication)])
            if inp.get("request_device_token"):
                page.get_by_label("Don't ask again on this device").check()
            return self.submit()
        if authentication and "_oob_otp_" in authentication and keys <= {"authentication", "index", "channel"}:
            if name == "enter_oob_otp" and page.locator("#code").count():
                return None  # the pages sent the code already
            if inp.get("index") != 0:
                raise Skip("an index that is not the option's")
            return self.submit("Send code")
        if keys == {"authentication", "new_password"} or keys == {"new_password"}:
            if not _is_str(inp["new_password"]):
                raise Skip("a value a form cannot send")
            page.locator("#new_password").fill(inp["new_password"])
            page.locator("#confirm_password").fill(inp["new_password"])
            return self.submit()
        if keys == {"authentication"} and authentication == "secondary_totp":
            if page.locator("#totp-secret").count():
                return None  # the pages made the secret already
            return self.submit()
        if keys == {"authentication"}:
            raise Skip("a missing field the API reports by schema")
        if keys == {"account_recovery_code"} and "/forgot_password/link/sent" in page.url:
            raise Skip("a reset link's page takes no code (the link opens reset_password)")
        if keys == {"code"} or keys == {"account_recovery_code"}:
            value = inp.get("code", inp.get("account_recovery_code"))
            if not _is_str(value):
                raise Skip("a value a form cannot send")
            page.locator("#code").fill(value)
            return self.submit()
        if keys == {"resend"}:
            # The button waits out the cooldown (disabled, counting down); a scenario that resends
            # within it checks the server's own refusal, so the button is enabled here.
            # Enabled and submitted in one script turn, so the countdown's next tick cannot disable it
            # again in between.
            button = self.page.get_by_role("button", name=re.compile("^Send a new code")).first
            with self.page.expect_navigation():
                button.evaluate("b => { b.disabled = false; b.form.requestSubmit(b); }")
            self.page.wait_for_load_state("load")
            return None
        if keys == {"index"}:
            if page.locator("#code").count() or "/forgot_password/link/sent" in page.url:
                return None  # the only destination was chosen by the page
            if inp["index"] != 0:
                raise Skip("an index that is not offered")
            return self.submit("Send code")
        if keys == {"confirm_recovery_code"}:
            if inp["confirm_recovery_code"] is not True:
                raise Skip("confirm_recovery_code other than true")
            return self.submit()
        if keys == {"confirm_terminate_other_sessions"}:
            return self.submit()
        if keys == {"attributes"}:
            for attr in inp["attributes"]:
                page.locator("#attr_" + attr["pointer"].strip("/")).fill(attr["value"])
            return self.submit()
        raise Skip(f"no page field for {sorted(keys)}")

    def before_placeholders(self, step: dict[str, Any]) -> None:
        """Secrets a later placeholder needs come from the page now on screen."""
        if self.page.locator("#totp-secret").count():
            self.run.totp_secret = self.page.locator("#totp-secret").inner_text().replace(" ", "")

    def step(self, step: dict[str, Any]) -> None:
        if "raw" in step:
            raise Skip("raw request body")
        if "create" in step:
            self.create(self.run.render(step["create"]))
        elif step.get("reread"):
            self.page.reload()
            self.page.wait_for_load_state("load")
        else:
            if "from" in step:
                self.page.goto(self.saved[step["from"]])
                self.page.wait_for_load_state("load")
                if EXPIRED in self.main_text():
                    assert (step.get("error") or {}).get("reason") == "AuthenticationFlowNotFound", self.page.url
                    return
            self.before_placeholders(step)
            key = "batch" if "batch" in step else "input"
            inputs = step[key] if key == "batch" else [step[key]]
            for inp in inputs:
                self.input(self.run.render(inp))
        self.settle()
        self.visit()
        if self.page.locator("#recovery-codes li").count():
            self.run.recovery_codes = self.page.locator("#recovery-codes li").all_inner_texts()
        if "error" in step:
            self.check_error(step["error"])
        elif "expect" in step:
            self.check_expect(step["expect"])
        if "save" in step:
            self.saved[step["save"]] = self.page.url
        if step.get("session"):
            cookies = self.page.context.cookies(self.server.origin)
            assert any(c["name"] == "session" and c["httpOnly"] for c in cookies), cookies

    def check_expect(self, expect: dict[str, Any]) -> None:
        action = (expect.get("action") or {}) if isinstance(expect, dict) else {}
        kind = action.get("type")
        if not kind:
            return
        allowed = TYPE_PAGES[kind]
        if kind == "finished":
            uri = (action.get("data") or {}).get("finish_redirect_uri")
            if uri:
                wanted = urlsplit(uri)
                if wanted.path == "/settings":  # not installed: the finish page stands in
                    assert self.path in allowed | {"/settings"}, self.page.url
                    return
                got = urlsplit(self.page.url)
                assert (got.path, got.query) == (wanted.path, wanted.query), self.page.url
                return
        assert self.path in allowed, f"expected a page of {kind}, got {self.page.url}: {self.main_text()[:300]}"

    def check_error(self, error: dict[str, Any]) -> None:
        reason = error.get("reason")
        text = self.main_text()
        if reason == "AuthenticationFlowNotFound":
            assert EXPIRED in text or self.path in TYPE_PAGES["identify"], self.page.url
            return
        page_name = self.page_name
        shown = self.page.locator(".field__error, [role=alert]")
        assert shown.count(), f"no error shown for {reason} on {self.page.url}: {text[:300]}"
        if reason in ("ValidationFailed", "InvariantViolated") and error.get("name") == "Invalid":
            kind = ((error.get("info") or {}).get("cause") or {}).get("kind")
            if reason == "ValidationFailed" or not kind:
                return  # the sentence depends on the field: that one is shown is what counts
        if reason in WAIT_SENTENCES:
            # The pages say how long to wait, from the live error's info (which the scenario does
            # not know): the sentence's fixed part is what is compared.
            key = "resend" if self.last_input.get("resend") else reason
            fixed = WAIT_SENTENCES.get(key, WAIT_SENTENCES[reason])
            assert fixed in text, f"{reason}: expected {fixed!r} on {self.page.url}, page says {text[:400]!r}"
            return
        with self.server.app.test_request_context():
            expected = error_text({**error, "resend": bool(self.last_input.get("resend"))}, page_name)
        assert expected in text, f"{reason}: expected {expected!r} on {self.page.url}, page says {text[:400]!r}"


# The fixed part of the messages that name a wait ("try again in 1 minute"), by reason.
WAIT_SENTENCES = {
    "AccountLockout": "Too many failed attempts.",
    "RateLimited": "Too many",
    "resend": "before requesting another code.",
}


def _field(authentication: str) -> str:
    return {"secondary_totp": "code", "recovery_code": "recovery_code"}.get(authentication, "password")


def _dom_field(authentication: str) -> str:
    return _field(authentication)


def _config(scenario: dict[str, Any]) -> dict[str, Any]:
    """The scenario's config, plus what the pages need to start the same flows."""
    config = dict(scenario.get("config") or {})
    ui = dict(config.get("ui") or {})
    creates = [s["create"] for s in scenario["steps"] if "create" in s]
    if any(c.get("type") == "signup_login" for c in creates):
        ui["signup_login_flow_enabled"] = True
    named = [{"type": c["type"], "name": c["name"]} for c in creates if c.get("name", "default") != "default"]
    if named:
        ui["authentication_flow"] = {"groups": [{"name": "scenario", "flows": named}]}
    if ui:
        config["ui"] = ui
    return config


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_scenario_through_the_pages(scenario, web, page, shots, smtp_server, in_app):
    steps = scenario["steps"]
    if all("raw" in s for s in steps):
        pytest.skip("API-only: raw request bodies")
    types = {s["create"]["type"] for s in steps if "create" in s}
    if types - set(ENTRY):
        pytest.skip(f"API-only: {sorted(types - set(ENTRY))} flows have no pages")
    if {"login", "signup_login"} <= types:
        pytest.skip("API-only: /login starts either login or signup_login, not both in one scenario")
    server = web(_config(scenario))

    def svc_factory():
        return in_app(server)

    run = ScenarioRun(None, svc_factory, smtp_server)
    run.given(scenario.get("given", []))
    pages = PageRun(scenario, page, server, run, shots)
    for i, step in enumerate(steps):
        try:
            pages.step(step)
        except Skip as why:
            if "create" in step:
                pytest.skip(f"API-only: {why}")
            pages.skipped.append(f"step {i}: {why}")
        except AssertionError as exc:
            raise AssertionError(f"{scenario['name']} — step {i}: {exc}") from None
