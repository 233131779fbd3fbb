"""Alembic environment: runs on the connection handed over by idp.models.migrate."""

from alembic import context

import idp.models  # noqa: F401 - registers every table on the metadata
from idp.extensions import db

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=db.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
