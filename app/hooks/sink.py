"""The hook sink: blocking events delivered at once, non-blocking events queued on commit.

Blocking events (`blocking`) run inside the caller's transaction, handler after handler in
config order as Authgear's Sink does: each sees the payload as the previous one mutated it; a
refusal is `HookDisallowed`, a failure one of the HookDelivery*/HookInvalidResponse errors, and
either propagates so that the transaction rolls back and nothing changes.

Non-blocking events (`emit`) are only noted on the database session. Just before it commits
(`before_commit`, Authgear's WillCommitTx) their payloads are read as the transaction leaves the
data and each event becomes a delivery task row in the same transaction: a rolled-back change has
no event, a committed one always has its task. After the commit the tasks are handed to the job
runner (app/hooks/delivery.py), which delivers and retries them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from app.context import RequestContext
from app.db import Clock, utcnow
from app.hooks import events, payloads, webhook
from app.hooks.deno import DenoRunner, is_deno_url
from app.hooks.errors import DenoCheckError, HookDeliveryTimeout, HookDisallowed
from app.hooks.response import HookResponse, parse

if TYPE_CHECKING:
    from app.config import AppConfig

log = logging.getLogger(__name__)

EXTENSION_KEY = "gatehouse.hooks"
_PENDING = "gatehouse.hooks.pending"
_QUEUED = "gatehouse.hooks.queued"


@dataclass
class PendingEvent:
    """A non-blocking event of the current transaction, resolved just before commit. `payload`
    holds what is already known (or must be read before it is gone: a deleted user); `refs` what
    is read at commit (`identity_id`, `old_identity`, `session_id`)."""

    type: str
    ctx: RequestContext | None
    user_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)


@dataclass
class BlockingResult:
    """What the handlers of one blocking event decided: the payload after their mutations, and
    the constraints, rate limits and bot protection the last handler that gave them asked for."""

    payload: dict[str, Any]
    mutated: bool = False
    constraints: dict[str, Any] | None = None
    rate_limits: dict[str, Any] | None = None
    bot_protection: dict[str, Any] | None = None


class HookSink:
    def __init__(self, config: AppConfig, clock: Clock = utcnow) -> None:
        from app.config import ConfigError  # app.config's schema imports app.hooks.events

        hook = config.project["hook"]
        self.project = config.project
        self.app_id = config.project["id"]
        self.clock = clock
        # Authgear's SetDefaults: 0 is unset.
        self.timeout = float(hook.get("sync_hook_timeout_seconds") or 5)
        self.total_timeout = float(hook.get("sync_hook_total_timeout_seconds") or 10)
        self.blocking_handlers: list[dict[str, str]] = list(hook["blocking_handlers"])
        self.non_blocking_handlers: list[dict[str, Any]] = list(hook["non_blocking_handlers"])
        self._blocking_types = {h["event"] for h in self.blocking_handlers}
        self.key = webhook.webhook_key(config.secrets) or b""
        urls = [h["url"] for h in self.blocking_handlers + self.non_blocking_handlers]
        if urls and not self.key:
            # Authgear's secret validation: handlers need "web-hook signing key materials".
            raise ConfigError("authgear.secrets.yaml: the webhook secret (an octet JWK set) is required by /hook")
        self.deno: DenoRunner | None = None
        if any(is_deno_url(u) for u in urls):
            if config.config_dir is None:
                raise ConfigError("authgear.yaml /hook: Deno hooks need a project directory")
            self.deno = DenoRunner(config.config_dir)

    @classmethod
    def build(cls, config: AppConfig, clock: Clock = utcnow) -> HookSink:
        """The sink, its Deno scripts checked: a script that does not type-check stops the start."""
        from app.config import ConfigError

        sink = cls(config, clock)
        if sink.deno is not None:
            checked: set[str] = set()
            for h in sink.blocking_handlers + sink.non_blocking_handlers:
                if is_deno_url(h["url"]) and h["url"] not in checked:
                    checked.add(h["url"])
                    try:
                        sink.deno.check(h["url"])
                    except DenoCheckError as exc:
                        raise ConfigError(f"authgear.yaml /hook: Invalid/DenoCheckError: {exc.message}") from None
        return sink

    # -- which events go anywhere ------------------------------------------------------------
    def will_deliver_blocking(self, event_type: str) -> bool:
        return event_type in self._blocking_types

    def non_blocking_urls(self, event_type: str) -> list[str]:
        return [h["url"] for h in self.non_blocking_handlers if events.subscribed(h["events"], event_type)]

    # -- delivery ------------------------------------------------------------------------------
    def call(self, url: str, event: dict[str, Any], timeout: float) -> Any:
        """One delivery; the handler's answer (a blocking one is parsed by the caller)."""
        if is_deno_url(url):
            assert self.deno is not None
            return self.deno.run(url, event, timeout)
        return webhook.call_blocking(url, event, self.key, timeout)

    def deliver(self, url: str, event: dict[str, Any], timeout: float) -> None:
        """A non-blocking delivery: success or an error; the answer is ignored."""
        if is_deno_url(url):
            assert self.deno is not None
            self.deno.run(url, event, timeout)
        else:
            webhook.post(url, event, self.key, timeout)

    def blocking(
        self,
        event_type: str,
        payload: dict[str, Any],
        ctx: RequestContext | None,
        user_id: str | None,
        triggered_by: str | None = None,
    ) -> BlockingResult:
        result = BlockingResult(payload)
        if event_type not in self._blocking_types:
            return result
        event = events.envelope(
            event_type, payload, events.context(ctx, self.clock(), user_id, self.app_id, triggered_by)
        )
        started = time.monotonic()
        for handler in self.blocking_handlers:
            if handler["event"] != event_type:
                continue
            elapsed = time.monotonic() - started
            if elapsed > self.total_timeout:
                raise HookDeliveryTimeout(
                    "blocking hook delivery timeout", {"elapsed": elapsed, "limit": self.total_timeout}
                )
            answer = parse(event_type, self.call(handler["url"], event, self.timeout))
            if not answer.is_allowed:
                raise HookDisallowed(event_type, [{"title": answer.title, "reason": answer.reason}])
            _apply(event["payload"], answer, result)
        result.payload = event["payload"]
        return result

    # -- non-blocking: noted now, queued on commit ---------------------------------------------
    def note(self, pending: PendingEvent, session: Session) -> None:
        session.info.setdefault(_PENDING, []).append(pending)
        session.info[EXTENSION_KEY] = self

    def resolve(self, pending: PendingEvent, session: Session) -> dict[str, Any]:
        """The event's payload as the transaction leaves the data."""
        from app.identities.models import Identity, User
        from app.sessions.models import IdPSession

        out = dict(pending.payload)
        if "user" not in out and pending.user_id:
            row = session.get(User, pending.user_id)
            if row is not None:
                out["user"] = payloads.user(row, self.project)
        refs = pending.refs
        if refs.get("identities"):
            out["identities"] = payloads.identities(pending.user_id or "")
        if refs.get("anonymous_user") and "user" in out:
            out["anonymous_user"] = {**out["user"], "is_anonymous": True}
        if refs.get("identity_id"):
            identity = session.get(Identity, refs["identity_id"])
            if identity is not None:
                out["new_identity" if "old_identity" in out else "identity"] = payloads.identity(identity)
        if isinstance(out.get("continue_from_session"), dict):
            row = session.get(IdPSession, out["continue_from_session"]["id"])
            out["continue_from_session"] = payloads.session(row) if row is not None else None
        if "session_id" in refs:
            row = session.get(IdPSession, refs["session_id"]) if refs["session_id"] else None
            out["session"] = payloads.session(row) if row is not None else None
        return out

    def envelope(self, pending: PendingEvent, payload: dict[str, Any]) -> dict[str, Any]:
        event_context = events.context(pending.ctx, self.clock(), pending.user_id, self.app_id)
        return events.envelope(pending.type, payload, event_context)


