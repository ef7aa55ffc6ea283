"""conversations: each message's reference and what it follows, its digest; warnings on requests; replies by Message-ID

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('conversation', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('follows', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
        batch.create_index('ix_messages_conversation', ['conversation'])
    with op.batch_alter_table('requests') as batch:
        batch.add_column(sa.Column('warnings', sa.JSON(), nullable=True))
    op.create_index('ix_replies_rfc_message_id', 'replies', ['rfc_message_id'])


def downgrade() -> None:
    op.drop_index('ix_replies_rfc_message_id', table_name='replies')
    with op.batch_alter_table('requests') as batch:
        batch.drop_column('warnings')
    with op.batch_alter_table('messages') as batch:
        batch.drop_index('ix_messages_conversation')
        batch.drop_column('digest')
        batch.drop_column('follows')
        batch.drop_column('conversation')
