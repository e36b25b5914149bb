"""The documents engine: numbering, the transition service, workflow extension, immutability, void."""
from __future__ import annotations

import re
import sys
import threading
import types
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from core.audit import AuditLog
from core.db import db
from core.documents import (
    DocumentDeleteForbidden,
    DocumentHistory,
    DocumentImmutable,
    StaleDocument,
    TransitionFailed,
    TransitionForbidden,
    TransitionNotAllowed,
    TransitionVetoed,
    available_transitions,
    create_document,
    document_types,
    history,
    next_number,
    render_print,
    tenant_now,
    transition,
    update_document,
    void,
)
from core.features import tenant_info
from core.models import User
from core.documents import Transition
from core.plugins import Manifest, PluginError, hookimpl
from core.tenancy import TenantInfo, tenant_context
from core.tenants import get_tenant, set_feature
from tests.fixture_plugins.docs_orders import ORDER, Order

PLUGINS = {"docs_orders": "tests.fixture_plugins.docs_orders", "docs_extra": "tests.fixture_plugins.docs_extra"}


@pytest.fixture
def garage_config():
    # Only the core and the test plugins: the engine must not depend on any built-in plugin.
    return {"GARAGE_PLUGINS": ["core"], "GARAGE_EXTRA_PLUGINS": PLUGINS}


@pytest.fixture
def shop(app, tenant, user):
    """Factory: a tenant with the given features and an owner; returns (tenant handle, owner handle)."""

    def make(features=("docs_orders.use", "docs_extra.use"), **settings):
        t = tenant(tier="free")
        with app.app_context():
            row = get_tenant(t.slug)
            for key, value in settings.items():
                setattr(row, key, value)
            for feature in features:
                set_feature(row, feature, True)
            db.session.commit()
        return t, user(role="owner", tenant=t)

    return make


@contextmanager
def working_for(app, t):
    """An app context (its own session) with ``t``'s tenant context; ``t`` is a handle or a TenantInfo."""
    with app.app_context():
        info = t if isinstance(t, TenantInfo) else tenant_info(get_tenant(t.slug))
        with tenant_context(info):
            yield info


def actor(handle) -> User:
    return db.session.execute(select(User).where(User.id == handle.id)).scalar_one()


def audit_actions(doc_id=None) -> list[str]:
    stmt = select(AuditLog.action).order_by(AuditLog.id)
    if doc_id is not None:
        stmt = stmt.where(AuditLog.object_type == "docs_orders_order", AuditLog.object_id == doc_id)
    return list(db.session.scalars(stmt))


# --- numbering ----------------------------------------------------------------------------------


def test_numbers_follow_the_format_per_tenant(app, shop):
    (a, owner_a), (b, owner_b) = shop(), shop()
    with working_for(app, a):
        year = tenant_now().year
        first = create_document("docs_orders.order", actor(owner_a), customer="Ivanov")
        second = create_document("docs_orders.order", actor(owner_a), customer="Petrov")
        assert (first.number, second.number) == (f"ORD-{year}-00001", f"ORD-{year}-00002")
        assert (first.state, first.version) == ("draft", 1)
        assert [h.transition for h in history(first)] == ["create"]
    with working_for(app, b):
        # another shop counts from one
        assert create_document("docs_orders.order", actor(owner_b), customer="Sidorov").number == f"ORD-{year}-00001"


def test_the_year_comes_from_the_tenants_time_zone(app, shop):
    (far_east, _), (utc_shop, _) = shop(timezone="Asia/Vladivostok"), shop(timezone="UTC")
    new_years_eve = datetime(2026, 12, 31, 20, 0, tzinfo=timezone.utc)  # already 2027 in Vladivostok
    with working_for(app, far_east):
        assert next_number("docs_orders.order", at=new_years_eve) == "ORD-2027-00001"
        db.session.commit()
    with working_for(app, utc_shop):
        assert next_number("docs_orders.order", at=new_years_eve) == "ORD-2026-00001"
        db.session.commit()


