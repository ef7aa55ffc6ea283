"""requests found by address whatever its case: an index on lower(email) (repeat checks ran a full scan per message)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 15:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_requests_email_lower', 'requests', [sa.text('lower(email)')])


def downgrade() -> None:
    op.drop_index('ix_requests_email_lower', table_name='requests')
