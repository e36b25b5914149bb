"""marshmallow schemas: the simple entities (served by the core's generic API and UI) and the booking
input of the planner's own endpoints."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.i18n import domain

from .models import BAY_TYPES, SOURCES, STATUSES

_ = domain("planner").gettext  # messages raised at validation time (a lazy one would be split into letters)
_l = domain("planner").lazy_gettext


# Labels of the generic forms' and lists' choices (the stored values stay English keys).
BAY_TYPE_LABELS = {"lift": _l("Lift"), "alignment": _l("Alignment"), "diagnostics": _l("Diagnostics"),
                   "body": _l("Body"), "other": _l("Other")}
WEEKDAY_LABELS = {0: _l("Monday"), 1: _l("Tuesday"), 2: _l("Wednesday"), 3: _l("Thursday"), 4: _l("Friday"),
                  5: _l("Saturday"), 6: _l("Sunday")}


class BaySchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120), metadata={"title": _l("Name")})
    type = fields.String(load_default="lift", validate=validate.OneOf(BAY_TYPES),
                         metadata={"title": _l("Type"), "choices": BAY_TYPE_LABELS})
    active = fields.Boolean(load_default=True, metadata={"title": _l("Active")})
    position = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000),
                              metadata={"title": _l("Order")})


class _TimeOrder:
    start_key = "opens"
    end_key = "closes"

    @validates_schema
    def _ordered(self, data, **kwargs):
        start, end = data.get(self.start_key), data.get(self.end_key)
        if start is not None and end is not None and start >= end:
            raise ValidationError(_("Must be later than the start."), self.end_key)


class WorkingHoursSchema(_TimeOrder, Schema):
    id = fields.Integer(dump_only=True)
    weekday = fields.Integer(required=True, validate=validate.OneOf(list(WEEKDAY_LABELS)),
                             metadata={"title": _l("Weekday"), "choices": WEEKDAY_LABELS})
    opens = fields.Time(required=True, metadata={"title": _l("Opens")})
    closes = fields.Time(required=True, metadata={"title": _l("Closes")})
    bay_id = fields.Integer(allow_none=True, load_default=None, metadata={"title": _l("Bay (empty: whole shop)")})


class BreakSchema(_TimeOrder, Schema):
    start_key = "starts"
    end_key = "ends"
    id = fields.Integer(dump_only=True)
    weekday = fields.Integer(allow_none=True, load_default=None, validate=validate.OneOf(list(WEEKDAY_LABELS)),
                             metadata={"title": _l("Weekday (empty: every day)"), "choices": WEEKDAY_LABELS})
    starts = fields.Time(required=True, metadata={"title": _l("Starts")})
    ends = fields.Time(required=True, metadata={"title": _l("Ends")})
    title = fields.String(load_default="", validate=validate.Length(max=120), metadata={"title": _l("Title")})


class DayOffSchema(Schema):
    id = fields.Integer(dump_only=True)
    day = fields.Date(required=True, metadata={"title": _l("Date")})
    title = fields.String(load_default="", validate=validate.Length(max=120), metadata={"title": _l("Title")})


class SegmentInSchema(Schema):
    """One step of a sequential booking (``planner.advanced``): a bay or a bay type, and minutes."""

    bay_id = fields.Integer(allow_none=True, load_default=None)
    bay_type = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(BAY_TYPES))
    duration_minutes = fields.Integer(required=True, validate=validate.Range(min=5, max=24 * 60))


class BookingInSchema(Schema):
    """A booking as the API and the forms take it; ``start`` is the shop's local date-time."""

    bay_id = fields.Integer(allow_none=True)
    bay_ids = fields.List(fields.Integer(), validate=validate.Length(min=1, max=10))
    segments = fields.List(fields.Nested(SegmentInSchema), allow_none=True, validate=validate.Length(min=1, max=10))
    start = fields.String(validate=validate.Length(min=10, max=40))
    duration_minutes = fields.Integer(allow_none=True, validate=validate.Range(min=5, max=24 * 60))
    client_name = fields.String(validate=validate.Length(max=200))
    client_phone = fields.String(validate=[validate.Length(max=40),
                                           validate.Regexp(r"^[0-9+()\-\s.]*$")])
    vehicle = fields.String(validate=validate.Length(max=200))
    client_id = fields.Integer(allow_none=True)
    vehicle_id = fields.Integer(allow_none=True)
    reason = fields.String(validate=validate.Length(max=2000))
    planned_jobs = fields.List(fields.String(validate=validate.Length(max=200)), validate=validate.Length(max=50))
    advisor_id = fields.Integer(allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES))
    source = fields.String(validate=validate.OneOf(SOURCES))
    version = fields.Integer()


class BookingCreateSchema(BookingInSchema):
    start = fields.String(required=True, validate=validate.Length(min=10, max=40))
    # Without a duration the planned jobs' standard hours from the job catalog give it (rounded up to
    # the slot): the service answers 422 on duration_minutes when none of them is in the catalog.
    duration_minutes = fields.Integer(allow_none=True, validate=validate.Range(min=5, max=24 * 60))
    client_name = fields.String(validate=validate.Length(max=200))

    @validates_schema(skip_on_field_errors=False)
    def _a_duration(self, data, **kwargs):
        if data.get("duration_minutes") is None and not data.get("planned_jobs") and not data.get("segments"):
            raise ValidationError(_("Enter the duration or choose planned jobs from the catalog."),
                                  "duration_minutes")

    @validates_schema(skip_on_field_errors=False)
    def _a_bay(self, data, **kwargs):
        if data.get("bay_id") is None and not data.get("bay_ids") and not data.get("segments"):
            raise ValidationError(_("Choose a bay."), "bay_id")

    @validates_schema(skip_on_field_errors=False)
    def _a_client(self, data, **kwargs):
        # A client from the directory (client_id) brings the name along; otherwise it is typed in.
        if not (data.get("client_name") or "").strip() and data.get("client_id") is None:
            raise ValidationError(_("Enter the client's name."), "client_name")
