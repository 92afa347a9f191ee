"""room: the teacher's ready mark; server heartbeats

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 04:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('teacher_ready_at', sa.DateTime(), nullable=True))

    op.create_table(
        'server_instances',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('beat_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_server_instances')),
    )
    with op.batch_alter_table('server_instances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_server_instances_beat_at'), ['beat_at'], unique=False)


def downgrade():
    with op.batch_alter_table('server_instances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_server_instances_beat_at'))
    op.drop_table('server_instances')

    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_column('teacher_ready_at')
