"""`authenticate` (login, reauth): password, OOB OTP, TOTP, recovery code, remembered device (contract 6.5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.authenticators.otp import mask
from app.botprotection import flow as bot_protection
from app.errors import Forbidden, InvariantViolated, Unauthorized, ValidationFailed
from app.flows.errors import AuthenticationFlowInvalidTargetStep
from app.flows.inputs import CODE, INDEX, PASSWORD, STRING, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.flows.steps import passkey
from app.flows.steps.common import (
    authentication_rate_limits,
    branches,
    channel_of_input,
    channel_select_data,
    channel_select_input,
    channel_select_start,
    choose,
    failed_attempt,
    oob_channels,
    otp_data,
    otp_form,
    otp_input,
    otp_start_on,
)
from app.flows.steps.create_authenticator import CreateAuthenticator
from app.ratelimit import PASSWORD_LIMIT, RECOVERY_CODE_LIMIT, TOTP_LIMIT, oob_otp_limit

OOB_CHANNEL = {
    "primary_oob_otp_email": "email",
    "primary_oob_otp_sms": "sms",
    "secondary_oob_otp_email": "email",
    "secondary_oob_otp_sms": "sms",
}
# A primary OOB OTP comes from a login ID of this type (Authgear derives the option from the identity).
PRIMARY_OOB_LOGIN_ID = {"primary_oob_otp_email": "email", "primary_oob_otp_sms": "phone"}
CLAIM_OF_LOGIN_ID = {"email": "email", "phone": "phone_number"}
# By the authenticator, as Authgear: a phone number's code is `sms` whichever channel carried it.
AMR = {"email": ["otp"], "sms": ["otp", "sms"], "whatsapp": ["otp", "sms"]}
ENROL = CreateAuthenticator()
DEVICE = {"request_device_token": {"type": "boolean"}}


def invalid_credentials() -> Unauthorized:
    return Unauthorized("InvalidCredentials", "invalid credentials")


def _kind(authentication: str) -> str:
    return "primary" if authentication.startswith("primary_") else "secondary"


def _loaded_key(authentication: str) -> str:
    return f"authenticate:{authentication}"


def no_authenticator() -> InvariantViolated:
    return InvariantViolated("NoAuthenticator", "no authenticator")


def _parse_time(value: Any) -> datetime | None:
    """An RFC 3339 `end_at` (a time without a zone is UTC); None when it is not one."""
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def in_mfa_grace_period(run: FlowRun) -> bool:
    """Authgear's canCreateAuthenticator: the project's `secondary_authentication_grace_period`
    (enabled, and `end_at` absent or still ahead), or the user's own grace period set by the Admin
    API (`setMFAGracePeriod`) not yet over."""
    now = run.svc.clock()
    grace = run.project["authentication"].get("secondary_authentication_grace_period") or {}
    if grace.get("enabled"):
        if not grace.get("end_at"):
            return True
        end_at = _parse_time(grace["end_at"])
        if end_at is not None and end_at > now:
            return True
    end = run.user().mfa_grace_period_end_at
    return end is not None and now < end


@register("authenticate")
class Authenticate:
    def enter(self, run: FlowRun) -> Outcome:
        declared = [b["authentication"] for b in branches(run)]
        options = self._options(run)
        run.local["options"] = options
        # A remembered device stands in for a second factor the user has (Authgear offers the device
        # token only then): one whose factors are gone is asked as if the device were unknown.
        if "device_token" in declared and options and self._device_remembered(run):
            run.data.setdefault("factors", []).append("device_token")
            return Done()
        if options:
            return WAIT
        if run.step.get("optional"):
            return Done()
        if run.flow_type == "login" and run.data.get("factors") and in_mfa_grace_period(run):
            # Inside an MFA grace period a user who signed in with a first factor and has none of
            # this step's sets one up here (Authgear's IntentLoginFlowStepCreateAuthenticator: the
            # action stays `authenticate`, its data `create_authenticator_data`). Only secondary
            # authenticators can be created during a login; a step offering nothing else has nothing.
            create = [b for b in branches(run) if b["authentication"].startswith("secondary_")]
            run.local["enrol"] = True
            run.local["options"] = ENROL.options_for(run, create)
            if run.local["options"]:
                return WAIT
        # Outside a grace period, Authgear refuses the login rather than letting it skip the factor.
        raise no_authenticator()

    def _device_remembered(self, run: FlowRun) -> bool:
        from app.flows.engine import device_token_user

        return bool(run.user_id) and device_token_user(run.svc, run.ctx.device_token) == run.user_id

    def _options(self, run: FlowRun) -> list[dict[str, Any]]:
        user_id = run.user_id
        if not user_id:
            return []
        svc = run.svc
        out: list[dict[str, Any]] = []
        for b in branches(run):
            a = b["authentication"]
            if a in ("primary_password", "secondary_password"):
                password = svc.passwords.get(user_id, _kind(a))
                if password is not None:
                    run.memo[_loaded_key(a)] = password  # the input of the same request verifies it
                    out.append({"authentication": a})
            elif a in PRIMARY_OOB_LOGIN_ID:
                out += [self._oob_option(run, a, t) for t in self._login_id_targets(run, b, PRIMARY_OOB_LOGIN_ID[a])]
            elif a in OOB_CHANNEL:
                base = OOB_CHANNEL[a]
                for auth in svc.oob.list_for_user(user_id, "secondary"):
                    if auth.type == f"oob_otp_{base}":
                        out.append(self._oob_option(run, a, auth.oob_target or ""))
            elif a == "secondary_totp":
                if svc.totp.list_for_user(user_id):
                    out.append({"authentication": a})
            elif a == "primary_passkey":
                option = passkey.authenticate_option(run, user_id)
                if option is not None:
                    out.append(option)
            elif a == "recovery_code":
                if svc.recovery_codes.remaining(user_id) > 0 and any(
                    o["authentication"].startswith("secondary_") for o in out
                ):
                    out.append({"authentication": a})
        return out

    def _login_id_targets(self, run: FlowRun, branch: dict[str, Any], login_id_type: str) -> list[str]:
        """The user's login IDs of `login_id_type` a primary OOB OTP may go to: the one the
        `target_step` identified, or all of them. The authenticator is created when first used."""
        claim = CLAIM_OF_LOGIN_ID[login_id_type]
        if branch.get("target_step"):
            name = branch["target_step"]
            identified = run.target(name, ("identify",))
            if not identified.get("value"):
                raise AuthenticationFlowInvalidTargetStep(
                    name,
                    "the referenced target_step does not associate with an identity, "
                    "perhaps the taken branch is an ID token.",
                )
            return [identified["value"]] if identified.get("claim") == claim else []
        return [
            i.login_id
            for i in run.svc.users.identities_of(run.user_id or "", "login_id")
            if i.login_id_type == login_id_type and i.login_id
        ]

    def _oob_option(self, run: FlowRun, authentication: str, target: str) -> dict[str, Any]:
        return {
            "authentication": authentication,
            "otp_form": otp_form(run, "login", OOB_CHANNEL[authentication]),
            "masked_display_name": mask(target),
            "channels": oob_channels(run, OOB_CHANNEL[authentication]),
            "_target": target,
        }

    def action(self, run: FlowRun) -> dict[str, Any]:
        if run.local.get("enrol"):
            return ENROL.action(run)
        if "select_channel" in run.local:
            return {"authentication": run.local["chosen"], "data": channel_select_data(run)}
        if "otp" in run.local:
            return {"authentication": run.local["chosen"], "data": otp_data(run)}
        options = [{k: v for k, v in o.items() if not k.startswith("_")} for o in run.local["options"]]
        options = bot_protection.decorate(run, options, branches(run), "authentication")
        device = "device_token" in [b["authentication"] for b in branches(run)]
        return {"data": {"type": "authentication_data", "options": options, "device_token_enabled": device}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        if run.local.get("enrol"):
            return ENROL.input(run, inp)
        if "select_channel" in run.local:
            channel = channel_select_input(run, inp)
            otp_start_on(run, "login", channel, run.local["select_channel"]["target"])
            return WAIT
        if "otp" in run.local:
            authentication = run.local["chosen"]
            authentication_rate_limits(run, oob_otp_limit(run.local["otp"]["channel"]), run.user_id)
            try:
                otp_input_done = otp_input(run, inp)
            except Forbidden:
                failed_attempt(run, run.user_id, authentication)
                raise
            if not otp_input_done:
                return WAIT
            if authentication in PRIMARY_OOB_LOGIN_ID:
                self._use_login_id(run, authentication, run.local["otp"]["target"])
            return self._succeeded(run, authentication, AMR[run.local["otp"]["channel"]], run.local.get("device"))
        options = run.local["options"]
        validate(inp, {"type": "object", "required": ["authentication"]})
        index = choose(options, "authentication", inp["authentication"])
        authentication = options[index]["authentication"]
        branch = next((b for b in branches(run) if b.get("authentication") == authentication), None)
        run.local["branch_steps"] = list((branch or {}).get("steps") or [])  # run once it succeeds
        inp = bot_protection.take(run, branch, inp)  # before the password is checked or a code sent
        user_id = run.user_id
        if authentication == "primary_passkey":
            passkey.authenticate(run, inp)
            return self._succeeded(run, authentication, passkey.AMR, None)
        if authentication in ("primary_password", "secondary_password"):
            validate(inp, obj({"authentication": STRING, "password": PASSWORD, **DEVICE}, ["password"]))
            authentication_rate_limits(run, PASSWORD_LIMIT, user_id)
            loaded = run.memo.get(_loaded_key(authentication))
            auth = run.svc.passwords.verify(user_id, inp["password"], _kind(authentication), loaded)
            if auth is None:
                failed_attempt(run, user_id, authentication)
                raise invalid_credentials()
            run.record(
                {"authenticator_id": auth.id, "must_change": run.svc.passwords.must_change(auth, inp["password"])}
            )
            return self._succeeded(run, authentication, ["pwd"], inp.get("request_device_token"))
        if authentication in OOB_CHANNEL:
            schema = obj(
                {"authentication": STRING, "index": INDEX, "channel": {"enum": ["email", "sms", "whatsapp"]}, **DEVICE}
            )
            validate(inp, {**schema, "required": ["index"]})
            chosen = options[inp["index"]] if inp["index"] < len(options) else None
            if chosen is None or chosen["authentication"] != authentication:
                raise _bad_index()
            extra = {"chosen": authentication, "device": inp.get("request_device_token")}
            channel = channel_of_input(inp, chosen["channels"])
            if channel is None:
                # Several channels (phone_otp_mode whatsapp_sms): nothing is sent before one is chosen.
                channel_select_start(run, chosen["channels"], chosen["_target"], **extra)
                return WAIT
            otp_start_on(run, "login", channel, chosen["_target"], **extra)
            return WAIT
        if authentication == "secondary_totp":
            validate(inp, obj({"authentication": STRING, "code": CODE, **DEVICE}, ["code"]))
            authentication_rate_limits(run, TOTP_LIMIT, user_id)
            if run.svc.totp.verify_user(user_id, inp["code"]) is None:
                failed_attempt(run, user_id, authentication)
                raise invalid_credentials()
            return self._succeeded(run, authentication, ["otp"], inp.get("request_device_token"))
        validate(inp, obj({"authentication": STRING, "recovery_code": CODE}, ["recovery_code"]))
        authentication_rate_limits(run, RECOVERY_CODE_LIMIT, user_id)
        if not run.svc.recovery_codes.consume(user_id, inp["recovery_code"]):
            failed_attempt(run, user_id, authentication)
            raise invalid_credentials()
        return self._succeeded(run, authentication, [], False)

    def _use_login_id(self, run: FlowRun, authentication: str, target: str) -> None:
        """A code sent to a login ID was entered: the address is verified and, the first time, the
        primary OOB OTP authenticator for it is created (Authgear's just-in-time creation)."""
        user_id, svc, base = run.user_id or "", run.svc, OOB_CHANNEL[authentication]
        claim = "email" if base == "email" else "phone_number"
        if not svc.users.is_verified(user_id, claim, target):
            svc.users.mark_verified(user_id, claim, target)
        existing = svc.oob.list_for_user(user_id, "primary")
        if not any(a.type == f"oob_otp_{base}" and (a.oob_target or "").lower() == target.lower() for a in existing):
            svc.oob.create(user_id, base, target, "primary", run.ctx.request)

    def _succeeded(self, run: FlowRun, authentication: str, amr: list[str], device: Any) -> Outcome:
        if run.user_id:
            run.svc.lockout.reset(run.user_id, ip=run.ip)
        run.add_amr(*amr)
        run.data.setdefault("factors", []).append(_kind(authentication))
        run.data.setdefault("authentications", []).append(authentication)  # the AMR hooks constrain
        if device and _kind(authentication) == "secondary":
            run.data["device_token_requested"] = True
        return Done(list(run.local.get("branch_steps") or []))  # the chosen branch's nested steps


def _bad_index() -> ValidationFailed:
    return ValidationFailed([{"location": "/index", "kind": "enum", "details": {}}], "index must match the option")
