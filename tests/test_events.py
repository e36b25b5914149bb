"""Events after commit: dispatched to the tenant's plugins only once the change is durable."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import audit, events
from core.audit import AuditLog
from core.db import db
from core.documents import TransitionVetoed, create_document, transition
from core.models import Role
from tests.fixture_plugins.docs_orders import Order
from tests.test_documents import PLUGINS, actor, shop, working_for  # noqa: F401 - shop is a fixture


@pytest.fixture
def garage_config():
    return {"GARAGE_PLUGINS": ["core"], "GARAGE_EXTRA_PLUGINS": PLUGINS, "WTF_CSRF_ENABLED": False}


def seen(by: str, doc_id: int | None = None) -> list[str]:
    """Event names plugin ``by``'s on_event recorded (in its own committed transaction)."""
    stmt = select(AuditLog.object_type).where(AuditLog.action == f"seen_by_{by}").order_by(AuditLog.id)
    if doc_id is not None:
        stmt = stmt.where(AuditLog.object_id == doc_id)
    return list(db.session.scalars(stmt))


def test_events_reach_the_plugins_only_after_commit(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Ivanov", commit=False)
        transition(doc, "confirm", actor(owner), commit=False)
        assert [e.name for e in events.pending()] == [
            "docs_orders.order.created", "docs_orders.order.confirm", "docs_orders.order.state.confirmed"]
        assert seen("docs_extra") == [] and seen("docs_orders") == []
        events.commit()
        assert events.pending() == []
        assert seen("docs_extra", doc.id) == [
            "docs_orders.order.created", "docs_orders.order.confirm", "docs_orders.order.state.confirmed",
            "docs_orders.order.noted"]  # emitted by docs_extra's handler of "created", after its commit
        assert seen("docs_orders", doc.id) == seen("docs_extra", doc.id)
        # the handler ran in a fresh session after the commit: it saw the committed state
        states = db.session.scalars(select(AuditLog.changes).where(
            AuditLog.action == "seen_by_docs_extra", AuditLog.object_type == "docs_orders.order.confirm")).all()
        assert states == [{"state": [None, "confirmed"]}]


def test_a_tenant_without_the_plugin_is_not_told(app, shop):
    t, owner = shop(features=("docs_orders.use",))
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Ivanov")
        assert seen("docs_orders", doc.id) == ["docs_orders.order.created"]
        assert seen("docs_extra") == []


def test_rolled_back_changes_emit_nothing(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="blocked")
        before = seen("docs_extra")
        with pytest.raises(TransitionVetoed):
            transition(doc, "confirm", actor(owner))
        events.emit("docs_orders.order.touched", id=doc.id)
        db.session.rollback()
        events.commit()
        assert events.pending() == [] and seen("docs_extra") == before


def test_rolling_back_a_savepoint_drops_only_its_events(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Ivanov")
        events.emit("docs_orders.order.kept", id=doc.id)
        savepoint = db.session.begin_nested()
        events.emit("docs_orders.order.dropped", id=doc.id)
        db.session.add(Role(key="owner", title="A second owner role"))  # violates the unique key
        with pytest.raises(IntegrityError):
            db.session.flush()
        savepoint.rollback()
        assert [e.name for e in events.pending()] == ["docs_orders.order.kept"]
        events.commit()
        assert seen("docs_orders", doc.id)[-1] == "docs_orders.order.kept"


def test_a_failing_handler_is_logged_and_rolled_back_alone(app, shop, caplog):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Ivanov")
        for name in ("confirm", "post"):
            transition(doc, name, actor(owner))
        with caplog.at_level(logging.ERROR, logger="core.events"):
            transition(doc, "close", actor(owner))  # docs_extra's handler raises on this event
        assert doc.state == "closed"
        assert "docs_extra" in caplog.text and "docs_orders.order.close" in caplog.text
        assert "docs_orders.order.close" not in seen("docs_extra", doc.id)  # its write was rolled back
        assert "docs_orders.order.state.closed" in seen("docs_extra", doc.id)  # later events still arrive
        assert "docs_orders.order.close" in seen("docs_orders", doc.id)  # other plugins are unaffected


def test_a_plain_commit_in_a_view_is_dispatched_after_the_request(app, shop, client, login):
    t, owner = shop()
    with working_for(app, t):
        doc_id = create_document(Order, actor(owner), customer="Ivanov").id
    login(client, owner)
    response = client.post(f"/docs_orders/orders/{doc_id}/touch")
    assert response.status_code == 200, response.data
    with working_for(app, t):
        assert seen("docs_extra", doc_id)[-1] == "docs_orders.order.touched"


def test_a_plain_commit_is_dispatched_when_the_app_context_ends(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc_id = create_document(Order, actor(owner), customer="Ivanov").id
        events.emit("docs_orders.order.exported", id=doc_id)
        db.session.commit()  # e.g. a CLI command that forgot events.commit()
    with working_for(app, t):
        assert seen("docs_orders", doc_id)[-1] == "docs_orders.order.exported"


def test_jobs_dispatch_what_they_committed(app, shop):
    t, owner = shop()
    with working_for(app, t):
        doc = create_document(Order, actor(owner), customer="Ivanov")
        audit.record("job", doc)
        events.emit("docs_orders.order.reminded", id=doc.id)
        db.session.commit()
        assert seen("docs_orders", doc.id)[-1] != "docs_orders.order.reminded"
        assert events.dispatch_pending() == 1
        assert seen("docs_orders", doc.id)[-1] == "docs_orders.order.reminded"
