"""index items.name, built CONCURRENTLY on PostgreSQL (no write lock on the table)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_items_name"


def upgrade() -> None:
    context = op.get_context()
    if context.dialect.name != "postgresql":
        op.create_index(INDEX, "items", ["name"])
        return
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    with context.autocommit_block():
        if not context.as_sql and _invalid_index_left_over():
            # A failed earlier attempt (e.g. lock_timeout) leaves an INVALID index behind.
            op.drop_index(INDEX, table_name="items", postgresql_concurrently=True)
        op.create_index(INDEX, "items", ["name"], postgresql_concurrently=True, if_not_exists=True)


def downgrade() -> None:
    context = op.get_context()
    if context.dialect.name != "postgresql":
        op.drop_index(INDEX, table_name="items")
        return
    with context.autocommit_block():
        op.drop_index(INDEX, table_name="items", postgresql_concurrently=True, if_exists=True)


def _invalid_index_left_over() -> bool:
    row = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname = :name AND NOT i.indisvalid"
            ),
            {"name": INDEX},
        )
        .first()
    )
    return row is not None
