"""add the nullable column items.description (expand: code of 0001 keeps working)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: a catalogue-only change on PostgreSQL (no table rewrite); the
    # brief ACCESS EXCLUSIVE lock is bounded by lock_timeout (alembic/env.py).
    op.add_column("items", sa.Column("description", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:  # SQLite: copy-and-move
        batch.drop_column("description")
