"""The plugin host: startup fails fast naming the plugin; allow/block lists; the per-tenant hook proxy;
tier changes on the next request; downgrade hides and freezes, upgrade shows again; the operator CLI;
exact money on both databases; migrations == models."""
from __future__ import annotations

import json
import sys
import types
import uuid
from decimal import Decimal

import pytest
from flask import Blueprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Index, Integer, String, func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db import TenantScoped, db
from core.features import tenant_info
from core.plugins import Manifest, PluginError, hookimpl
from core.registry import MenuItem, UIContext
from core.tenancy import TenantInfo, tenant_context
from core.tenants import get_tenant
from tests.fixture_plugins import every_hook
from tests.fixture_plugins.every_hook import CALLS, FEATURE

EVERY_HOOK = {"every_hook": "tests.fixture_plugins.every_hook"}


# --- startup validation (no database needed: create_app fails before touching it) --------------------------

class _PrivateBase(DeclarativeBase):
    """Models of the broken test plugins live outside the app's metadata, so they never leak into it."""


class _Foreign(_PrivateBase):
    __tablename__ = "other_thing"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class _Shared(_PrivateBase):
    __tablename__ = "shop_x_item"  # a legal name for both "shop" and "shop_x"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class _BadIndex(TenantScoped, _PrivateBase):
    __tablename__ = "badix_item"
    __table_args__ = (Index("ix_badix_item_name", "name", "tenant_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(10))


def plugin(slug: str, *, manifest_slug: str | None = None, requires=(), core_api=">=1.0,<2", **hooks) -> str:
    """A plugin module made on the fly; returns the module path to load it by."""
    module = types.ModuleType(f"_garage_test_plugin_{slug}_{uuid.uuid4().hex[:6]}")
    module.__file__ = f"/nonexistent/{module.__name__}/__init__.py"  # no templates, no migrations
    module.manifest = Manifest(slug=manifest_slug or slug, version="1.0", title=slug,
                               features={f"{manifest_slug or slug}.basic": slug}, requires=tuple(requires),
                               core_api=core_api)
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    sys.modules[module.__name__] = module
    return module.__name__


def build(tmp_path, **extra):
    from core import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'never-used.db'}",
                       "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "t", "GARAGE_PLUGINS": [],
                       "GARAGE_EXTRA_PLUGINS": extra})


def startup_error(tmp_path, **extra) -> str:
    with pytest.raises(PluginError) as info:
        build(tmp_path, **extra)
    return str(info.value)


def test_unknown_hook_name_names_the_plugin(tmp_path):
    message = startup_error(tmp_path, typo=plugin("typo", menu_itemz=lambda ctx: []))
    assert "'typo'" in message and "menu_itemz" in message


def test_missing_requires(tmp_path):
    message = startup_error(tmp_path, needy=plugin("needy", requires=["ghost"]))
    assert "'needy'" in message and "ghost" in message


def test_cyclic_requires(tmp_path):
    message = startup_error(tmp_path, chicken=plugin("chicken", requires=["egg"]), egg=plugin("egg", requires=["chicken"]))
    assert "cyclic" in message and "chicken" in message and "egg" in message


def test_slug_must_equal_the_entry_point_name(tmp_path):
    message = startup_error(tmp_path, alias=plugin("alias", manifest_slug="real_name"))
    assert "'alias'" in message and "real_name" in message


def test_unsupported_core_api(tmp_path):
    message = startup_error(tmp_path, future=plugin("future", core_api=">=2.0"))
    assert "'future'" in message and ">=2.0" in message


def test_table_without_the_plugins_prefix(tmp_path):
    message = startup_error(tmp_path, grabby=plugin("grabby", register_models=lambda: [_Foreign]))
    assert "'grabby'" in message and "other_thing" in message


def test_two_plugins_claiming_one_table(tmp_path):
    message = startup_error(tmp_path, shop=plugin("shop", register_models=lambda: [_Shared]),
                            shop_x=plugin("shop_x", register_models=lambda: [_Shared]))
    assert "shop_x_item" in message and "already claimed" in message and "'shop_x'" in message


def test_two_plugins_claiming_one_url_prefix(tmp_path):
    grab = Blueprint("grab", __name__, url_prefix="/api/v1/victim")
    own = Blueprint("victim_api", __name__, url_prefix="/api/v1/victim")
    message = startup_error(tmp_path, api=plugin("api", register_blueprints=lambda: [grab]),
                            victim=plugin("victim", register_blueprints=lambda: [own]))
    assert "/api/v1/victim" in message and "already claimed" in message


