"""accounts: logins that end, password-reset tokens, counted auth attempts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'logins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_logins_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_logins')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_logins_key_hash')),
    )
    with op.batch_alter_table('logins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_logins_user_id'), ['user_id'], unique=False)

    op.create_table(
        'password_resets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_resets_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_password_resets')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_password_resets_token_hash')),
    )
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_resets_user_id'), ['user_id'], unique=False)

    op.create_table(
        'auth_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_attempts')),
    )
    with op.batch_alter_table('auth_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_auth_attempts_key_kind_at', ['key', 'kind', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_attempts_at'), ['at'], unique=False)

    with op.batch_alter_table('live_sockets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('api_token_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_live_sockets_login_id'), ['login_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_sockets_api_token_id'), ['api_token_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_live_sockets_login_id_logins'), 'logins', ['login_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_live_sockets_api_token_id_api_tokens'), 'api_tokens', ['api_token_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('live_sockets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_live_sockets_api_token_id_api_tokens'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_live_sockets_login_id_logins'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_live_sockets_api_token_id'))
        batch_op.drop_index(batch_op.f('ix_live_sockets_login_id'))
        batch_op.drop_column('api_token_id')
        batch_op.drop_column('login_id')
    op.drop_table('auth_attempts')
    op.drop_table('password_resets')
    op.drop_table('logins')
