"""Tables of the every_hook test plugin: a plain entity and a document."""
from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, fields, validate
from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Money, TenantScoped, db
from core.documents.models import DocumentMixin


class Thing(TenantScoped, db.Model):
    __tablename__ = "every_hook_thing"
    __table_args__ = (Index(None, "tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))


class ThingSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    price = fields.Decimal(as_string=True, load_default=Decimal("0"))


class Ticket(DocumentMixin, db.Model):
    __tablename__ = "every_hook_ticket"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), default="")


class TicketSchema(Schema):
    id = fields.Integer(dump_only=True)
    number = fields.String(dump_only=True)
    state = fields.String(dump_only=True)
    subject = fields.String(load_default="", validate=validate.Length(max=200))
