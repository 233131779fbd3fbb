"""users: email_key, the lower-cased address that makes an account unique; the email keeps its case

Revision ID: e5b8a2c4f9d1
Revises: c0a1e5b7d2f4
Create Date: 2026-11-24 10:00:00.000000
"""

import unicodedata

from alembic import op
import sqlalchemy as sa


revision = 'e5b8a2c4f9d1'
down_revision = 'c0a1e5b7d2f4'
branch_labels = None
depends_on = None


def _key(email: str) -> str:
    # idp.models.users.email_key as of this revision, copied: a migration must not change with the code.
    address = unicodedata.normalize("NFC", email.strip())
    return unicodedata.normalize("NFC", address.lower())


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_key', sa.String(length=254), nullable=True))

    users = sa.table('users', sa.column('id', sa.Integer()), sa.column('email', sa.String()),
                     sa.column('email_key', sa.String()))
    connection = op.get_bind()
    # Addresses stored until now were case-folded, hence already unique once lower-cased.
    for row_id, email in connection.execute(sa.select(users.c.id, users.c.email)).all():
        connection.execute(users.update().where(users.c.id == row_id).values(email_key=_key(email)))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('email_key', existing_type=sa.String(length=254), nullable=False)
        batch_op.create_index(batch_op.f('ix_users_email_key'), ['email_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_email_key'))
        batch_op.drop_column('email_key')
