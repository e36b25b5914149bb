"""Marshmallow schemas of the CRM entities (used by the generic REST API and by the CRM's own endpoints).

Field errors say what is wrong in the user's language. Duplicate checks are part of validation: a new
client whose phone already belongs to someone, or a vehicle whose VIN or plate is already on file, is a
422 whose field error names the existing record, plus ``duplicate_of``: ``["/api/v1/crm/clients/12"]``. Send
``"allow_duplicate": true`` to save anyway (two clients may share a family phone; a plate may have
been reissued). On an update (PATCH) the record itself is never its own duplicate.
"""
from __future__ import annotations

import re
from datetime import date

from flask import has_request_context, request
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates, validates_schema
from sqlalchemy import select

from core.db import db
from core.i18n import domain

from .clock import local_today
from .models import (CLIENT_KINDS, FUELS, ODOMETER_SOURCES, RECOMMENDATION_SOURCES, RECOMMENDATION_STATES,
                     URGENCIES, Client, ClientPhone, Vehicle)
from .normalize import (InvalidValue, fold_plate, normalize_email, normalize_phone, phone_digits_reversed,
                        validate_inn, validate_vin)

_ = domain("crm").gettext
_l = domain("crm").lazy_gettext
MAX_ODOMETER = 9_999_999


def _editing_id() -> int | None:
    """The id of the record being updated (the URL's id: ``PATCH /api/v1/crm/clients/7``, the form
    ``POST /crm/clients/7/edit``), so it is not reported as its own duplicate. Creation URLs have none."""
    if not has_request_context() or not request.view_args:
        return None
    for key in ("id", "pk", "object_id", "item_id"):
        value = request.view_args.get(key)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


