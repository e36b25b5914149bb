"""Test plugin: an order document with a workflow, a veto, transition hooks and an event handler.

Special customers drive the tests: "blocked" is vetoed; "fail-before" / "fail-after" make the
transition hooks raise on ``confirm``.
"""
from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, fields
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.db import Money, db
from core.documents import DocumentMixin, DocumentType, State, Transition, Workflow
from core.plugins import Manifest, hookimpl
from core.registry import Permission

manifest = Manifest(slug="docs_orders", version="1.0", title="Orders (test)",
                    features={"docs_orders.use": "Orders"})


class Order(DocumentMixin, db.Model):
    __tablename__ = "docs_orders_order"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(200), default="")
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))


class OrderSchema(Schema):
    id = fields.Integer(dump_only=True)
    number = fields.String(dump_only=True)
    state = fields.String(dump_only=True)
    version = fields.Integer(dump_only=True)
    customer = fields.String(required=True)
    total = fields.Decimal(as_string=True, places=2)


def _needs_customer(doc, actor):
    return None if doc.customer else "The order has no customer"


WORKFLOW = Workflow(
    initial="draft",
    states={
        "draft": State("draft", "Draft"),
        "confirmed": State("confirmed", "Confirmed"),
        "posted": State("posted", "Posted", immutable=True),
        "closed": State("closed", "Closed", immutable=True, final=True),
    },
    transitions={
        "confirm": Transition("confirm", "Confirm", ("draft",), "confirmed", permission="docs_orders.order.confirm",
                              guard=_needs_customer, order=10),
        "post": Transition("post", "Post", ("confirmed",), "posted", permission="docs_orders.order.confirm", order=20),
        "close": Transition("close", "Close", ("posted",), "closed", permission="docs_orders.order.confirm", order=30),
    },
)

ORDER = DocumentType(
    key="docs_orders.order", plugin="docs_orders", resource="orders", model=Order, schema=OrderSchema,
    title="Order", workflow=WORKFLOW, number_prefix="ORD", feature="docs_orders.use",
    print_templates={"default": "docs_orders/order.html"}, search_fields=("number", "customer"),
    list_columns=("number", "customer", "state"),
)


@hookimpl
def register_models():
    return [Order]


@hookimpl
def register_permissions():
    roles = ("service_advisor",)
    return [Permission(f"docs_orders.order.{verb}", verb, roles)
            for verb in ("read", "create", "update", "void", "confirm")]


@hookimpl
def register_document_types():
    return [ORDER]


def _is_order(document) -> bool:
    return isinstance(document, Order)


@hookimpl
def validate_transition(document, transition, actor):
    if _is_order(document) and document.customer == "blocked":
        return "The customer is blocked"
    return None


@hookimpl
def before_transition(document, transition, actor):
    if not _is_order(document):
        return
    audit.record("before_hook", document, changes={"transition": [None, transition.name]})
    if document.customer == "fail-before" and transition.name == "confirm":
        raise RuntimeError("before hook exploded")


@hookimpl
def after_transition(document, transition, actor):
    if _is_order(document) and document.customer == "fail-after" and transition.name == "confirm":
        raise RuntimeError("after hook exploded")


@hookimpl
def register_blueprints():
    from flask import Blueprint

    from core import events

    bp = Blueprint("docs_orders", __name__, url_prefix="/docs_orders")

    @bp.post("/orders/<int:order_id>/touch")
    def touch(order_id):
        # A view that commits with a plain db.session.commit(): the events safety net must dispatch.
        audit.record("touch", object_type="docs_orders_order", object_id=order_id)
        events.emit("docs_orders.order.touched", id=order_id)
        db.session.commit()
        return "ok"

    return [bp]


@hookimpl
def on_event(event):
    if event.name.startswith("docs_orders.order."):
        audit.record("seen_by_docs_orders", object_type=event.name[:80], object_id=event.payload.get("id"),
                     actor="docs_orders")