@pytest.mark.parametrize("slug", ["settings", "api", "login"])
def test_a_slug_that_is_a_core_path_is_refused(tmp_path, slug):
    message = startup_error(tmp_path, **{slug: plugin(slug)})
    assert f"'{slug}'" in message and "used by the core" in message


def test_tenant_index_must_lead_with_tenant_id(tmp_path):
    message = startup_error(tmp_path, badix=plugin("badix", register_models=lambda: [_BadIndex]))
    assert "'badix'" in message and "ix_badix_item_name" in message and "tenant_id" in message


def test_a_well_formed_plugin_loads(tmp_path):
    app = build(tmp_path, fine=plugin("fine", menu_items=lambda ctx: []))
    assert list(app.extensions["garage"].plugins) == ["fine"]


# --- allow and block lists --------------------------------------------------------------------------------

def _builtins():
    from core.plugins import discover

    return {name: module.manifest for name, module, _ in discover()}


def test_garage_plugins_is_an_allow_list(tmp_path):
    from core import create_app

    builtins = _builtins()
    lone = next(s for s, m in sorted(builtins.items()) if not m.requires)
    base = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "t"}
    app = create_app({**base, "GARAGE_PLUGINS": [lone]})
    assert list(app.extensions["garage"].plugins) == [lone]
    with pytest.raises(PluginError, match="not_installed"):
        create_app({**base, "GARAGE_PLUGINS": [lone, "not_installed"]})


def test_garage_disabled_plugins_is_a_block_list(tmp_path):
    from core import create_app

    builtins = _builtins()
    required = {r for m in builtins.values() for r in m.requires}
    leaf = sorted(set(builtins) - required)[0]
    base = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "t"}
    app = create_app({**base, "GARAGE_DISABLED_PLUGINS": [leaf]})
    assert set(app.extensions["garage"].plugins) == set(builtins) - {leaf}
    if required:  # blocking a plugin others need fails fast, naming the one that needs it
        needed = sorted(required)[0]
        with pytest.raises(PluginError, match=f"requires '{needed}'"):
            create_app({**base, "GARAGE_DISABLED_PLUGINS": [needed]})


# --- the per-tenant proxy ---------------------------------------------------------------------------------

def test_the_proxy_never_calls_a_disabled_plugin_and_is_cached_per_disabled_set(tmp_path):
    other = plugin("other", menu_items=lambda ctx: [MenuItem("other.x", "X", "/other/x")])
    app = build(tmp_path, every_hook=EVERY_HOOK["every_hook"], other=other)
    host = app.extensions["garage"]
    CALLS.clear()
    without = host.hooks_for(frozenset({"other"}))
    assert without is host.hooks_for(frozenset({"other"}))  # cached: built once per disabled set
    assert without.disabled == frozenset({"every_hook"})
    ctx = UIContext(tenant=TenantInfo(id=7, slug="t7", tier="free", plugins=frozenset({"other"})), user=None)
    keys = [item.key for _p, items in without.collect("menu_items", ctx=ctx) for item in items]
    assert "other.x" in keys and "every_hook.things" not in keys
    assert CALLS["menu_items"] == []
    assert "every_hook" not in {i.plugin_name for i in without.menu_items.get_hookimpls()}

    with_it = host.hooks_for(frozenset({"other", "every_hook"}))
    assert with_it is not without and with_it is host.hooks_for(frozenset({"every_hook", "other"}))
    with_it.collect("menu_items", ctx=ctx)
    assert CALLS["menu_items"] == [7]
    assert len(host._proxies) == 2
    CALLS.clear()


# --- tiers at request time (real database, both backends) -------------------------------------------------

@pytest.fixture
def garage_config(request):
    return {"GARAGE_EXTRA_PLUGINS": EVERY_HOOK}


def test_a_tier_change_takes_effect_on_the_next_request(app, client, runner, tenant, user, login):
    shop = tenant(tier="free")
    login(client, user(role="owner", tenant=shop))
    assert client.get("/every_hook/hello").status_code == 404
    assert runner.invoke(args=["tier", "create", "free_plus", "--title", "Free+", "--feature", "planner.basic",
                               "--feature", "planner.online_booking", "--feature", FEATURE]).exit_code == 0
    assert runner.invoke(args=["tenant", "set-tier", shop.slug, "free_plus"]).exit_code == 0
    assert client.get("/every_hook/hello").status_code == 200
    assert runner.invoke(args=["tier", "remove-feature", "free_plus", FEATURE]).exit_code == 0
    assert client.get("/every_hook/hello").status_code == 404
    assert runner.invoke(args=["tenant", "grant", shop.slug, FEATURE]).exit_code == 0
    assert client.get("/every_hook/hello").status_code == 200


