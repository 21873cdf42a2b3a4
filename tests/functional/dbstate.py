"""What the database holds, for asserting that a refused request wrote nothing."""

from __future__ import annotations

from sqlalchemy import select

from exams.adapters.sql import tables


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    with engine.connect() as conn:
        return {table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
                for table in tables.metadata.sorted_tables}


def rows(engine, table) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)))
