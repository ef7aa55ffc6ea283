"""an index on messages.refile_to: the idle poll asks whether any reviewed message waits to be moved

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 18:00:00
"""

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_messages_refile_to', 'messages', ['refile_to'])


def downgrade() -> None:
    op.drop_index('ix_messages_refile_to', table_name='messages')
