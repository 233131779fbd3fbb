"""companies: access requests, account requests, company lock_version

Revision ID: c0a1e5b7d2f4
Revises: c41d7e2a9b10
Create Date: 2026-11-23 13:15:00.000000
"""

from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'c0a1e5b7d2f4'
down_revision = 'c41d7e2a9b10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lock_version', sa.Integer(), server_default='0', nullable=False))

    op.create_table('access_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reminded_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=64), nullable=True),
    sa.Column('branch', sa.String(length=100), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('public_id')
    )
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_requests_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_requests_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_access_requests_pending', ['user_id', 'company_id'], unique=True,
                              sqlite_where=sa.text("status = 'pending'"),
                              postgresql_where=sa.text("status = 'pending'"))

    op.create_table('account_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('customer_number', sa.String(length=64), nullable=False),
    sa.Column('company_name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('contact_given_name', sa.String(length=100), nullable=False),
    sa.Column('contact_family_name', sa.String(length=100), nullable=False),
    sa.Column('contact_email', sa.String(length=254), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=True),
    sa.Column('people', sa.JSON(), nullable=False),
    sa.Column('terms_accepted_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('public_id')
    )
    with op.batch_alter_table('account_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_requests_customer_number'), ['customer_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_requests_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('account_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_requests_status'))
        batch_op.drop_index(batch_op.f('ix_account_requests_customer_number'))

    op.drop_table('account_requests')
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_access_requests_pending')
        batch_op.drop_index(batch_op.f('ix_access_requests_user_id'))
        batch_op.drop_index(batch_op.f('ix_access_requests_company_id'))

    op.drop_table('access_requests')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_column('lock_version')
