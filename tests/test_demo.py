"""`garage demo`: one demo shop per default tier, staff where the tier sells access rights, Russian
requisites, every user signs in with the printed password; idempotent; plugins add data through the
``demo_data`` hook (the every_hook fixture plugin stands in for them)."""
import re

import pytest
from sqlalchemy import func, select

from core.audit import AuditLog
from core.db import db
from core.demo import DEMO_PASSWORD, DEMO_TENANTS, inn_is_valid
from core.features import tenant_info
from core.models import Tenant, User
from core.tenancy import tenant_context
from core.tenants import get_tenant, set_feature
from tests.fixture_plugins import every_hook
from tests.fixture_plugins.every_hook import CALLS, FEATURE

TIERS = {"demo-free": "free", "demo-basic": "basic", "demo-specialist": "specialist",
         "demo-master": "master", "demo-profi": "profi"}
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def garage_config(request):
    # The built-in plugins' demo data is theirs to test; here only every_hook stands in for them,
    # which keeps these tests fast. test_demo_with_every_built_in_plugin_is_idempotent loads them all.
    config = {"GARAGE_EXTRA_PLUGINS": {"every_hook": "tests.fixture_plugins.every_hook"}}
    if not request.node.name.startswith("test_demo_with_every_built_in_plugin"):
        config["GARAGE_PLUGINS"] = []
    return config


@pytest.fixture(autouse=True)
def _fresh_calls():
    CALLS.clear()
    every_hook.BEHAVIOUR.clear()
    yield
    CALLS.clear()
    every_hook.BEHAVIOUR.clear()


def users_by_tenant(app) -> dict[str, dict[str, str]]:
    with app.app_context():
        out = {}
        for tenant in db.session.scalars(select(Tenant).where(Tenant.slug.like("demo-%"))):
            with tenant_context(tenant_info(tenant)):
                out[tenant.slug] = {u.email: u.role.key for u in db.session.scalars(select(User))}
        return out


def row_counts(app) -> tuple[int, int, int]:
    with app.app_context():
        q = lambda model: db.session.execute(  # noqa: E731
            select(func.count()).select_from(model).execution_options(all_tenants=True)).scalar()
        return q(Tenant), q(User), q(AuditLog)


def test_demo_creates_one_shop_per_tier_with_staff_and_prints_the_logins(app, runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output.splitlines()[-1] and len(DEMO_PASSWORD) >= 8

    with app.app_context():
        tiers = {t.slug: t.tier.key for t in db.session.scalars(select(Tenant))}
    assert tiers == TIERS
    users = users_by_tenant(app)
    for slug in ("demo-free", "demo-basic"):
        assert users[slug] == {f"owner@{slug}.example": "owner"}  # no roles beyond the owner on these tiers
    for slug in ("demo-specialist", "demo-master", "demo-profi"):
        assert users[slug] == {f"owner@{slug}.example": "owner", f"advisor@{slug}.example": "service_advisor",
                               f"technician@{slug}.example": "technician", f"cashier@{slug}.example": "cashier"}
    for emails in users.values():
        for email in emails:
            assert email in result.output

    with app.app_context():
        for tenant in db.session.scalars(select(Tenant)):
            req = tenant.requisites
            assert inn_is_valid(req["inn"]), tenant.slug
            assert req["legal_name"] and req["address"] and len(req["kpp"]) == 9 and len(req["ogrn"]) == 13
            assert re.search("[А-Яа-я]", tenant.name)


def test_demo_owner_signs_in_with_the_printed_password(app, client, runner):
    assert runner.invoke(args=["demo"]).exit_code == 0
    page = client.get("/login").get_data(as_text=True)
    token = CSRF_RE.search(page).group(1)
    response = client.post("/login", data={"csrf_token": token, "shop": "demo-master",
                                           "email": "owner@demo-master.example", "password": DEMO_PASSWORD})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    assert client.get("/").status_code == 200


def test_demo_twice_adds_nothing(app, runner):
    assert runner.invoke(args=["demo"]).exit_code == 0
    before = row_counts(app)
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert row_counts(app) == before
    assert " yes" not in again.output  # nothing new


def test_demo_keeps_what_the_operator_changed(app, runner):
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        tenant = get_tenant("demo-basic")
        tenant.requisites = {**tenant.requisites, "phone": "+78120000000"}
        db.session.commit()
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        assert get_tenant("demo-basic").requisites["phone"] == "+78120000000"


def test_hook_demo_data(app, runner):
    from tests.fixture_plugins.every_hook.models import Thing

    assert runner.invoke(args=["demo"]).exit_code == 0
    assert CALLS["demo_data"] == []  # no demo tier has every_hook's feature
    with app.app_context():
        master = get_tenant("demo-master")
        set_feature(master, FEATURE, True)
        db.session.commit()
        master_id = master.id
    for _ in range(2):
        assert runner.invoke(args=["demo"]).exit_code == 0
    assert CALLS["demo_data"] == [master_id, master_id]  # only the tenant that has the plugin
    with app.app_context(), tenant_context(tenant_info(get_tenant("demo-master"))):
        assert db.session.scalars(select(Thing.name)).all() == ["Demo thing"]  # idempotent


def test_a_failing_demo_data_names_the_plugin_and_writes_nothing_for_that_tenant(app, runner):
    from tests.fixture_plugins.every_hook.models import Thing

    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        set_feature(get_tenant("demo-free"), FEATURE, True)
        db.session.commit()
    every_hook.BEHAVIOUR["demo_data"] = "crash"
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 1
    assert "every_hook" in result.output and "demo-free" in result.output
    with app.app_context(), tenant_context(tenant_info(get_tenant("demo-free"))):
        assert db.session.scalars(select(Thing)).all() == []


def test_inn_check_digit():
    assert all(inn_is_valid(spec["requisites"]["inn"]) for spec in DEMO_TENANTS)
    assert not inn_is_valid("7705123453")
    assert not inn_is_valid("77051234")


@pytest.mark.slow
def test_demo_with_every_built_in_plugin_is_idempotent(app, runner):
    from core.plugins import discover

    assert {name for name, _m, _d in discover()} <= set(app.extensions["garage"].plugins)
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    before = row_counts(app)
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert row_counts(app) == before, "a plugin's demo_data is not idempotent"
