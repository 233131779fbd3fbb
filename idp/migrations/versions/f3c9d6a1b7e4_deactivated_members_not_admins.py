"""memberships: a deactivated membership holds no admin flag (deactivation now clears it)

Revision ID: f3c9d6a1b7e4
Revises: e5b8a2c4f9d1
Create Date: 2026-11-24 12:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = 'f3c9d6a1b7e4'
down_revision = 'e5b8a2c4f9d1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows deactivated before idp.companies.deactivate cleared the flag: made consistent, so that
    # no page shows a deactivated member as an administrator.
    memberships = sa.table('memberships', sa.column('is_admin', sa.Boolean()), sa.column('status', sa.String()))
    op.execute(memberships.update().where(memberships.c.status == 'disabled').values(is_admin=False))


def downgrade() -> None:
    # Which deactivated members were admins is not kept: nothing to put back.
    pass
