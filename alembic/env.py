"""Alembic environment. LoRAIro runs migrations programmatically with a live connection
(`config.attributes["connection"]`); `alembic -x db=PATH upgrade head` also works for developers."""

from __future__ import annotations

from sqlalchemy import create_engine

from alembic import context
from lorairo.database.schema import Base

target_metadata = Base.metadata
config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    db_path = context.get_x_argument(as_dictionary=True).get("db")
    if not db_path:
        raise SystemExit("usage: alembic -x db=PATH/TO/database.db upgrade head")
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
