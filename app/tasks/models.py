"""Background tasks (user import, user export) with status, progress and results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import utcnow
from app.extensions import db


class BackgroundTask(db.Model):
    __tablename__ = "background_tasks"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # userimport_... / userexport_...
    kind: Mapped[str] = mapped_column(String(32), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | completed | failed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    expire_at: Mapped[datetime | None] = mapped_column(index=True)
    input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[dict[str, Any] | None]