def test_downgrade_hides_and_freezes_data_and_upgrade_shows_it_unchanged(app, client, runner, tenant, user):
    from core.auth.tokens import create_token
    from core.models import User
    from tests.fixture_plugins.every_hook.models import Thing

    shop = tenant(tier="free")
    owner = user(role="owner", tenant=shop)
    assert runner.invoke(args=["tenant", "grant", shop.slug, FEATURE]).exit_code == 0
    with app.app_context(), tenant_context(tenant_info(get_tenant(shop.slug))):
        _, secret = create_token(db.session.get(User, owner.id), "t")
        db.session.commit()
    api = {"Authorization": f"Bearer {secret}"}
    created = client.post("/api/v1/every_hook/things", json={"name": "Масляный фильтр", "price": "450.00"}, headers=api)
    assert created.status_code == 201, created.get_data(as_text=True)
    thing_id = created.get_json()["id"]
    before = client.get(f"/api/v1/every_hook/things/{thing_id}", headers=api).get_json()

    assert runner.invoke(args=["tenant", "revoke", shop.slug, FEATURE]).exit_code == 0
    assert client.get(f"/api/v1/every_hook/things/{thing_id}", headers=api).status_code == 404
    assert client.patch(f"/api/v1/every_hook/things/{thing_id}", json={"name": "x"}, headers=api).status_code == 404
    assert client.delete(f"/api/v1/every_hook/things/{thing_id}", headers=api).status_code == 404
    with app.app_context(), tenant_context(tenant_info(get_tenant(shop.slug))):
        assert db.session.scalars(select(Thing.name)).all() == ["Масляный фильтр"]  # kept, not deleted

    assert runner.invoke(args=["tenant", "grant", shop.slug, FEATURE]).exit_code == 0
    assert client.get(f"/api/v1/every_hook/things/{thing_id}", headers=api).get_json() == before


# --- the operator CLI -------------------------------------------------------------------------------------

def counts(app) -> tuple:
    from core.audit import AuditLog, OperatorLog
    from core.models import Tenant, TenantFeature, Tier, TierFeature, User

    with app.app_context():
        return tuple(db.session.execute(select(func.count()).select_from(m).execution_options(all_tenants=True)).scalar()
                     for m in (Tenant, TenantFeature, Tier, TierFeature, User, AuditLog, OperatorLog))


def ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_operator_cli_round_trip(app, runner):
    ok(runner, "tenant", "create", "avto-plus", "--name", "Автоплюс", "--tier", "basic")
    tenants = json.loads(ok(runner, "tenant", "list", "--json"))
    assert [(t["slug"], t["name"], t["tier"]) for t in tenants] == [("avto-plus", "Автоплюс", "basic")]
    ok(runner, "tenant", "set-tier", "avto-plus", "master")
    ok(runner, "tenant", "grant", "avto-plus", FEATURE)
    listed = {p["slug"]: p for p in json.loads(ok(runner, "plugin", "list", "--tenant", "avto-plus", "--json"))}
    assert listed["every_hook"]["enabled"] is True and listed["every_hook"]["enabled_features"] == [FEATURE]
    ok(runner, "tenant", "revoke", "avto-plus", FEATURE)
    listed = {p["slug"]: p for p in json.loads(ok(runner, "plugin", "list", "--tenant", "avto-plus", "--json"))}
    assert listed["every_hook"]["enabled"] is False
    tenant_row = json.loads(ok(runner, "tenant", "list", "--json"))[0]
    assert tenant_row["tier"] == "master" and FEATURE not in tenant_row["features"]
    tiers = json.loads(ok(runner, "tier", "list", "--json"))
    assert [t["key"] for t in tiers] == ["free", "basic", "specialist", "master", "profi"]
    assert "planner.basic" in tiers[0]["features"]
    assert "created in avto-plus with role cashier" in ok(runner, "user", "create", "--tenant", "avto-plus", "--email",
                                                     "A@avto-plus.example", "--role", "cashier", "--password", "long enough 1")
    assert "every_hook" in ok(runner, "plugin", "list")


