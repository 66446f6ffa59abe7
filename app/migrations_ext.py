"""Flask-Migrate, loaded when a migration runs rather than in every web worker.

Flask-Migrate imports Alembic (about 11 MB of a worker's memory) only to register `flask db` and
answer `app.extensions["migrate"]`. `init_migrations` puts a stand-in there that knows the
migrations' directory and builds Flask-Migrate's own configuration on first use (by `gatehouse init`,
`flask db ...`, or `flask_migrate.upgrade` in the tests), and a `db` command group that loads
Flask-Migrate's commands when the command line asks for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask

from app.extensions import db

DIRECTORY = str(Path(__file__).parent / "migrations")


class LazyMigrateConfig:
    """`app.extensions["migrate"]` until Flask-Migrate is needed: `directory` at once, anything else
    from Flask-Migrate's configuration, which it then replaces."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.directory = DIRECTORY
        self._real: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._real is None:
            from flask_migrate import Migrate

            Migrate(self.app, db, directory=DIRECTORY, render_as_batch=True, compare_type=True)
            self._real = self.app.extensions["migrate"]
        return getattr(self._real, name)


class LazyDbCommands(click.Group):
    """`flask db ...`: Flask-Migrate's command group, loaded when the command line reaches it."""

    @staticmethod
    def _commands() -> click.Group:
        from flask_migrate.cli import db as db_commands

        return db_commands

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        return self._commands().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self._commands().invoke(ctx)


def init_migrations(app: Flask) -> None:
    app.extensions["migrate"] = LazyMigrateConfig(app)
    app.cli.add_command(LazyDbCommands("db", help="Perform database migrations (Flask-Migrate)."))
