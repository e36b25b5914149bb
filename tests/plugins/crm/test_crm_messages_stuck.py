"""A message left in ``sending`` by a worker that died is reclaimed once its lease expires, without ever
being sent twice: never handed to the provider -> sent again; handed over -> failed with a note, not
resent. A stuck message can be cancelled."""
from datetime import timedelta

import pytest

from tests.plugins.crm import crm_channel_plugin as provider


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_channel_test": "tests.plugins.crm.crm_channel_plugin"}}


@pytest.fixture
def shop(app, tenant, user, api_client):
    from core.db import db
    from core.tenants import get_tenant, set_feature

    provider.SENT.clear()
    provider.CRASH = False
    t = tenant(tier="master")
    with app.app_context():
        row = get_tenant(t.slug)
        set_feature(row, "crm_channel_test.use", True)
        row.plugin_settings = {"crm": {"quiet_from": "00:00", "quiet_to": "00:00"}}
        db.session.commit()
    yield t, api_client(user(role="owner", tenant=t))
    provider.CRASH = False


def _ctx(app, t):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context

    return tenant_context(tenant_info(db.session.get(Tenant, t.id)))


def _queue(phone):
    from core.db import db
    from plugins.crm.messages import Message
    from plugins.crm.models import Client

    client = Client(name="Ivan", consent_sms=True, phones=[phone])
    db.session.add(client)
    db.session.flush()
    message = Message(client_id=client.id, event="car_ready", channel="sms", body="Ready", status="queued",
                      idempotency_key=f"k{phone}")
    db.session.add(message)
    db.session.commit()
    return message.id


def test_a_crash_before_the_provider_call_is_sent_once_after_the_lease(app, shop):
    from core.db import db
    from core.models import utcnow
    from plugins.crm import messages
    from plugins.crm.messages import SENDING_LEASE, Message

    t, _http = shop
    with app.app_context(), _ctx(app, t):
        mid = _queue("+7 925 111-22-33")
        t0 = utcnow()
        # The claim as the job writes it, then the worker dies before handing the message over.
        db.session.execute(db.update(Message).where(Message.id == mid).values(
            status="sending", attempts=1, next_attempt_at=t0 + SENDING_LEASE))
        db.session.commit()
        assert messages.send_due(now=t0 + timedelta(minutes=1))["sent"] == 0  # still within the lease
        assert provider.SENT == []
        counts = messages.send_due(now=t0 + SENDING_LEASE + timedelta(seconds=1))
        assert counts["reclaimed"] == 1 and counts["sent"] == 1
        m = db.session.get(Message, mid)
        assert (m.status, m.attempts) == ("sent", 2)
        assert messages.send_due(now=t0 + 2 * SENDING_LEASE)["sent"] == 0
    assert [to for to, _b in provider.SENT] == ["+79251112233"]


def test_a_crash_during_the_provider_call_is_never_sent_again(app, shop):
    from core.db import db
    from core.models import utcnow
    from plugins.crm import messages
    from plugins.crm.messages import SENDING_LEASE, Message

    t, http = shop
    with app.app_context(), _ctx(app, t):
        mid = _queue("+7 925 111-22-39")
        t0 = utcnow()
        provider.CRASH = True
        with pytest.raises(provider.WorkerDied):
            messages.send_due(now=t0)
        db.session.rollback()
        provider.CRASH = False
        assert db.session.get(Message, mid).status == "sending"
        counts = messages.send_due(now=t0 + SENDING_LEASE + timedelta(seconds=1))
        assert counts["unknown"] == 1 and counts["sent"] == 0
        m = db.session.get(Message, mid)
        assert m.status == "failed" and "may have been delivered" in messages.reason_text(m.last_error)
    assert len(provider.SENT) == 1  # at most once: the provider got it exactly once


def test_a_stuck_message_can_be_cancelled_one_being_sent_cannot(app, shop):
    from core.db import db
    from core.models import utcnow
    from plugins.crm.messages import SENDING_LEASE, Message

    t, http = shop
    with app.app_context(), _ctx(app, t):
        live, stuck = _queue("+7 925 111-22-31"), _queue("+7 925 111-22-32")
        now = utcnow()
        db.session.execute(db.update(Message).where(Message.id == live).values(
            status="sending", next_attempt_at=now + SENDING_LEASE))
        db.session.execute(db.update(Message).where(Message.id == stuck).values(
            status="sending", next_attempt_at=now - timedelta(minutes=1)))
        db.session.commit()
    r = http.post(f"/api/v1/crm/messages/{live}/cancel")
    assert r.status_code == 409 and "being sent right now" in r.get_json()["message"]
    r = http.post(f"/api/v1/crm/messages/{stuck}/cancel")
    assert r.status_code == 200, r.get_json()
    with app.app_context(), _ctx(app, t):
        assert db.session.get(Message, stuck).status == "cancelled"