def test_a_rolled_back_creation_leaves_no_gap(app, shop):
    t, owner = shop()
    with working_for(app, t):
        first = create_document(Order, actor(owner), customer="A")
        create_document(Order, actor(owner), customer="B", commit=False)
        db.session.rollback()
        third = create_document(Order, actor(owner), customer="C")
        assert int(third.number[-5:]) == int(first.number[-5:]) + 1
        assert db.session.scalar(select(func.count()).select_from(Order)) == 2


def test_concurrent_creations_get_distinct_gapless_numbers(app, shop):
    t, owner = shop()
    workers = 20
    # Start together; wait before touching the database, as a thread holds a pooled connection from
    # its first query on and the pool is smaller than the crowd.
    barrier = threading.Barrier(workers, timeout=60)
    numbers, errors = [], []
    with working_for(app, t) as info:
        pass

    def create(i):
        try:
            with working_for(app, info):
                barrier.wait()
                numbers.append(create_document(Order, actor(owner), customer=f"client {i}").number)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(int(n[-5:]) for n in numbers) == list(range(1, workers + 1))


# --- the transition service ---------------------------------------------------------------------


def test_transition_writes_state_history_and_audit(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Ivanov")
        transition(doc, "confirm", actor(owner), comment="called the client")
        assert doc.state == "confirmed" and doc.version == 2
        rows = history(doc)
        assert [(h.transition, h.from_state, h.to_state) for h in rows] == [
            ("create", None, "draft"), ("confirm", "draft", "confirmed")]
        assert rows[-1].actor_id == owner.id and rows[-1].comment == "called the client"
        assert audit_actions(doc.id) == ["create", "before_hook", "transition"]
        with pytest.raises(TransitionNotAllowed):
            transition(doc, "confirm", actor(owner))


def test_all_vetoes_are_collected_and_nothing_is_written(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="blocked", total=Decimal("5000.00"))
        before = audit_actions()
        with pytest.raises(TransitionVetoed) as err:
            transition(doc, "confirm", actor(owner))
        assert sorted(err.value.messages) == ["Orders over 1000 need a manager", "The customer is blocked"]
        assert {plugin for plugin, _ in err.value.vetoes} == {"docs_orders", "docs_extra"}
        assert err.value.status == 422
        db.session.expire_all()
        assert doc.state == "draft" and doc.version == 1
        assert [h.transition for h in history(doc)] == ["create"]
        assert audit_actions() == before


def test_the_transition_guard_vetoes(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="")
        with pytest.raises(TransitionVetoed, match="The order has no customer"):
            transition(doc, "confirm", actor(owner))


@pytest.mark.parametrize("customer, message", [("fail-before", "before hook exploded"),
                                               ("fail-after", "after hook exploded")])
def test_a_failing_hook_rolls_the_transition_back(app, shop, customer, message):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer=customer)
        before = audit_actions()
        with pytest.raises(TransitionFailed, match=message) as err:
            transition(doc, "confirm", actor(owner))
        assert "docs_orders" in str(err.value)
        db.session.expire_all()
        assert doc.state == "draft"
        assert [h.transition for h in history(doc)] == ["create"]
        assert audit_actions() == before  # the before hook's own audit row is gone too


def test_permission_is_checked(app, shop, user):
    t, owner = shop()
    technician = user(role="technician", tenant=t)
    advisor = user(role="service_advisor", tenant=t)
    with working_for(app, t):
        with pytest.raises(TransitionForbidden) as err:
            create_document(Order, actor(technician), customer="X")
        assert err.value.status == 403
        doc = create_document(Order, actor(advisor), customer="X")
        with pytest.raises(TransitionForbidden, match="docs_orders.order.confirm"):
            transition(doc, "confirm", actor(technician))
        assert [tr.name for tr in available_transitions(doc, actor(technician))] == []
        assert [tr.name for tr in available_transitions(doc, actor(advisor))] == ["confirm", "void"]
        transition(doc, "confirm", actor(advisor))
        # the technician may run the transition another plugin added, and only that one
        assert [tr.name for tr in available_transitions(doc, actor(technician))] == ["inspect"]


