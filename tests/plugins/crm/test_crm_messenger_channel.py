"""A plugin adds a new kind of channel (a messenger) through ``crm_message_channels``: templates may use
it, the client's address comes from the plugin (a per-client handle, or a client field), messages and
mailings reach the plugin's channel, and a shop without the plugin cannot use the kind."""
import pytest

from tests.plugins.crm import crm_channel_plugin as plugin


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_channel_test": "tests.plugins.crm.crm_channel_plugin"}}


def test_a_messenger_channel_from_a_plugin(app, tenant, user, api_client):
    from core import events
    from core.db import db
    from core.features import tenant_info
    from core.jobs import enqueue
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import get_tenant, set_feature
    from plugins.crm.mailings import audience
    from plugins.crm.messages import Message, reason_text
    from plugins.crm.models import Client
    from plugins.crm.segments import Segment

    plugin.DELIVERED.clear()
    plugin.HANDLES.clear()
    t = tenant(tier="master")
    http = api_client(user(role="owner", tenant=t))
    with app.app_context():
        row = get_tenant(t.slug)
        set_feature(row, "crm_channel_test.use", True)
        row.plugin_settings = {"crm": {"quiet_from": "00:00", "quiet_to": "00:00"}}
        db.session.commit()
    for channel in ("tg", "viber"):
        r = http.post("/api/v1/crm/message-templates", json={
            "event": "booking_confirmed", "channel": channel, "title": channel, "body": "See you, {{ client.name }}"})
        assert r.status_code == 201, r.get_json()
    with app.app_context():
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            # Only the new kinds: the seeded SMS template is switched off.
            for m in db.session.scalars(db.select(plugin_template_model()).where(
                    plugin_template_model().channel == "sms")):
                m.active = False
            ivan = Client(name="Ivan", consent_sms=True, phones=["+7 925 111-22-33"])
            olga = Client(name="Olga", consent_sms=False, phones=["+7 925 111-22-44"])
            db.session.add_all([ivan, olga])
            db.session.flush()
            plugin.HANDLES[ivan.id] = "@ivan"
            ids = {"ivan": ivan.id, "olga": olga.id}
            for n, c in enumerate((ivan, olga)):
                events.emit("planner.booking.confirmed", booking_id=n + 1, client_id=c.id, start_at="tomorrow")
            events.commit()
            db.session.add(Segment(name="All", filters={}))
            db.session.commit()
        summary = enqueue("crm.send_messages", tenant_id=t.id).get()
        assert [r["status"] for r in summary["runs"]] == ["ok"]
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            rows = {(m.client_id, m.channel): (m.status, m.recipient, reason_text(m.last_error))
                    for m in db.session.scalars(db.select(Message))}
            segment = db.session.scalars(db.select(Segment)).one()
            recipients, excluded = audience(segment, "tg")
            assert [(c.name, address) for c, address in recipients] == [("Ivan", "@ivan")]
            assert excluded["no_address"] == 1
    assert sorted(plugin.DELIVERED) == [("+79251112233", "See you, Ivan"), ("@ivan", "See you, Ivan")]
    assert rows[(ids["ivan"], "tg")][:2] == ("sent", "@ivan")
    assert rows[(ids["ivan"], "viber")][:2] == ("sent", "+79251112233")
    assert rows[(ids["olga"], "tg")][0] == "skipped" and "no tg address" in rows[(ids["olga"], "tg")][2]
    assert rows[(ids["olga"], "viber")][0] == "skipped" and "not consented" in rows[(ids["olga"], "viber")][2]

    # A shop without the plugin has no such kind.
    other = api_client(user(role="owner", tenant=tenant(tier="master")))
    r = other.post("/api/v1/crm/message-templates", json={"event": "booking_confirmed", "channel": "tg",
                                                          "body": "x"})
    assert r.status_code == 422 and "channel" in r.get_json()["fields"]


def plugin_template_model():
    from plugins.crm.messages import MessageTemplate

    return MessageTemplate


def test_jobs_see_only_the_channels_of_the_tenants_plugins(app, tenant):
    """Outside a request (the send job) a tenant without the plugin gets neither its new kind nor its
    replacement of the built-in SMS channel."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import get_tenant, set_feature
    from plugins.crm.channels import BUILTIN
    from plugins.crm.messages import CHANNELS, channels

    with_plugin, without = tenant(tier="master"), tenant(tier="master")
    with app.app_context():
        set_feature(get_tenant(with_plugin.slug), "crm_channel_test.use", True)
        db.session.commit()
        with tenant_context(tenant_info(db.session.get(Tenant, with_plugin.id))):
            assert {"tg", "viber"} <= set(channels()) and "tg" in CHANNELS
            assert channels()["sms"] not in BUILTIN
        with tenant_context(tenant_info(db.session.get(Tenant, without.id))):
            assert set(channels()) == {"sms", "email"} and "tg" not in CHANNELS
            assert channels()["sms"] in BUILTIN


def test_the_template_form_offers_the_tenants_plugin_channels(app, tenant, user, login):
    from core.db import db
    from core.tenants import get_tenant, set_feature

    with_plugin, without = tenant(tier="master"), tenant(tier="master")
    with app.app_context():
        set_feature(get_tenant(with_plugin.slug), "crm_channel_test.use", True)
        db.session.commit()

    def options(t):
        page = login(app.test_client(), user(role="owner", tenant=t))
        page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        html = page.get("/crm/message-templates/new").get_data(as_text=True)
        select = html[html.index('name="channel"'):]
        return select[:select.index("</select>")]

    offered = options(with_plugin)
    assert all(f'value="{kind}"' in offered for kind in ("sms", "email", "tg", "viber")), offered
    assert ">Telegram</option>" in offered  # the channel's own title where it gives one
    assert 'value="tg"' not in options(without)
