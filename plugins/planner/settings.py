"""The planner's per-tenant settings (``Tenant.plugin_settings["planner"]``), validated by a marshmallow
schema that the manifest exposes as ``settings_schema``."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from core.db import db
from core.i18n import domain
from core.models import Tenant

_l = domain("planner").lazy_gettext


class PlannerSettingsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    slot_minutes = fields.Integer(load_default=30, validate=validate.OneOf([15, 30, 60]),
                                  metadata={"title": _l("Slot length, minutes")})
    # planner.advanced: the share of each bay's capacity of the day kept free for walk-ins and overruns
    # (slot search, the earliest fit and the online page leave it free; a bay may override it).
    buffer_percent = fields.Integer(load_default=0, validate=validate.Range(min=0, max=90),
                                    metadata={"title": _l("Capacity kept free for walk-ins and overruns, %")})
    # The public booking page (planner.online_booking).
    online_enabled = fields.Boolean(load_default=True, metadata={"title": _l("Online booking page is open")})
    online_name = fields.String(load_default="", validate=validate.Length(max=200),
                                metadata={"title": _l("Station name on the page")})
    online_address = fields.String(load_default="", validate=validate.Length(max=300),
                                   metadata={"title": _l("Address")})
    online_hours_text = fields.String(load_default="", validate=validate.Length(max=300),
                                      metadata={"title": _l("Opening hours text")})
    online_services = fields.List(fields.String(validate=validate.Length(max=120)), load_default=list,
                                  validate=validate.Length(max=30),
                                  metadata={"title": _l("Services shown (one per line)")})
    online_duration_minutes = fields.Integer(load_default=60, validate=validate.Range(min=15, max=480),
                                             metadata={"title": _l("Length of an online booking, minutes")})
    # planner.advanced: online bookings only where the technician of the day has this skill.
    online_skill = fields.String(load_default="", validate=validate.Length(max=80),
                                 metadata={"title": _l("Technician skill online bookings need")})
    online_days_ahead = fields.Integer(load_default=14, validate=validate.Range(min=1, max=90),
                                       metadata={"title": _l("Days ahead shown on the page")})


def load_settings(tenant: Tenant) -> dict:
    """The tenant's planner settings with defaults filled in (stored values that no longer validate
    fall back to the defaults rather than breaking the planner)."""
    stored = dict((tenant.plugin_settings or {}).get("planner") or {})
    schema = PlannerSettingsSchema()
    errors = schema.validate(stored)
    for key in errors:
        stored.pop(key, None)
    return schema.load(stored)


def save_settings(tenant: Tenant, data: dict) -> dict:
    """Validate ``data`` (raises marshmallow.ValidationError) and store it; returns the stored dict."""
    clean = PlannerSettingsSchema().load({**load_settings(tenant), **data})
    all_settings = dict(tenant.plugin_settings or {})
    all_settings["planner"] = clean
    tenant.plugin_settings = all_settings  # a new dict so the JSON column is seen as changed
    db.session.flush()
    return clean