def test_parallel_transitions_of_one_document_exactly_one_wins(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc_id = create_document(Order, actor(owner), customer="Race").id
    with working_for(app, t) as info:
        pass
    barrier = threading.Barrier(2, timeout=60)
    outcomes = []

    def run():
        try:
            with working_for(app, info):
                doc = db.session.get(Order, doc_id)
                who = actor(owner)
                barrier.wait()
                transition(doc, "confirm", who)
                outcomes.append("won")
        except StaleDocument as exc:
            outcomes.append(("stale", exc.status))
        except Exception as exc:  # noqa: BLE001
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes, key=str) == [("stale", 409), "won"]
    with working_for(app, t):
        doc = db.session.get(Order, doc_id)
        assert (doc.state, doc.version) == ("confirmed", 2)
        assert [h.transition for h in history(doc)] == ["create", "confirm"]


def test_a_stale_update_is_refused_with_a_clear_error(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Old")
        seen = doc.version
        update_document(doc, actor(owner), expected_version=seen, customer="Newer")
        with pytest.raises(StaleDocument, match="version 2, yours is 1") as err:
            update_document(doc, actor(owner), expected_version=seen, customer="Lost update")
        assert doc.number in str(err.value)
        with pytest.raises(StaleDocument):
            transition(doc, "confirm", actor(owner), expected_version=seen)
        db.session.expire_all()
        assert doc.customer == "Newer"
        assert audit_actions(doc.id) == ["create", "update"]


# --- workflow extension -------------------------------------------------------------------------


def test_another_plugin_extends_the_workflow(app, shop):
    t, owner = shop()
    with working_for(app, t):
        wf = document_types()["docs_orders.order"].workflow
        assert {"inspected", "void"} <= set(wf.states) and {"inspect", "release", "void"} <= set(wf.transitions)
        doc = create_document(Order, actor(owner), customer="Ivanov")
        for name in ("confirm", "inspect", "release"):
            transition(doc, name, actor(owner))
        assert doc.state == "posted"


def test_extensions_apply_only_to_tenants_with_the_extending_plugin(app, shop):
    t, owner = shop(features=("docs_orders.use",))
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Big", total=Decimal("5000.00"))
        transition(doc, "confirm", actor(owner))  # docs_extra's veto is not asked for this tenant
        assert doc.state == "confirmed"
        assert [tr.name for tr in available_transitions(doc, actor(owner))] == ["post", "void"]
        with pytest.raises(TransitionNotAllowed):
            transition(doc, "inspect", actor(owner))


def test_a_duplicate_transition_stops_the_startup_naming_the_plugin(tmp_path):
    from core import create_app

    config = {"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
              "GARAGE_PLUGINS": ["core"], "GARAGE_EXTRA_PLUGINS": {**PLUGINS, "docs_clash": "tests.fixture_plugins.docs_clash"}}
    with pytest.raises(PluginError, match=r"plugin 'docs_clash'.*'confirm'.*'docs_orders' already defines"):
        create_app(config)
    # the same module-level document type still loads cleanly into the next app
    config["GARAGE_EXTRA_PLUGINS"] = PLUGINS
    app = create_app(config)
    assert "inspect" in app.extensions["garage"].document_types["docs_orders.order"].workflow.transitions


def _synthetic_plugin(monkeypatch, **hooks) -> str:
    """A plugin module ``docs_bad`` built in memory, loaded through GARAGE_EXTRA_PLUGINS."""
    module = types.ModuleType("tests_docs_bad")
    module.manifest = Manifest(slug="docs_bad", version="1.0", title="Bad", features={"docs_bad.use": "Bad"},
                               requires=("docs_orders",))
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module.__name__


def _steal_order_type():
    return [replace(ORDER, plugin="docs_bad")]


def _transition_to_nowhere(document_type):
    return [Transition("teleport", "Teleport", ("draft",), "nowhere")]


def _transition_with_unknown_permission(document_type):
    return [Transition("skip", "Skip", ("draft",), "posted", permission="docs_bad.order.skip")]


@pytest.mark.parametrize("hooks, message", [
    ({"register_document_types": _steal_order_type}, "key must start with 'docs_bad.'"),
    ({"extend_workflow": _transition_to_nowhere}, "transition 'teleport' refers to unknown state 'nowhere'"),
    ({"extend_workflow": _transition_with_unknown_permission}, "transition 'skip' needs permission 'docs_bad.order.skip'"),
])
def test_bad_document_types_stop_the_startup(tmp_path, monkeypatch, hooks, message):
    from core import create_app

    module = _synthetic_plugin(monkeypatch, **hooks)
    config = {"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
              "GARAGE_PLUGINS": ["core"], "GARAGE_EXTRA_PLUGINS": {**PLUGINS, "docs_bad": module}}
    with pytest.raises(PluginError, match=re.escape(message)) as err:
        create_app(config)
    assert str(err.value).startswith("plugin 'docs_bad': document type 'docs_orders.order': ")


# --- immutability and void ----------------------------------------------------------------------


def test_immutable_state_forbids_edits(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Ivanov")
        transition(doc, "confirm", actor(owner))
        transition(doc, "post", actor(owner))
        doc.customer = "Changed"
        with pytest.raises(DocumentImmutable, match="cannot be changed"):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(DocumentImmutable):
            update_document(doc, actor(owner), customer="Changed")
        # a state changes only through the transition service
        doc.state = "draft"
        with pytest.raises(DocumentImmutable):
            db.session.flush()
        db.session.rollback()
        transition(doc, "close", actor(owner))  # transitions may still leave an immutable state
        assert doc.state == "closed"


def test_documents_are_voided_never_deleted(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Ivanov")
        db.session.delete(doc)
        with pytest.raises(DocumentDeleteForbidden):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(DocumentDeleteForbidden):
            db.session.execute(delete(Order))
        db.session.rollback()
        with pytest.raises(TransitionVetoed):
            void(doc, actor(owner), reason="  ")
        void(doc, actor(owner), reason="Duplicate of another order")
        assert (doc.state, doc.void_reason) == ("void", "Duplicate of another order")
        assert doc.voided_at is not None
        assert audit_actions(doc.id)[-1] == "void"
        assert history(doc)[-1].comment == "Duplicate of another order"
        with pytest.raises(TransitionNotAllowed):
            void(doc, actor(owner), reason="again")
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_documents_of_a_tenant_without_the_plugin_are_unavailable(app, shop):
    t, owner = shop(features=())
    with working_for(app, t):
        from core.documents import DocumentTypeUnavailable

        with pytest.raises(DocumentTypeUnavailable) as err:
            create_document(Order, actor(owner), customer="X")
        assert err.value.status == 404


def test_another_tenants_document_is_not_found(app, shop):
    (a, owner_a), (b, owner_b) = shop(), shop()
    from core.documents import DocumentTypeUnavailable

    with working_for(app, b) as info_b:
        pass
    with working_for(app, a):
        doc = create_document(Order, actor(owner_a), customer="Ivanov")
        with tenant_context(info_b):
            with pytest.raises(DocumentTypeUnavailable) as err:
                transition(doc, "confirm", actor(owner_b))
            assert err.value.status == 404
        db.session.expire_all()
        assert doc.state == "draft"


# --- print --------------------------------------------------------------------------------------


def test_print_renders_the_documents_template(app, shop):
    t, owner = shop(requisites={"inn": "7707083893"})
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="<Ivanov & Sons>")
        html = render_print(doc)
    assert f"Order {doc.number}" in html
    assert "&lt;Ivanov &amp; Sons&gt;" in html  # escaped
    assert "INN 7707083893" in html and "Draft" in html