class StringList(fields.Field):
    """A list of strings in the API (``["+79161234567", ...]``) that a one-line form input can carry too
    (``"8 916 123-45-67, +7 903 ..."``): the generic UI renders it as a text input, not skipped like a
    ``List``. Values are normalised by the model (E.164 phones, e-mails with a lower-case domain)."""

    default_error_messages = {"invalid": "Not a valid list of strings."}
    _SPLIT = re.compile(r"[,;\n]+")

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None:
            return []
        if isinstance(value, str):
            return [v.strip() for v in self._SPLIT.split(value) if v.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return [v.strip() for v in value if v.strip()]
        raise self.make_error("invalid")

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else list(value)


class LineList(StringList):
    """A list of strings in the API that a form carries as a textarea, one item per line (a part name
    may contain a comma: "Filter, oil")."""

    _SPLIT = re.compile(r"[\r\n]+")


# What people see instead of the stored values (selects, cards, lists); the API keeps the values.
KIND_LABELS = {"person": _l("Person"), "company": _l("Company")}
FUEL_LABELS = {"petrol": _l("Petrol"), "diesel": _l("Diesel"), "hybrid": _l("Hybrid"), "electric": _l("Electric"),
               "lpg": _l("LPG"), "cng": _l("CNG"), "other": _l("Other")}
ODOMETER_SOURCE_LABELS = {"intake": _l("Intake"), "work_order": _l("Work order"), "client": _l("Client's word"),
                          "import": _l("Import"), "telematics": _l("Telematics")}
URGENCY_LABELS = {"low": _l("Low"), "normal": _l("Normal"), "high": _l("High"), "critical": _l("Critical")}
RECOMMENDATION_SOURCE_LABELS = {"visit": _l("Visit"), "inspection": _l("Inspection"), "manual": _l("Entered by hand")}
RECOMMENDATION_STATE_LABELS = {"open": _l("Open"), "accepted": _l("Accepted"), "declined": _l("Declined"),
                               "dismissed": _l("Dismissed")}
MESSAGE_STATUS_LABELS = {"draft": _l("Awaiting approval"), "queued": _l("Queued"), "sending": _l("Sending"),
                         "sent": _l("Sent"), "failed": _l("Failed"), "skipped": _l("Skipped"),
                         "cancelled": _l("Cancelled")}
class _ChannelLabels(dict):
    """The built-in channels' labels plus the ``title`` a plugin's channel gives itself (optional; else
    its kind), looked up at each use: the current tenant's plugins decide which channels exist."""

    def _titles(self) -> dict:
        try:
            from .messages import channels

            offered = channels()
        except RuntimeError:  # no app context
            return {}
        return {kind: getattr(c, "title", None) or kind for kind, c in offered.items() if not dict.__contains__(self, kind)}

    def __contains__(self, kind) -> bool:
        return dict.__contains__(self, kind) or kind in self._titles()

    def __getitem__(self, kind):
        return dict.__getitem__(self, kind) if dict.__contains__(self, kind) else self._titles()[kind]

    def get(self, kind, default=None):
        return self[kind] if kind in self else default

    def items(self):
        return list(dict.items(self)) + list(self._titles().items())


CHANNEL_LABELS = _ChannelLabels({"sms": _l("SMS"), "email": _l("E-mail")})
MAILING_STATUS_LABELS = {"draft": _l("Not sent yet"), "sent": _l("Sent")}
TEMPLATE_EVENT_LABELS = {"booking_confirmed": _l("Booking confirmed"), "car_ready": _l("Car ready"),
                         "work_order_closed": _l("Work order closed"), "reminder_due": _l("Maintenance due"),
                         "review_request": _l("Review request"), "mailing": _l("Mass mailing")}
TEMPLATE_MODE_LABELS = {"auto": _l("Send automatically"), "ask": _l("Ask the user first")}
# Client.source is the shop's own words; only the demo data's marker has a label of ours.
SOURCE_LABELS = {"demo": _l("Demo data")}
VALUE_LABELS = {"source": SOURCE_LABELS, "kind": KIND_LABELS, "fuel": FUEL_LABELS, "odometer_source": ODOMETER_SOURCE_LABELS,
                "urgency": URGENCY_LABELS, "recommendation_source": RECOMMENDATION_SOURCE_LABELS,
                "recommendation_state": RECOMMENDATION_STATE_LABELS, "message_status": MESSAGE_STATUS_LABELS,
                "channel": CHANNEL_LABELS, "template_event": TEMPLATE_EVENT_LABELS,
                "mailing_status": MAILING_STATUS_LABELS}


def value_label(kind: str, value):
    """The label of a stored value (``value_label("urgency", "high")`` -> "High" in the user's
    language); an unknown value is shown as it is."""
    if value is None:
        return ""
    return VALUE_LABELS.get(kind, {}).get(value, value)


def _check(fn, value):
    try:
        return fn(value)
    except InvalidValue as exc:
        raise ValidationError(str(exc.message)) from None


def _digits(n: int, what: str):
    def check(value):
        if value and (not value.isdigit() or len(value) != n):
            raise ValidationError(_("%(what)s has %(n)s digits.", what=what, n=n))
    return check


class ClientSchema(Schema):
    id = fields.Integer(dump_only=True)
    kind = fields.String(load_default="person", validate=validate.OneOf(
        CLIENT_KINDS, error=_l("Choose a person or a company.")),
        metadata={"label": _l("Person or company"), "choices": KIND_LABELS})
    name = fields.String(required=True, validate=validate.Length(
        min=1, max=200, error=_l("A name has 1 to 200 characters.")), metadata={"label": _l("Name")})
    phones = StringList(load_default=list, metadata={
        "label": _l("Phones"), "help": _l("Any format; several separated by commas."),
        "type": "array", "items": {"type": "string"}})
    emails = StringList(load_default=list, metadata={
        "label": _l("E-mails"), "help": _l("Several separated by commas."),
        "type": "array", "items": {"type": "string"}})
    is_client = fields.Boolean(load_default=True, metadata={"label": _l("Client")})
    is_supplier = fields.Boolean(load_default=False, metadata={"label": _l("Supplier")})
    is_insurer = fields.Boolean(load_default=False, metadata={"label": _l("Insurer")})
    inn = fields.String(allow_none=True, metadata={"label": _l("INN (tax id)")})
    kpp = fields.String(allow_none=True, metadata={"label": _l("KPP")})
    legal_address = fields.String(allow_none=True, validate=validate.Length(max=500),
                                  metadata={"label": _l("Legal address")})
    bank_name = fields.String(allow_none=True, validate=validate.Length(max=200), metadata={"label": _l("Bank")})
    bank_bik = fields.String(allow_none=True, metadata={"label": _l("BIK")})
    bank_account = fields.String(allow_none=True, metadata={"label": _l("Bank account")})
    bank_corr_account = fields.String(allow_none=True, metadata={"label": _l("Correspondent account")})
    consent_sms = fields.Boolean(metadata={"label": _l("Agrees to SMS")})
    consent_sms_at = fields.DateTime(dump_only=True, metadata={"label": _l("SMS consent given")})
    consent_email = fields.Boolean(metadata={"label": _l("Agrees to e-mail")})
    consent_email_at = fields.DateTime(dump_only=True, metadata={"label": _l("E-mail consent given")})
    source = fields.String(allow_none=True, validate=validate.Length(max=80),
                           metadata={"label": _l("Source"), "help": _l("How the client found us."),
                                     "choices": SOURCE_LABELS})
    notes = fields.String(allow_none=True, metadata={"label": _l("Notes"), "multiline": True})
    created_at = fields.DateTime(dump_only=True)
    version = fields.Integer(dump_only=True)
    allow_duplicate = fields.Boolean(load_only=True, load_default=False, metadata={
        "label": _l("Save even if the phone is already on file")})

    @validates("name")
    def _name(self, value, **kwargs):
        if not value.strip():
            raise ValidationError(_("Enter the client's name."))

    @validates("phones")
    def _phones(self, value, **kwargs):
        errors = {}
        for i, raw in enumerate(value):
            try:
                normalize_phone(raw)
            except InvalidValue as exc:
                errors[i] = [str(exc.message)]
        if errors:
            raise ValidationError(errors)

    @validates("emails")
    def _emails(self, value, **kwargs):
        errors = {}
        for i, raw in enumerate(value):
            try:
                normalize_email(raw)
            except InvalidValue as exc:
                errors[i] = [str(exc.message)]
        if errors:
            raise ValidationError(errors)

    @validates("inn")
    def _inn(self, value, **kwargs):
        if value:
            _check(validate_inn, value)

    @validates("kpp")
    def _kpp(self, value, **kwargs):
        _digits(9, _("A KPP"))(value)

    @validates("bank_bik")
    def _bik(self, value, **kwargs):
        _digits(9, _("A BIK"))(value)

    @validates("bank_account")
    def _account(self, value, **kwargs):
        _digits(20, _("A bank account number"))(value)

    @validates("bank_corr_account")
    def _corr(self, value, **kwargs):
        _digits(20, _("A correspondent account number"))(value)

    @validates_schema
    def _duplicates(self, data, **kwargs):
        if data.get("allow_duplicate") or not data.get("phones"):
            return
        try:
            e164s = [normalize_phone(p) for p in data["phones"]]
        except InvalidValue:
            return  # reported by the field validator
        found = find_phone_owner(e164s, exclude_client=_editing_id())
        if found:
            client, e164 = found
            raise ValidationError({
                "phones": [_("%(phone)s already belongs to %(name)s (client #%(id)s).",
                             phone=e164, name=client.name, id=client.id)],
                "duplicate_of": [f"/api/v1/crm/clients/{client.id}"],
            })

    @post_load
    def _clean(self, data, **kwargs):
        data.pop("allow_duplicate", None)
        if data.get("inn"):
            data["inn"] = validate_inn(data["inn"])
        return data


def find_phone_owner(e164s: list[str], exclude_client: int | None = None):
    """(client, phone) for the first of these phones that is already on file, else None."""
    if not e164s:
        return None
    stmt = (select(Client, ClientPhone.e164).join(ClientPhone, ClientPhone.client_id == Client.id)
            .where(ClientPhone.digits_rev.in_([phone_digits_reversed(p) for p in e164s])))
    if exclude_client:
        stmt = stmt.where(Client.id != exclude_client)
    row = db.session.execute(stmt.order_by(Client.id).limit(1)).first()
    return (row[0], row[1]) if row else None


def find_vehicle(vin: str | None = None, plate: str | None = None, exclude_vehicle: int | None = None):
    """(vehicle, "vin"|"plate") for an existing vehicle with this VIN or current plate, else None."""
    for field, value, column in (("vin", vin, Vehicle.vin), ("plate", plate, Vehicle.plate)):
        if not value:
            continue
        stmt = select(Vehicle).where(column == value)
        if exclude_vehicle:
            stmt = stmt.where(Vehicle.id != exclude_vehicle)
        vehicle = db.session.scalars(stmt.order_by(Vehicle.id).limit(1)).first()
        if vehicle is not None:
            return vehicle, field
    return None


def _client_exists(client_id: int) -> bool:
    # Under the tenant guard: another tenant's client id is "no such client".
    return db.session.execute(select(Client.id).where(Client.id == client_id)).first() is not None


def _vehicle_exists(vehicle_id: int) -> bool:
    return db.session.execute(select(Vehicle.id).where(Vehicle.id == vehicle_id)).first() is not None


def _year_range(value):
    if value is not None and not (1900 <= value <= local_today().year + 1):
        raise ValidationError(_("Enter a model year between 1900 and %(max)s.", max=local_today().year + 1))


class VehicleSchema(Schema):
    id = fields.Integer(dump_only=True)
    client_id = fields.Integer(allow_none=True, metadata={"label": _l("Car owner")})
    vin = fields.String(allow_none=True, metadata={"label": _l("VIN")})
    plate = fields.String(allow_none=True, metadata={"label": _l("Plate")})
    make = fields.String(allow_none=True, validate=validate.Length(max=60), metadata={"label": _l("Make")})
    model = fields.String(allow_none=True, validate=validate.Length(max=60), metadata={"label": _l("Model")})
    generation = fields.String(allow_none=True, validate=validate.Length(max=60),
                               metadata={"label": _l("Generation")})
    year = fields.Integer(allow_none=True, validate=_year_range, metadata={"label": _l("Year"), "plain_number": True})
    engine = fields.String(allow_none=True, validate=validate.Length(max=60), metadata={"label": _l("Engine")})
    fuel = fields.String(allow_none=True, validate=validate.OneOf(
        FUELS, error=_l("Fuel is one of: %(choices)s.", choices=", ".join(FUELS))),
        metadata={"label": _l("Fuel"), "choices": FUEL_LABELS})
    transmission = fields.String(allow_none=True, validate=validate.Length(max=20),
                                 metadata={"label": _l("Transmission")})
    colour = fields.String(allow_none=True, validate=validate.Length(max=40), metadata={"label": _l("Colour")})
    odometer_unit = fields.String(validate=validate.OneOf(("km", "mi")), metadata={
        "label": _l("Odometer unit"), "choices": {"km": _l("km"), "mi": _l("miles")}})
    notes = fields.String(allow_none=True, metadata={"label": _l("Notes"), "multiline": True})
    created_at = fields.DateTime(dump_only=True)
    version = fields.Integer(dump_only=True)
    allow_duplicate = fields.Boolean(load_only=True, load_default=False, metadata={
        "label": _l("Save even if the VIN or plate is already on file")})

    @validates("vin")
    def _vin(self, value, **kwargs):
        if value:
            _check(validate_vin, value)

    @validates("plate")
    def _plate(self, value, **kwargs):
        if value:
            folded = fold_plate(value)
            if not 4 <= len(folded) <= 12:
                raise ValidationError(_("A plate has 4 to 12 letters and digits."))

    @validates("client_id")
    def _client(self, value, **kwargs):
        if value is not None and not _client_exists(value):
            raise ValidationError(_("There is no client #%(id)s.", id=value))

    @validates_schema
    def _duplicates(self, data, **kwargs):
        if data.get("allow_duplicate"):
            return
        try:
            vin = validate_vin(data["vin"]) if data.get("vin") else None
        except InvalidValue:
            return
        found = find_vehicle(vin, fold_plate(data.get("plate")) or None, exclude_vehicle=_editing_id())
        if found:
            vehicle, field = found
            what = vehicle.plate or vehicle.vin or f"#{vehicle.id}"
            message = (_("This VIN is already on file: %(what)s (vehicle #%(id)s).", what=what, id=vehicle.id)
                       if field == "vin" else
                       _("This plate is already on file: %(what)s (vehicle #%(id)s).", what=what, id=vehicle.id))
            raise ValidationError({field: [message], "duplicate_of": [f"/api/v1/crm/vehicles/{vehicle.id}"]})

    @post_load
    def _clean(self, data, **kwargs):
        data.pop("allow_duplicate", None)
        if data.get("vin"):
            data["vin"] = validate_vin(data["vin"])
        if "plate" in data:
            data["plate"] = fold_plate(data["plate"]) or None
        return data


def _not_future(value):
    if value > local_today():
        raise ValidationError(_("The date cannot be in the future."))


class OdometerSchema(Schema):
    id = fields.Integer(dump_only=True)
    vehicle_id = fields.Integer(dump_only=True)
    read_on = fields.Date(load_default=date.today, validate=_not_future, metadata={"label": _l("Date")})
    value = fields.Integer(required=True, validate=validate.Range(
        min=0, max=MAX_ODOMETER, error=_l("Mileage is a whole number from 0 to %(max)s.", max=MAX_ODOMETER)),
        metadata={"label": _l("Mileage")})
    source = fields.String(load_default="client", validate=validate.OneOf(
        ODOMETER_SOURCES, error=_l("Source is one of: %(choices)s.", choices=", ".join(ODOMETER_SOURCES))),
        metadata={"label": _l("Source"), "choices": ODOMETER_SOURCE_LABELS})
    flagged = fields.Boolean(dump_only=True)
    flag_reason = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class ServiceEntrySchema(Schema):
    id = fields.Integer(dump_only=True)
    vehicle_id = fields.Integer(required=True, metadata={"label": _l("Vehicle")})
    performed_on = fields.Date(required=True, validate=_not_future, metadata={"label": _l("Date")})
    mileage = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=MAX_ODOMETER),
                             metadata={"label": _l("Mileage")})
    description = fields.String(required=True, validate=validate.Length(min=1, error=_l("Say what was done.")),
                                metadata={"label": _l("Work done"), "multiline": True})
    parts = LineList(load_default=list, metadata={
        "label": _l("Parts replaced"), "help": _l("One part per line."), "multiline": True,
        "type": "array", "items": {"type": "string"}})
    performed_by = fields.String(allow_none=True, validate=validate.Length(max=200),
                                 metadata={"label": _l("Performed by")})
    amount = fields.Decimal(allow_none=True, places=2, as_string=True,
                            validate=validate.Range(min=0, error=_l("An amount cannot be negative.")),
                            metadata={"label": _l("Amount")})
    created_at = fields.DateTime(dump_only=True)
    version = fields.Integer(dump_only=True)

    @validates("vehicle_id")
    def _vehicle(self, value, **kwargs):
        if not _vehicle_exists(value):
            raise ValidationError(_("There is no vehicle #%(id)s.", id=value))


