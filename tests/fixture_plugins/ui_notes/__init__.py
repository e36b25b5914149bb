"""A test plugin for the UI shell: one entity (notes) with every kind of form field, a settings
schema, a menu item and dashboard widgets (one of them broken on purpose)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from marshmallow import Schema, fields, validate
from sqlalchemy import Boolean, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Money, TenantScoped, db
from core.plugins import Manifest, hookimpl
from core.registry import EntityType, MenuItem, Permission, Widget

FEATURE = "ui_notes.notes"


class NotesSettings(Schema):
    reminder_days = fields.Integer(required=True, validate=validate.Range(min=0, max=30),
                                   metadata={"label": "Remind days before due"})
    signature = fields.String(load_default="", validate=validate.Length(max=40), metadata={"label": "Signature"})
    loud = fields.Boolean(load_default=False, metadata={"label": "Loud reminders"})
    # Edited elsewhere (a list has no flat control): the settings form must keep it when it saves.
    tags = fields.List(fields.String(), load_default=list, metadata={"label": "Tags"})
    # Only for shops with the dashboard (a core feature a Free tier lacks).
    on_dashboard = fields.Boolean(load_default=False, metadata={"label": "Show on the dashboard",
                                                                "feature": "core.dashboard"})


manifest = Manifest(
    slug="ui_notes",
    version="0.1.0",
    title="Notes",
    features={FEATURE: "Notes about cars and clients"},
    settings_schema=NotesSettings,
    description="Notes",
)


class Note(TenantScoped, db.Model):
    __tablename__ = "ui_notes_note"
    __table_args__ = (UniqueConstraint("tenant_id", "title"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    amount: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    due: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)


class NoteSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=80), metadata={"label": "Title"})
    body = fields.String(load_default="", metadata={"label": "Text", "multiline": True})
    priority = fields.String(load_default="normal", validate=validate.OneOf(["low", "normal", "high"]),
                             metadata={"label": "Priority"})
    amount = fields.Decimal(allow_none=True, places=2, validate=validate.Range(min=0), metadata={"label": "Amount"})
    due = fields.Date(allow_none=True, metadata={"label": "Due"})
    done = fields.Boolean(load_default=False, metadata={"label": "Done"})
    version = fields.Integer(dump_only=True)


@hookimpl
def register_models():
    return [Note]


@hookimpl
def register_permissions():
    return [
        Permission("ui_notes.note.read", "Read notes", ("admin", "service_advisor", "technician")),
        Permission("ui_notes.note.create", "Create notes", ("admin", "service_advisor")),
        Permission("ui_notes.note.update", "Edit notes", ("admin", "service_advisor")),
        Permission("ui_notes.note.delete", "Delete notes", ("admin",)),
    ]


@hookimpl
def register_entities():
    return [EntityType(
        plugin="ui_notes", resource="notes", model=Note, schema=NoteSchema, title="Notes", feature=FEATURE,
        permission_prefix="ui_notes.note", search_fields=("title",), filter_fields=("priority",),
        sort_fields=("title", "due", "amount", "id"), list_columns=("title", "priority", "amount", "due", "done"),
    )]


@hookimpl
def menu_items(ctx):
    return [MenuItem("ui_notes.notes", "Notes", "/ui_notes/notes", order=100, feature=FEATURE,
                     permission="ui_notes.note.read")]


def _broken(ctx):
    raise RuntimeError("this widget is broken on purpose")


@hookimpl
def dashboard_widgets(ctx):
    return [
        Widget("ui_notes.count", "Open notes", lambda ctx: "<p class='big'>Notes widget</p>", order=10,
               feature=FEATURE),
        Widget("ui_notes.broken", "Broken", _broken, order=20),
    ]
