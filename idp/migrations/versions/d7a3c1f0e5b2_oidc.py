"""oidc: signing keys, refresh tokens, consents, back-channel logout deliveries

Revision ID: d7a3c1f0e5b2
Revises: 96f9585eb268
Create Date: 2026-11-23 13:20:00
"""

from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'd7a3c1f0e5b2'
down_revision = '96f9585eb268'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('alg', sa.String(length=16), nullable=False),
    sa.Column('private_jwk', sa.Text(), nullable=False),
    sa.Column('created_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kid')
    )
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_keys_alg'), ['alg'], unique=False)

    op.create_table('refresh_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('context', sa.Text(), nullable=False),
    sa.Column('access_jti', sa.String(length=64), nullable=True),
    sa.Column('created_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_tokens_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('created_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'client_id', name='uq_consents_user_client')
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_user_id'), ['user_id'], unique=False)

    op.create_table('backchannel_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('uri', sa.Text(), nullable=False),
    sa.Column('logout_token', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', idp.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_at', idp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('backchannel_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backchannel_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backchannel_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backchannel_deliveries_next_attempt_at'))
    op.drop_table('backchannel_deliveries')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_user_id'))
    op.drop_table('consents')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_user_id'))
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_family_id'))
    op.drop_table('refresh_tokens')
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signing_keys_alg'))
    op.drop_table('signing_keys')
