"""The per-request set-up (token -> user -> tenant -> features) is cheap and never stale.

Every change below is made through another session, as an operator's CLI in another process would,
and must show on the very next request of the same API token.
"""
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from core.auth.models import ApiToken
from core.auth.tokens import revoke_token
from core.db import db
from core.features import tenant_info
from core.models import Tenant, User
from core.tenancy import tenant_context
from core.tenants import get_tenant, get_tier, set_feature, set_tier, set_tier_features


def bearer(text):
    return {"Authorization": f"Bearer {text}"}


def me(client, text):
    return client.get("/api/v1/me", headers=bearer(text))


def test_tier_and_feature_changes_apply_on_the_next_request(app, user, token):
    u = user(role="owner")
    text = token(u)
    c = app.test_client()
    first = me(c, text).get_json()
    assert first["tier"] == "profi" and "crm.advanced" in first["features"]
    with app.app_context():
        set_tier(get_tenant(u.tenant.slug), "basic")
        db.session.commit()
    after = me(c, text).get_json()
    assert after["tier"] == "basic" and "crm.advanced" not in after["features"] and "crm.clients" in after["features"]
    with app.app_context():
        set_feature(get_tenant(u.tenant.slug), "crm.basic", True)
        db.session.commit()
    assert "crm.basic" in me(c, text).get_json()["features"]
    with app.app_context():
        set_feature(get_tenant(u.tenant.slug), "crm.clients", False)
        db.session.commit()
    assert "crm.clients" not in me(c, text).get_json()["features"]
    with app.app_context():  # the tier itself edited (tiers are data)
        set_tier_features(get_tier("basic"), {"planner.basic", "planner.online_booking"})
        db.session.commit()
    body = me(c, text).get_json()
    assert "planner.quick" not in body["features"] and "crm.basic" in body["features"]
    assert "crm.clients" not in body["features"]


def test_revoked_token_deactivated_user_or_tenant_lose_access_at_once(app, user, token):
    c = app.test_client()
    u = user(role="owner")
    text = token(u)
    assert me(c, text).status_code == 200
    with app.app_context():
        with tenant_context(tenant_info(get_tenant(u.tenant.slug))):
            revoke_token(db.session.scalars(select(ApiToken)).one(), actor="test")
            db.session.commit()
    assert me(c, text).status_code == 401

    text = token(u)
    assert me(c, text).status_code == 200
    with app.app_context():
        db.session.execute(select(User).where(User.id == u.id).execution_options(all_tenants=True)).scalar_one().active = False
        db.session.commit()
    assert me(c, text).status_code == 401

    v = user(role="owner")
    text = token(v)
    assert me(c, text).status_code == 200
    with app.app_context():
        db.session.execute(select(Tenant).where(Tenant.id == v.tenant.id)).scalar_one().active = False
        db.session.commit()
    assert me(c, text).status_code == 401


def test_a_token_never_works_with_a_wrong_secret_or_in_another_tenant(app, user, token):
    c = app.test_client()
    a, b = user(role="owner"), user(role="owner")
    text_a, text_b = token(a), token(b)
    token_id_a = text_a.split("_")[1]
    forged = f"gt_{token_id_a}_{text_b.split('_', 2)[2]}"  # a's id with b's secret
    assert me(c, forged).status_code == 401
    body = me(c, text_a).get_json()
    assert body["tenant"]["id"] == a.tenant.id and body["user"]["id"] == a.id


def test_request_setup_costs_two_statements(app, user, token):
    """Token + user + role + tenant + tier in one statement, the features in a second one."""
    u = user(role="owner")
    text = token(u)
    c = app.test_client()
    me(c, text)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        assert me(c, text).status_code == 200
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert len(statements) == 2, statements
