"""A plugin's channel (through ``crm_message_channels``) replaces the CRM's built-in one of its kind for
the tenants that have that plugin; a permanent refusal fails the message at once."""
import pytest

from tests.plugins.crm import crm_channel_plugin


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_channel_test": "tests.plugins.crm.crm_channel_plugin"}}


def test_plugin_channel_replaces_the_builtin_sms(app, tenant):
    from core import events
    from core.db import db
    from core.features import tenant_info
    from core.jobs import enqueue
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import get_tenant, set_feature
    from plugins.crm.messages import Message
    from plugins.crm.models import Client

    crm_channel_plugin.SENT.clear()
    t = tenant(tier="master")
    with app.app_context():
        row = get_tenant(t.slug)
        set_feature(row, "crm_channel_test.use", True)
        row.plugin_settings = {"crm": {"quiet_from": "00:00", "quiet_to": "00:00"}}  # SMS.ru is not set up
        db.session.commit()
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            ok = Client(name="Ivan", consent_sms=True, phones=["+7 925 111-22-33"])
            blocked = Client(name="Olga", consent_sms=True, phones=["+7 925 111-22-30"])
            db.session.add_all([ok, blocked])
            db.session.flush()
            for n, c in enumerate((ok, blocked)):
                events.emit("planner.booking.confirmed", booking_id=n + 1, client_id=c.id, start_at="tomorrow")
            events.commit()
        summary = enqueue("crm.send_messages", tenant_id=t.id).get()
        assert [r["status"] for r in summary["runs"]] == ["ok"]
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            rows = {m.recipient: (m.status, m.attempts, m.provider_id, m.last_error)
                    for m in db.session.scalars(db.select(Message))}
    assert [to for to, _body in crm_channel_plugin.SENT] == ["+79251112233"]
    assert rows == {"+79251112233": ("sent", 1, "other-1", None), "+79251112230": ("failed", 1, None, "number blocked")}
