"""learning: re-teach cards (FSRS), predictions and re-checks, questions, sketches

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 07:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'topic_cards',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('topic_key', sa.String(length=120), nullable=False),
        sa.Column('topic', sa.String(length=120), nullable=False),
        sa.Column('state', sa.Integer(), nullable=False),
        sa.Column('step', sa.Integer(), nullable=True),
        sa.Column('stability', sa.Float(), nullable=True),
        sa.Column('difficulty', sa.Float(), nullable=True),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('last_review_at', sa.DateTime(), nullable=True),
        sa.Column('reviews', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_topic_cards_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_topic_cards')),
        sa.UniqueConstraint('user_id', 'topic_key', name=op.f('uq_topic_cards_user_id')),
    )
    with op.batch_alter_table('topic_cards', schema=None) as batch_op:
        batch_op.create_index('ix_topic_cards_user_due', ['user_id', 'due_at'], unique=False)

    op.create_table(
        'sketches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('turn_id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('strokes', sa.JSON(), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('clear', sa.Boolean(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['teach_sessions.id'], name=op.f('fk_sketches_session_id_teach_sessions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['turn_id'], ['turns.id'], name=op.f('fk_sketches_turn_id_turns'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sketches_user_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sketches')),
    )
    with op.batch_alter_table('sketches', schema=None) as batch_op:
        batch_op.create_index('ix_sketches_turn_id_id', ['turn_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sketches_session_id'), ['session_id'], unique=False)

    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('predicted_simplicity', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('predicted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('recheck_simplicity', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rechecked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('recheck_invited_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('sketch_points', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('signals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('question', sa.String(length=200), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reteach_reminders', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('reteach_reminders')

    with op.batch_alter_table('signals', schema=None) as batch_op:
        batch_op.drop_column('question')

    with op.batch_alter_table('turns', schema=None) as batch_op:
        for column in ('sketch_points', 'recheck_invited_at', 'rechecked_at',
                       'recheck_simplicity', 'predicted_at', 'predicted_simplicity'):
            batch_op.drop_column(column)

    with op.batch_alter_table('sketches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sketches_session_id'))
        batch_op.drop_index('ix_sketches_turn_id_id')
    op.drop_table('sketches')

    with op.batch_alter_table('topic_cards', schema=None) as batch_op:
        batch_op.drop_index('ix_topic_cards_user_due')
    op.drop_table('topic_cards')
