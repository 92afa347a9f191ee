"""review: explanations and ratings paged newest first by index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 13:25:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # The composite indexes start with the column each single one covered.
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.create_index('ix_turns_teacher_started', ['teacher_id', 'started_at'], unique=False)
        batch_op.drop_index('ix_turns_teacher_id')

    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index('ix_ratings_teacher_created', ['teacher_id', 'created_at'], unique=False)
        batch_op.create_index('ix_ratings_rater_created', ['rater_id', 'created_at'], unique=False)
        batch_op.drop_index('ix_ratings_teacher_id')
        batch_op.drop_index('ix_ratings_rater_id')


def downgrade():
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index('ix_ratings_rater_id', ['rater_id'], unique=False)
        batch_op.create_index('ix_ratings_teacher_id', ['teacher_id'], unique=False)
        batch_op.drop_index('ix_ratings_rater_created')
        batch_op.drop_index('ix_ratings_teacher_created')

    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.create_index('ix_turns_teacher_id', ['teacher_id'], unique=False)
        batch_op.drop_index('ix_turns_teacher_started')
