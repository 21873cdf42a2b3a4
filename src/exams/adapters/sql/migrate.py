"""Alembic, driven from the service's settings rather than a separate alembic.ini."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = "exams.adapters.sql:migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the tables differ from the migrations (alembic's autogenerate comparison)."""
    command.check(alembic_config(url))
