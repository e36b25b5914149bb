"""A test-only plugin with a numbered document (an invoice): the generic API must serve it with
transitions, void instead of delete, and print forms (HTML and PDF), with no endpoint code here."""
from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, fields, validate
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.api.fields import Money as MoneyField
from core.db import Money, db
from core.documents import DocumentMixin, DocumentType, State, Transition, Workflow
from core.plugins import Manifest, hookimpl
from core.registry import Permission

manifest = Manifest(slug="api_invoices", version="0.1.0", title="API invoices (test fixture)",
                    features={"api_invoices.use": "Invoices for API tests"})


class Invoice(DocumentMixin, db.Model):
    __tablename__ = "api_invoices_invoice"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(200))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))


class InvoiceSchema(Schema):
    id = fields.Int(dump_only=True)
    number = fields.Str(dump_only=True)
    state = fields.Str(dump_only=True)
    version = fields.Int(dump_only=True)
    void_reason = fields.Str(dump_only=True)
    customer = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    total = MoneyField(load_default=Decimal("0"))


def _positive_total(doc, actor):
    return None if doc.total > 0 else "An invoice needs a positive total"


INVOICE = DocumentType(
    key="api_invoices.invoice", plugin="api_invoices", resource="invoices", model=Invoice, schema=InvoiceSchema,
    title="Invoice", number_prefix="INV", feature="api_invoices.use",
    workflow=Workflow(
        initial="draft",
        states={"draft": State("draft", "Draft"), "issued": State("issued", "Issued", immutable=True)},
        transitions={"issue": Transition("issue", "Issue", ("draft",), "issued",
                                         permission="api_invoices.invoice.issue", guard=_positive_total)},
    ),
    print_templates={"default": "api_invoices/invoice.html"},
    search_fields=("number", "customer"), filter_fields=("state",), sort_fields=("id", "number", "total"),
)


@hookimpl
def register_models():
    return [Invoice]


@hookimpl
def register_permissions():
    return [Permission(f"api_invoices.invoice.{verb}", verb, roles) for verb, roles in (
        ("read", ("service_advisor", "technician")), ("create", ("service_advisor",)),
        ("update", ("service_advisor",)), ("void", ("service_advisor",)), ("issue", ("service_advisor",)))]


@hookimpl
def register_document_types():
    return [INVOICE]
