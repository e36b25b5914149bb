"""reminder forecasts (crm_reminder_forecast: the due-soon list as an indexed query)

Revision ID: crm_0002
Revises: crm_0001
Create Date: 2026-12-05 22:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'crm_0002'
down_revision = 'crm_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('crm_reminder_forecast',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('interval_id', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('due_km', sa.Integer(), nullable=True),
    sa.Column('due_by', sa.String(length=4), nullable=True),
    sa.Column('due_key', sa.String(length=40), nullable=False),
    sa.Column('last_done_on', sa.Date(), nullable=True),
    sa.Column('last_done_km', sa.Integer(), nullable=True),
    sa.Column('last_done_source', sa.String(length=20), nullable=False),
    sa.Column('last_km', sa.Integer(), nullable=True),
    sa.Column('last_read_on', sa.Date(), nullable=True),
    sa.Column('daily_m', sa.Integer(), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['interval_id'], ['crm_service_interval.id'], name=op.f('fk_crm_reminder_forecast_interval_id_crm_service_interval'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['core_tenant.id'], name=op.f('fk_crm_reminder_forecast_tenant_id_core_tenant'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vehicle_id'], ['crm_vehicle.id'], name=op.f('fk_crm_reminder_forecast_vehicle_id_crm_vehicle'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_reminder_forecast'))
    )
    with op.batch_alter_table('crm_reminder_forecast', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_reminder_forecast_tenant_id_crm_reminder_forecast_due_on_crm_reminder_forecast_vehicle_id_crm_reminder_forecast_code'), ['tenant_id', 'due_on', 'vehicle_id', 'code'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_reminder_forecast_tenant_id_crm_reminder_forecast_vehicle_id_crm_reminder_forecast_code'), ['tenant_id', 'vehicle_id', 'code'], unique=True)
    # Existing cars get their forecasts from `garage crm refresh-forecasts` (also run nightly).


def downgrade():
    with op.batch_alter_table('crm_reminder_forecast', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_reminder_forecast_tenant_id_crm_reminder_forecast_vehicle_id_crm_reminder_forecast_code'))
        batch_op.drop_index(batch_op.f('ix_crm_reminder_forecast_tenant_id_crm_reminder_forecast_due_on_crm_reminder_forecast_vehicle_id_crm_reminder_forecast_code'))

    op.drop_table('crm_reminder_forecast')
