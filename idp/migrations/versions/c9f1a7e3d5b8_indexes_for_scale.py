"""Indexes for lists and searches at scale (issue 17): prefix and trigram searches, audit filters

Revision ID: c9f1a7e3d5b8
Revises: b8e3f0d5c2a1
Create Date: 2026-12-12 10:12:00.000000
"""

from alembic import op


revision = 'c9f1a7e3d5b8'
down_revision = 'b8e3f0d5c2a1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Trigram indexes serve ILIKE 'x%' in any case. pg_trgm is a trusted extension (PostgreSQL
        # 13 and later): the database's owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_email_key_prefix', ['email_key'], unique=False,
                              postgresql_ops={'email_key': 'text_pattern_ops'})
        batch_op.create_index('ix_users_username_prefix', ['username'], unique=False,
                              postgresql_ops={'username': 'text_pattern_ops'})
        batch_op.create_index('ix_users_family_name_trgm', ['family_name'], unique=False, postgresql_using='gin',
                              postgresql_ops={'family_name': 'gin_trgm_ops'})
        batch_op.create_index('ix_users_given_name_trgm', ['given_name'], unique=False, postgresql_using='gin',
                              postgresql_ops={'given_name': 'gin_trgm_ops'})
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.create_index('ix_companies_name_trgm', ['name'], unique=False, postgresql_using='gin',
                              postgresql_ops={'name': 'gin_trgm_ops'})
        batch_op.create_index('ix_companies_external_id_trgm', ['external_id'], unique=False,
                              postgresql_using='gin', postgresql_ops={'external_id': 'gin_trgm_ops'})
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_event')
        batch_op.drop_index('ix_audit_events_user_id')
        batch_op.create_index('ix_audit_events_event_id', ['event', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_user_id_id', ['user_id', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_actor_id_id', ['actor_id', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_company_id_id', ['company_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_company_id_id')
        batch_op.drop_index('ix_audit_events_actor_id_id')
        batch_op.drop_index('ix_audit_events_user_id_id')
        batch_op.drop_index('ix_audit_events_event_id')
        batch_op.create_index('ix_audit_events_user_id', ['user_id'], unique=False)
        batch_op.create_index('ix_audit_events_event', ['event'], unique=False)
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index('ix_companies_external_id_trgm')
        batch_op.drop_index('ix_companies_name_trgm')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_given_name_trgm')
        batch_op.drop_index('ix_users_family_name_trgm')
        batch_op.drop_index('ix_users_username_prefix')
        batch_op.drop_index('ix_users_email_key_prefix')
