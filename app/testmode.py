"""Test mode: fixed one-time codes and suppressed messages, as Authgear's two layers define them.

authgear.yaml `test_mode` (the project's own rules, matched by regex against the target, first
match wins):
- `oob_otp`: when `enabled`, a matching target gets the rule's `fixed_code`, else the feature
  config's fixed code when that is enabled, else a random code.
- `email` / `sms`: when `enabled`, a matching rule with `suppressed: true` stops the message before
  the messaging limits are counted: nothing is sent and nothing is counted.

authgear.features.yaml `test_mode` (the plan's switches, for every target):
- `fixed_oob_otp`: `{enabled, code}`, the code of every OOB OTP that no project rule fixed.
- `email.suppressed` / `sms.suppressed`: the messaging limits are counted, then nothing is sent.

Neither layer skips the OTP's own limits (resend cooldown, trigger and validate per IP, the
failed-attempt revocation): Authgear applies them to fixed codes too.
"""

from __future__ import annotations

import re
from typing import Any


class TestMode:
    __test__ = False  # not a pytest class

    def __init__(self, project: dict[str, Any], features: dict[str, Any]) -> None:
        self.rules = project.get("test_mode") or {}
        self.features = features.get("test_mode") or {}

    def _match(self, section: str, target: str) -> dict[str, Any] | None:
        conf = self.rules.get(section) or {}
        if not conf.get("enabled"):
            return None
        for rule in conf.get("rules") or []:
            # Go's regexp.Match: the pattern may match anywhere in the target unless it is anchored.
            if re.search(rule["regex"], target):
                return rule
        return None

    def fixed_oob_otp(self, target: str) -> str | None:
        """The code an OOB OTP to `target` must carry, or None for a random one."""
        feature = self.features.get("fixed_oob_otp") or {}
        feature_code = feature.get("code") if feature.get("enabled") else None
        rule = self._match("oob_otp", target)
        if rule is not None:
            return rule.get("fixed_code") or feature_code or None
        return feature_code or None

    def suppressed_by_rule(self, channel: str, target: str) -> bool:
        """A project rule suppresses this message: skip sending and the messaging limits."""
        rule = self._match(channel, target)
        return bool(rule and rule.get("suppressed"))

    def suppressed_by_feature(self, channel: str) -> bool:
        """The plan suppresses every message of the channel, after the messaging limits."""
        return bool((self.features.get(channel) or {}).get("suppressed"))