def _apply(payload: dict[str, Any], answer: HookResponse, result: BlockingResult) -> None:
    """Authgear's ApplyHookResponse: user mutations replace the named parts of `payload.user`,
    token mutations replace the token's whole payload; constraints and limits are kept."""
    user_mutations = answer.mutations.get("user") or {}
    if user_mutations and isinstance(payload.get("user"), dict):
        for key in ("standard_attributes", "custom_attributes", "roles", "groups"):
            if key in user_mutations:
                payload["user"][key] = user_mutations[key]
                result.mutated = True
    for token in ("jwt", "id_token"):
        mutated = (answer.mutations.get(token) or {}).get("payload")
        if mutated is not None and token in payload:
            payload[token]["payload"] = mutated
            result.mutated = True
    if answer.constraints is not None:
        result.constraints = answer.constraints
    if answer.rate_limits is not None:
        result.rate_limits = answer.rate_limits
    if answer.bot_protection is not None:
        result.bot_protection = answer.bot_protection


# -- the session's commit points -----------------------------------------------------------------
@sa_event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the events wait for the transaction itself
    pending: list[PendingEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return
    from app.hooks import delivery

    sink: HookSink = session.info[EXTENSION_KEY]
    queued = session.info.setdefault(_QUEUED, [])
    # Resolving may flush, and a flush may note more events: resolve until none are left.
    while pending:
        for item in pending:
            urls = sink.non_blocking_urls(item.type)
            if urls:
                event = sink.envelope(item, sink.resolve(item, session))
                queued.append(delivery.stage(session, event, urls, sink.clock()))
        pending = session.info.pop(_PENDING, [])


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    queued: list[str] = session.info.pop(_QUEUED, [])
    if queued and has_app_context():
        from app.hooks import delivery

        delivery.enqueue_all(current_app._get_current_object(), queued)  # type: ignore[attr-defined]


@sa_event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: Any) -> None:
    """A rolled-back transaction's events go with it (after_commit has taken a committed one's)."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_QUEUED, None)


def pending_events(session: Session) -> list[PendingEvent]:
    """The non-blocking events noted in the session's transaction, staged when it commits."""
    return session.info.get(_PENDING, [])


def install(app: Flask) -> HookSink:
    sink = HookSink.build(app.extensions["gatehouse"].config, app.extensions["gatehouse"].clock)
    app.extensions[EXTENSION_KEY] = sink
    return sink


def current_sink() -> HookSink | None:
    if not has_app_context():
        return None
    return current_app.extensions.get(EXTENSION_KEY)
