"""Test plugin: extends docs_orders' workflow with an inspection, vetoes big orders and listens to
events. Its on_event records, in its own transaction, the order's state as it sees it."""
from __future__ import annotations

from decimal import Decimal

from core import audit, events
from core.db import db
from core.documents import State, Transition
from core.plugins import Manifest, hookimpl
from core.registry import Permission

manifest = Manifest(slug="docs_extra", version="1.0", title="Order inspection (test)",
                    features={"docs_extra.use": "Inspection"}, requires=("docs_orders",))


@hookimpl
def register_permissions():
    return [Permission("docs_extra.order.inspect", "Inspect orders", ("technician",))]


@hookimpl
def extend_workflow(document_type):
    if document_type.key != "docs_orders.order":
        return None
    return [
        State("inspected", "Inspected"),
        Transition("inspect", "Inspect", ("confirmed",), "inspected", permission="docs_extra.order.inspect"),
        Transition("release", "Release", ("inspected",), "posted", permission="docs_orders.order.confirm"),
    ]


@hookimpl
def validate_transition(document, transition, actor):
    if getattr(document, "total", Decimal(0)) > Decimal("1000"):
        return ["Orders over 1000 need a manager"]
    return None


@hookimpl
def on_event(event):
    from tests.fixture_plugins.docs_orders import Order

    if not event.name.startswith("docs_orders.order."):
        return
    doc = db.session.get(Order, event.payload["id"])
    audit.record("seen_by_docs_extra", object_type=event.name[:80], object_id=event.payload["id"],
                 actor="docs_extra", changes={"state": [None, doc.state if doc else None]})
    if event.name == "docs_orders.order.created":
        # handlers may emit too: dispatched after this handler's own commit
        events.emit("docs_orders.order.noted", id=event.payload["id"])
    if event.name == "docs_orders.order.close":
        raise RuntimeError("docs_extra cannot handle close")
