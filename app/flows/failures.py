"""The audit row a refused flow input leaves (see app/authenticators/failures.py for the events).

A step whose check fails notes what it checked with `note_mismatch` just before it raises; the
engine, after rolling the input back, calls `record_refused_input`, which maps the error (and the
note) to its row and commits that row alone. The note lives in the step's local state, which a
refused input never saves.
"""

from __future__ import annotations

from app.authenticators.failures import AuditEvent, refusal_event, write_alone
from app.flows.run import FlowRun

_NOTE = "refused_check"


def note_mismatch(run: FlowRun, event: AuditEvent) -> None:
    run.local[_NOTE] = {"activity_type": event.activity_type, "user_id": event.user_id, "data": event.data}


def record_refused_input(run: FlowRun, exc: BaseException) -> None:
    noted = run.local.pop(_NOTE, None)
    mismatch = AuditEvent(**noted) if noted else None
    event = refusal_event(exc, run.user_id, mismatch)
    if event is not None:
        write_alone(run.svc.audit, run.ctx.request, event)
