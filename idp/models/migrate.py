"""Alembic, driven from the application: the schema follows idp/migrations/versions/."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from idp.extensions import db

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(revision: str = "heads") -> None:
    """Apply migrations on the application's database (call inside an app context)."""
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(message: str) -> None:
    """Autogenerate a migration from the models (for developers)."""
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
