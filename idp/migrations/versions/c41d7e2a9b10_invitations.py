"""invitations

Revision ID: c41d7e2a9b10
Revises: d7a3c1f0e5b2
Create Date: 2026-11-23 13:10:00.000000
"""

from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'c41d7e2a9b10'
down_revision = 'd7a3c1f0e5b2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('branch', sa.String(length=100), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=True),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitations_email'), ['email'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_email'))
        batch_op.drop_index(batch_op.f('ix_invitations_company_id'))

    op.drop_table('invitations')