class RecommendationSchema(Schema):
    id = fields.Integer(dump_only=True)
    vehicle_id = fields.Integer(required=True, metadata={"label": _l("Vehicle")})
    text = fields.String(required=True, validate=validate.Length(min=1, error=_l("Say what is recommended.")),
                         metadata={"label": _l("Recommendation"), "multiline": True})
    job = fields.String(allow_none=True, validate=validate.Length(max=200), metadata={"label": _l("Job")})
    parts = LineList(load_default=list, metadata={
        "label": _l("Parts"), "help": _l("One part per line."), "multiline": True,
        "type": "array", "items": {"type": "string"}})
    urgency = fields.String(load_default="normal", validate=validate.OneOf(
        URGENCIES, error=_l("Urgency is one of: %(choices)s.", choices=", ".join(URGENCIES))),
        metadata={"label": _l("Urgency"), "choices": URGENCY_LABELS})
    source = fields.String(load_default="visit", validate=validate.OneOf(
        RECOMMENDATION_SOURCES, error=_l("Source is one of: %(choices)s.", choices=", ".join(RECOMMENDATION_SOURCES))),
        metadata={"label": _l("Source"), "choices": RECOMMENDATION_SOURCE_LABELS})
    state = fields.String(dump_only=True, validate=validate.OneOf(RECOMMENDATION_STATES),
                          metadata={"label": _l("State"), "choices": RECOMMENDATION_STATE_LABELS})
    created_by_id = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    decided_at = fields.DateTime(dump_only=True)
    declined_at = fields.DateTime(dump_only=True)
    version = fields.Integer(dump_only=True)

    @validates("vehicle_id")
    def _vehicle(self, value, **kwargs):
        if not _vehicle_exists(value):
            raise ValidationError(_("There is no vehicle #%(id)s.", id=value))

    @post_load
    def _author(self, data, partial=None, **kwargs):
        if not partial and has_request_context():
            from flask_login import current_user

            if current_user and current_user.is_authenticated:
                data["created_by_id"] = current_user.id
        return data
