"""the shop's logo (core_tenant.logo_key)

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-12-05 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'core_0002'
down_revision = 'core_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('core_tenant') as batch_op:
        batch_op.add_column(sa.Column('logo_key', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('core_tenant') as batch_op:
        batch_op.drop_column('logo_key')
