"""The workshop's per-shop settings (the shop's settings page, ``Tenant.plugin_settings["workshop"]``)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from core.i18n import domain

_l = domain("workshop").lazy_gettext

DEFAULT_COMEBACK_DAYS = 30


class WorkshopSettingsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    comeback_days = fields.Integer(load_default=DEFAULT_COMEBACK_DAYS, validate=validate.Range(
        min=1, max=365, error=_l("Enter from 1 to 365 days.")),
        metadata={"label": _l("Comeback window, days"),
                  "help": _l("A job repeated on the same car within this many days of a closed order counts "
                             "as a comeback.")})