BAD_COMMANDS = [
    ["tenant", "create", "Bad Slug", "--name", "X", "--tier", "free"],
    ["tenant", "create", "fresh", "--name", "X", "--tier", "platinum"],
    ["tenant", "create", "fresh", "--name", " ", "--tier", "free"],
    ["tenant", "create", "taken", "--name", "X", "--tier", "free"],
    ["tenant", "set-tier", "ghost", "free"],
    ["tenant", "set-tier", "taken", "platinum"],
    ["tenant", "grant", "taken", "nope.feature"],
    ["tenant", "grant", "ghost", FEATURE],
    ["tenant", "revoke", "taken", "nope.feature"],
    ["tier", "create", "free", "--title", "Again"],
    ["tier", "create", "gold", "--title", "Gold", "--feature", "nope.feature"],
    ["plugin", "list", "--tenant", "ghost"],
    ["user", "create", "--tenant", "taken", "--email", "not-an-email", "--role", "owner", "--password", "long enough 1"],
    ["user", "create", "--tenant", "taken", "--email", "x@taken.example", "--role", "pope", "--password", "long enough 1"],
    ["user", "create", "--tenant", "ghost", "--email", "x@taken.example", "--role", "owner", "--password", "long enough 1"],
    ["user", "create", "--tenant", "taken", "--email", "first@taken.example", "--role", "owner", "--password", "long enough 1"],
]


def test_bad_arguments_are_one_line_exit_2_and_write_nothing(app, runner):
    ok(runner, "tenant", "create", "taken", "--name", "Taken", "--tier", "free")
    ok(runner, "user", "create", "--tenant", "taken", "--email", "first@taken.example", "--role", "owner",
       "--password", "long enough 1")
    before = counts(app)
    for args in BAD_COMMANDS:
        result = runner.invoke(args=args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2, (args, result.output)
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.output)
        assert counts(app) == before, args


# --- money and migrations on both databases ---------------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=2,
                          allow_nan=False, allow_infinity=False))
def test_money_round_trips_exactly(app, tenant, amount):
    from tests.fixture_plugins.every_hook.models import Thing

    shop = _shop(app, tenant)
    with app.app_context(), tenant_context(tenant_info(get_tenant(shop))):
        thing = Thing(name="m", price=amount)
        db.session.add(thing)
        db.session.commit()
        thing_id = thing.id
        db.session.expunge_all()
        stored = db.session.scalars(select(Thing.price).where(Thing.id == thing_id)).one()
        assert stored == amount and isinstance(stored, Decimal) and stored.as_tuple().exponent == -2


_shops: dict = {}


def _shop(app, tenant) -> str:
    """One tenant per app for the hypothesis examples (they share the function-scoped app)."""
    if id(app) not in _shops:
        _shops.clear()
        _shops[id(app)] = tenant(tier="free").slug
    return _shops[id(app)]


@pytest.mark.parametrize("bad, why", [(1.5, "float"), (Decimal("1.005"), "decimal places"), ("12.345", "decimal places")])
def test_money_refuses_floats_and_a_third_decimal_place(app, tenant, bad, why):
    from tests.fixture_plugins.every_hook.models import Thing

    shop = tenant(tier="free")
    with app.app_context(), tenant_context(tenant_info(get_tenant(shop.slug))):
        db.session.add(Thing(name="m", price=bad))
        with pytest.raises((StatementError, TypeError, ValueError), match=why):
            db.session.flush()
        db.session.rollback()


def test_migrations_match_the_models(runner):
    assert "models and migrations match" in ok(runner, "db", "check")


def test_upgrade_from_an_empty_database(db_backend, tmp_path, garage_config):
    from core import create_app, migrate
    from core.testing import _pg_admin, _with_database, pg_server_url

    name = f"garage_empty_{uuid.uuid4().hex[:8]}"
    if db_backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        try:
            with _pg_admin().connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except Exception as exc:  # noqa: BLE001
            pytest.skip(f"PostgreSQL unavailable: {exc}")
        url = _with_database(pg_server_url(), name)
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "t",
                          **garage_config})
        migrate.upgrade(app)
        assert migrate.check(app) is None
        with app.app_context():
            db.engine.dispose()
    finally:
        if db_backend != "sqlite":
            with _pg_admin().connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("args, expected", [
    (["tenant", "create", "only-slug"], "Missing option '--name'"),
    (["tenant", "remove", "x"], "No such command 'remove'"),
    (["tier", "list", "--colour"], "--colour"),
])
def test_click_usage_errors_are_one_line_too(tmp_path, args, expected):
    import os
    import subprocess
    from pathlib import Path

    env = {**os.environ, "GARAGE_INSTANCE": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
           "SECRET_KEY": "t"}
    result = subprocess.run([str(Path(sys.executable).parent / "garage"), *args], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert not (tmp_path / "g.db").exists() or (tmp_path / "g.db").stat().st_size == 0
