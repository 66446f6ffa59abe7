"""Runs scenario files (`create -> input -> expect`) against the Authentication Flow API.

A scenario is YAML:

    name: ...
    config: {...}            # authgear.yaml overrides (optional)
    given:                   # users that exist before the scenario (optional)
      - {email: "{{email}}", password: "{{password}}", totp: true, recovery_codes: true}
    steps:
      - create: {type: login, name: default}
        expect: {action: {type: identify}}
      - input: {identification: email, login_id: "{{email}}"}
        save: before_password          # remember this step's state token
      - input: {code: "{{otp}}"}       # the last code mailed to {{email}}
        from: before_password          # use a saved state token instead of the latest
        error: {name: Forbidden, reason: InvalidOTPCode}

Placeholders: {{email}}, {{email2}}, {{password}}, {{new_password}}, {{otp}} / {{otp:<address>}} (the last
code received by the test SMTP server), {{totp}} (a current code for the TOTP secret of the scenario,
from `given` or from the last create_totp_data), {{recovery_code}} (one of the codes shown or given,
each used once). `expect` is matched as a subset; `session: true` checks the IdP session cookie was set.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pyotp
import yaml

SCENARIO_DIR = Path(__file__).parent / "scenarios"
_PLACEHOLDER = re.compile(r"\{\{([a-z_0-9]+)(?::([^}]+))?\}\}")


def load_scenarios() -> list[dict[str, Any]]:
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            doc["id"] = f"{path.stem}[{i}]"
            out.append(doc)
    return out


def assert_subset(expected: Any, actual: Any, where: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{where}/{k}: missing in {actual!r}"
            assert_subset(v, actual[k], f"{where}/{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(e, a, f"{where}/{i}")
    else:
        assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


class ScenarioRun:
    def __init__(self, client: Any, svc_factory: Any, smtp: Any) -> None:
        self.client = client
        self.svc_factory = svc_factory
        self.smtp = smtp
        tag = secrets.token_hex(4)
        self.vars: dict[str, str] = {
            "email": f"alice-{tag}@example.com",
            "email2": f"bob-{tag}@example.com",
            "password": "Correct-Horse-" + tag,
            "new_password": "Battery-Staple-" + tag,
            "phone": "+85298765432",
        }
        self.totp_secret: str | None = None
        self.recovery_codes: list[str] = []
        self.saved: dict[str, str] = {}
        self.token: str | None = None
        self.last: dict[str, Any] = {}

    # -- placeholders -------------------------------------------------------------------------------
    def _value(self, name: str, arg: str | None) -> str:
        if name == "otp":
            return self.smtp.last_code(self.render(arg) if arg else self.vars["email"])
        if name == "totp":
            assert self.totp_secret, "no TOTP secret in this scenario yet"
            return pyotp.TOTP(self.totp_secret).now()
        if name == "recovery_code":
            return self.recovery_codes.pop(0)
        return self.vars[name]

    def render(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = _PLACEHOLDER.fullmatch(value)
            if whole:
                return self._value(whole.group(1), whole.group(2))
            return _PLACEHOLDER.sub(lambda m: self._value(m.group(1), m.group(2)), value)
        if isinstance(value, dict):
            return {k: self.render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v) for v in value]
        return value

    # -- running ------------------------------------------------------------------------------------
    def given(self, users: list[dict[str, Any]]) -> None:
        from app.authenticators import totp
        from app.authenticators.recovery_codes import generate
        from app.extensions import db

        with self.svc_factory() as svc:
            for spec in users:
                spec = self.render(spec)
                login_ids = [(k, spec[k]) for k in ("email", "phone", "username") if k in spec]
                user = svc.users.create_user(login_ids)
                if "password" in spec:
                    svc.passwords.create(user.id, spec["password"], check_policy=False)
                if spec.get("totp"):
                    self.totp_secret = totp.new_secret()
                    svc.totp.create(user.id, self.totp_secret, "TOTP")
                if spec.get("oob_email"):
                    svc.oob.create(user.id, "email", spec["email"], spec.get("oob_kind", "secondary"))
                if spec.get("recovery_codes"):
                    self.recovery_codes = generate(16)
                    svc.recovery_codes.replace(user.id, self.recovery_codes)
                if spec.get("disabled"):
                    user.is_disabled = True
                for claim in spec.get("verified", []):
                    svc.users.mark_verified(user.id, claim, spec["email"] if claim == "email" else spec["phone"])
            db.session.commit()

    def step(self, step: dict[str, Any]) -> None:
        if "create" in step:
            resp = self.client.post("/api/v1/authentication_flows", json=self.render(step["create"]))
        elif "raw" in step:
            resp = self.client.post(
                step.get("path", "/api/v1/authentication_flows/states/input"), json=self.render(step["raw"])
            )
        else:
            token = self.saved[step["from"]] if "from" in step else self.token
            key = "batch_input" if "batch" in step else "input"
            body = {"state_token": token, key: self.render(step.get("batch", step.get("input")))}
            path = "/api/v1/authentication_flows/states/input"
            if step.get("reread"):
                body, path = {"state_token": token}, "/api/v1/authentication_flows/states"
            resp = self.client.post(path, json=body)
        body = resp.get_json()
        assert body is not None, f"not JSON: {resp.status_code} {resp.data[:200]!r}"
        if "error" in step:
            assert "error" in body, f"expected an error, got {body}"
            assert_subset(self.render(step["error"]), body["error"], "error")
            assert resp.status_code == body["error"]["code"]
            return
        assert resp.status_code == 200, f"{resp.status_code}: {body}"
        result = body["result"]
        self.last = result
        self.token = result["state_token"]
        if "save" in step:
            self.saved[step["save"]] = self.token
        data = result["action"].get("data", {})
        if data.get("type") == "create_totp_data":
            self.totp_secret = data["secret"]
        if data.get("type") == "view_recovery_code_data":
            self.recovery_codes = list(data["recovery_codes"])
        if "expect" in step:
            assert_subset(self.render(step["expect"]), result, "result")
        if step.get("session"):
            cookies = resp.headers.getlist("Set-Cookie")
            assert any(c.startswith("session=") and "HttpOnly" in c for c in cookies), cookies
