"""Marshmallow schemas of the workshop: what the API accepts (validated, per-field messages in the
user's language) and how documents and lines are shown (amounts as "0.00" strings, never floats)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates, validates_schema
from sqlalchemy import select

from core.api.fields import Money
from core.db import db
from core.i18n import domain
from core.models import User

from .models import DECISION_CHANNELS, DECISIONS, FUEL_LEVELS, PAYER_KINDS, Job, ServiceOrder

_ = domain("workshop").gettext  # messages raised at validation time (a lazy one would be split into letters)
_l = domain("workshop").lazy_gettext

MAX_ODOMETER = 9_999_999


class Exact(fields.Field):
    """A decimal number with at most ``places`` decimals (hours, quantities, percentages): loads
    str/int/Decimal exactly (never float, never silently rounded); dumps a string."""

    def __init__(self, places: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.quantum = Decimal(1).scaleb(-places)
        self.places = places

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return str(Decimal(value).quantize(self.quantum))

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (bool, float)) or not isinstance(value, (str, int, Decimal)):
            raise ValidationError(_("Enter a number."))
        try:
            number = Decimal(value.strip().replace(",", ".") if isinstance(value, str) else value)
        except (InvalidOperation, ValueError):
            raise ValidationError(_("Enter a number.")) from None
        if not number.is_finite():
            raise ValidationError(_("Enter a number."))
        if number != number.quantize(self.quantum):
            raise ValidationError(_("At most %(places)s decimal places.", places=self.places))
        if abs(number) >= Decimal("1e9"):
            raise ValidationError(_("The number is too large."))
        return number.quantize(self.quantum)


def _exists(model, object_id) -> bool:
    # Under the tenant guard another tenant's row is simply not found.
    return object_id is None or db.session.execute(select(model.id).where(model.id == object_id)).first() is not None


def _check_exists(model, message):
    def check(value):
        if not _exists(model, value):
            raise ValidationError(message)
    return check


def _client_check(value):
    from plugins.crm.models import Client

    if not _exists(Client, value):
        raise ValidationError(_("No such client."))


def _vehicle_check(value):
    from plugins.crm.models import Vehicle

    if not _exists(Vehicle, value):
        raise ValidationError(_("No such vehicle."))


def _user_check(value):
    if value is not None and db.session.execute(select(User.id).where(User.id == value)).first() is None:
        raise ValidationError(_("No such user."))


class ShopUser(validate.OneOf):
    """A user of the shop (an advisor, an employee's login): the generic form shows a select of the
    shop's active users by name and e-mail instead of a bare id box (a ``OneOf`` whose choices are
    read when the form is drawn, inside the tenant); validation is :func:`_user_check`'s."""

    def __init__(self):  # noqa: D107 - no static choices: they are the shop's users at the time
        self.error = None

    def _users(self) -> list:
        from flask import has_request_context, request

        from core.tenancy import get_tenant

        if get_tenant() is None or (has_request_context() and request.path.startswith("/api/")):
            # Only a page's form lists them. The OpenAPI document (cached for every shop, built
            # with or without one) sees no ``choices`` at all (hasattr() is False): a plain integer.
            raise AttributeError("choices")
        return db.session.execute(select(User.id, User.name, User.email).where(User.active.is_(True))
                                  .order_by(User.name, User.id).limit(500)).all()

    @property
    def choices(self):
        return [row.id for row in self._users()]

    @property
    def labels(self):
        return [f"{row.name} <{row.email}>" if row.name else row.email for row in self._users()]

    def __call__(self, value):
        _user_check(value)
        return value


class UserNames(dict):
    """``metadata["choices"]`` of a user id field: the generic pages show the user's name where the row
    holds his id (looked up when asked; a user of another shop is not found under the tenant guard)."""

    def __bool__(self):
        return True

    def __contains__(self, user_id):
        return self.get(user_id) is not None

    def __getitem__(self, user_id):
        name = self.get(user_id)
        if name is None:
            raise KeyError(user_id)
        return name

    def get(self, user_id, default=None):
        if not isinstance(user_id, int):
            return default
        return _user_names().get(user_id, default)


def _user_names() -> dict[int, str]:
    """The shop's users' names (the e-mail for one without a name): one query per request."""
    from flask import g

    from core.tenancy import current_tenant

    attr = f"ws_user_names_{current_tenant().id}"
    if attr not in g:
        setattr(g, attr, {row.id: row.name or row.email
                          for row in db.session.execute(select(User.id, User.name, User.email))})
    return getattr(g, attr)


def user_field(label) -> fields.Integer:
    return fields.Integer(allow_none=True, validate=ShopUser(), metadata={"label": label, "choices": UserNames()})


_non_negative = validate.Range(min=0, error=_l("Must not be negative."))
_percent = validate.Range(min=0, max=100, error=_l("Enter a percentage from 0 to 100."))


def _car_of_client(data: dict) -> None:
    """The car must be the client's: his own or one he drives (a company's car its driver brings in).
    Someone else's car on a client's order would put the work into the wrong service book and bill."""
    from plugins.crm.models import Vehicle, VehicleDriver

    client_id, vehicle_id = data.get("client_id"), data.get("vehicle_id")
    if not client_id or not vehicle_id:
        return
    owner = db.session.execute(select(Vehicle.client_id).where(Vehicle.id == vehicle_id)).scalar_one_or_none()
    if owner == client_id:
        return
    if db.session.execute(select(VehicleDriver.id).where(VehicleDriver.vehicle_id == vehicle_id,
                                                         VehicleDriver.client_id == client_id)).first():
        return
    raise ValidationError({"vehicle_id": [_("This car is not the client's: choose one of his cars.")]})


def _open_service_order(so_id: int) -> ServiceOrder:
    so = db.session.get(ServiceOrder, so_id)
    if so.state not in ("draft", "accepted"):
        raise ValidationError({"service_order_id": [_("This service order is closed or cancelled.")]})
    return so


# Fields several documents share, with their labels (the generic forms show them to ru/zh users).


def _client_field(**kwargs) -> fields.Integer:
    return fields.Integer(validate=_client_check, metadata={"label": _l("Client")}, **kwargs)


def _vehicle_field(**kwargs) -> fields.Integer:
    return fields.Integer(validate=_vehicle_check, metadata={"label": _l("Car")}, **kwargs)


def _odometer_field() -> fields.Integer:
    return fields.Integer(allow_none=True, validate=validate.Range(
        min=0, max=MAX_ODOMETER, error=_l("Enter the mileage in whole kilometres.")), metadata={"label": _l("Mileage, km")})


def _long_text(label) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=5000), metadata={"label": label, "multiline": True})


def _advisor_field() -> fields.Integer:
    return user_field(_l("Service advisor"))


def _service_order_field() -> fields.Integer:
    return fields.Integer(allow_none=True, validate=_check_exists(ServiceOrder, _l("No such service order.")),
                          metadata={"label": _l("Service order")})


class _DocumentFields(Schema):
    id = fields.Integer(dump_only=True)
    number = fields.String(dump_only=True, metadata={"label": _l("Number")})
    state = fields.String(dump_only=True, metadata={"label": _l("State")})
    # Names for the lists (and API readers): the client and the car beside their ids.
    client_name = fields.String(dump_only=True, metadata={"label": _l("Client")})
    car_title = fields.String(dump_only=True, metadata={"label": _l("Car")})
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    voided_at = fields.DateTime(dump_only=True)
    void_reason = fields.String(dump_only=True)


class ServiceOrderSchema(_DocumentFields):
    client_id = _client_field(required=True)
    vehicle_id = _vehicle_field(required=True)
    # Set by "make a service order" on the planner's booking; not a box to type an id into.
    booking_id = fields.Integer(allow_none=True, metadata={"label": _l("Booking"), "form": False})
    advisor_id = _advisor_field()
    odometer = _odometer_field()
    fuel_level = fields.Integer(allow_none=True, validate=validate.OneOf(
        FUEL_LEVELS, error=_l("Choose one of 0, 25, 50, 75, 100 (percent of the tank).")), metadata={
        "label": _l("Fuel level"), "choices": {0: _l("Empty"), 25: "1/4", 50: "1/2", 75: "3/4", 100: _l("Full")}})
    complaint = _long_text(_l("Complaint"))
    condition_notes = _long_text(_l("Condition of the car (damage, missing items)"))
    planned_jobs = _long_text(_l("Planned jobs"))
    received_at = fields.DateTime(allow_none=True, metadata={"label": _l("Received at")})
    promised_at = fields.DateTime(allow_none=True, metadata={"label": _l("Promised for")})


class ShareSchema(Schema):
    id = fields.Integer(dump_only=True)
    payer_id = fields.Integer(allow_none=True, load_default=None)  # None: the order's client
    percent = Exact(places=2, allow_none=True, validate=validate.Range(
        min=Decimal("0.01"), max=100, error=_l("Enter a percentage above 0 and at most 100.")))
    amount = Money(allow_none=True, validate=_non_negative)
    share_amount = Money(dump_only=True)

    @validates_schema
    def _one_of(self, data, **kwargs):
        if (data.get("percent") is None) == (data.get("amount") is None):
            raise ValidationError(_("Give either a percentage or an amount."), "percent")


class _LineFields(Schema):
    id = fields.Integer(dump_only=True)
    position = fields.Integer(validate=_non_negative)
    name = fields.String(validate=validate.Length(min=1, max=300, error=_l("Enter a name (up to 300 characters).")))
    discount_percent = Exact(places=2, allow_none=True, validate=_percent)
    discount_amount = Money(allow_none=True, validate=_non_negative)
    gross = Money(dump_only=True)
    discount = Money(dump_only=True)
    amount = Money(dump_only=True)
    decision = fields.String(dump_only=True)
    decided_by = fields.String(dump_only=True)
    decided_at = fields.DateTime(dump_only=True)
    decision_channel = fields.String(dump_only=True)
    decision_note = fields.String(dump_only=True)
    shares = fields.List(fields.Nested(ShareSchema), dump_only=True)

    @validates_schema
    def _one_discount(self, data, **kwargs):
        if data.get("discount_percent") and data.get("discount_amount"):
            raise ValidationError(_("Give the discount either as a percentage or as an amount."), "discount_amount")


def _planner_bay(bay_id):
    """The planner's bay (only when the tenant has the planner plugin), or None."""
    from core.tenancy import current_tenant

    if "planner" not in current_tenant().plugins:
        return None
    from plugins.planner.models import Bay

    return db.session.execute(select(Bay).where(Bay.id == bay_id)).scalar_one_or_none()


def _active_employee_check(value):
    """An active employee of this shop (another shop's is simply not found under the tenant guard)."""
    if value is None:
        return
    from core.tenancy import current_tenant

    from .staff import Employee

    if not current_tenant().has("workshop.staff"):
        raise ValidationError(_("No such employee."))

    active = db.session.execute(select(Employee.active).where(Employee.id == value)).scalar_one_or_none()
    if active is None:
        raise ValidationError(_("No such employee."))
    if not active:
        raise ValidationError(_("This employee is no longer active."))


def _planner_bay_check(value):
    if value is not None and _planner_bay(value) is None:
        raise ValidationError(_("Not found"))


class LaborLineSchema(_LineFields):
    job_id = fields.Integer(allow_none=True, validate=_check_exists(Job, _l("No such job in the catalog.")))
    hours = Exact(places=3, validate=_non_negative)
    rate = Money(allow_none=True, validate=_non_negative)
    fixed_price = Money(allow_none=True, validate=_non_negative)
    technician_id = fields.Integer(allow_none=True, validate=_user_check)
    # The employee doing the job (with a login or not); fills technician_id when he has a login.
    employee_id = fields.Integer(allow_none=True, validate=_active_employee_check)
    technician_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    bay = fields.String(allow_none=True, validate=validate.Length(max=60))
    bay_id = fields.Integer(allow_none=True, validate=_planner_bay_check)  # the planner's bay (its name -> bay)
    recommendation_id = fields.Integer(allow_none=True)
    made_recommendation_id = fields.Integer(dump_only=True)
    # The CRM maintenance interval the job carries out ("oil"): closing the order resets its last-done.
    reminder_code = fields.String(allow_none=True, validate=validate.Regexp(
        r"^[a-z0-9_]{1,40}$", error=_l("Use lower-case letters, digits and _ (up to 40).")))
    # A comeback: marked by hand (warranty rework) or found by the same catalog job on the same car
    # within the shop's comeback window of a closed order.
    rework = fields.Boolean()
    comeback_of_order_id = fields.Integer(dump_only=True)
    comeback_of_line_id = fields.Integer(dump_only=True)
    comeback_technician_id = fields.Integer(dump_only=True)
    comeback_employee_id = fields.Integer(dump_only=True)

    @post_load
    def _from_catalog(self, data, partial=None, **kwargs):
        """A job from the catalog brings its name, standard hours and fixed price unless given."""
        if data.get("bay_id") and not data.get("bay"):
            data["bay"] = _planner_bay(data["bay_id"]).name[:60]
        job_id = data.get("job_id")
        if job_id:
            job = db.session.get(Job, job_id)
            data.setdefault("name", job.name)
            data.setdefault("hours", job.standard_hours)
            if job.fixed_price is not None:
                data.setdefault("fixed_price", job.fixed_price)
        return data


class PartLineSchema(_LineFields):
    labor_line_id = fields.Integer(allow_none=True)
    item_id = fields.Integer(allow_none=True)
    code = fields.String(allow_none=True, validate=validate.Length(max=60))
    quantity = Exact(places=3, validate=validate.Range(min=Decimal("0.001"), error=_l("The quantity must be above 0.")))
    unit = fields.String(allow_none=True, validate=validate.Length(max=10))
    price = Money(validate=_non_negative)


class PayerSchema(Schema):
    id = fields.Integer(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(
        [k for k in PAYER_KINDS if k != "client"], error=_l("Choose insurer, fleet or warranty.")))
    counterparty_id = fields.Integer(allow_none=True, validate=_client_check)
    counterparty_name = fields.Function(lambda p: p.counterparty.name if p.counterparty else None, dump_only=True)
    claim_number = fields.String(allow_none=True, validate=validate.Length(max=60))
    excess = Money(load_default=Decimal("0"), validate=_non_negative)
    is_default = fields.Boolean(load_default=False)
    position = fields.Integer(dump_only=True)

    @validates_schema
    def _counterparty(self, data, **kwargs):
        from plugins.crm.models import Client

        kind, cp = data.get("kind"), data.get("counterparty_id")
        if kind in ("insurer", "fleet") and not cp:
            raise ValidationError(_("Choose the company that pays."), "counterparty_id")
        if kind == "insurer" and cp and not db.session.get(Client, cp).is_insurer:
            raise ValidationError(_("This counterparty is not marked as an insurer."), "counterparty_id")
        if kind != "insurer" and data.get("excess"):
            raise ValidationError(_("Only an insurer has an excess."), "excess")


class WorkOrderSchema(_DocumentFields):
    service_order_id = _service_order_field()
    client_id = _client_field()
    vehicle_id = _vehicle_field()
    advisor_id = _advisor_field()
    odometer = _odometer_field()
    complaint = _long_text(_l("Complaint"))
    notes = _long_text(_l("Notes"))
    promised_at = fields.DateTime(allow_none=True, metadata={"label": _l("Promised for")})
    vat_mode = fields.String(dump_only=True)
    vat_rate = Exact(places=2, dump_only=True)
    total = Money(dump_only=True, metadata={"label": _l("Total")})
    vat_total = Money(dump_only=True)
    closed_at = fields.DateTime(dump_only=True)
    labor_lines = fields.List(fields.Nested(LaborLineSchema), dump_only=True)
    part_lines = fields.List(fields.Nested(PartLineSchema), dump_only=True)
    payers = fields.List(fields.Nested(PayerSchema), dump_only=True)
    totals = fields.Method("_totals", dump_only=True)
    # Some job of the order repeats a job of a recently closed order (or is marked as a rework).
    comeback = fields.Method("_comeback", dump_only=True)

    def _comeback(self, order):
        return any(line.comeback_of_order_id or line.rework for line in order.labor_lines)

    def _totals(self, order):
        from .services import totals

        return totals(order).as_json()

    @validates_schema
    def _client_and_vehicle(self, data, partial=None, **kwargs):
        if partial:
            return
        errors = {}
        if not data.get("service_order_id"):
            for name in ("client_id", "vehicle_id"):
                if not data.get(name):
                    errors[name] = [_l("Missing data for required field.")]
        if errors:
            raise ValidationError(errors)
        _car_of_client(data)

    @post_load
    def _from_service_order(self, data, partial=None, **kwargs):
        """A work order made from a service order takes its client, car, advisor, mileage and complaint."""
        so_id = data.get("service_order_id")
        if so_id and not partial:
            so = _open_service_order(so_id)
            for name in ("client_id", "vehicle_id", "advisor_id", "odometer", "complaint"):
                if data.get(name) is None and getattr(so, name) is not None:
                    data[name] = getattr(so, name)
        return data


class DecisionItemSchema(Schema):
    line_id = fields.Integer(required=True)
    kind = fields.String(load_default="labor", validate=validate.OneOf(("labor", "part")))
    decision = fields.String(required=True, validate=validate.OneOf(
        [d for d in DECISIONS if d != "pending"], error=_l("Choose approved, declined or deferred.")))
    urgency = fields.String(load_default="normal", validate=validate.OneOf(("low", "normal", "high", "critical")))
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class DecisionsSchema(Schema):
    """The client's answer: who decided, when, how, and the decision for each line."""

    by = fields.String(required=True, validate=validate.Length(min=1, max=200, error=_l("Say who decided.")))
    channel = fields.String(load_default="in_person", validate=validate.OneOf(
        DECISION_CHANNELS, error=_l("Choose in_person, phone, sms, messenger, email or online.")))
    at = fields.DateTime(allow_none=True)
    decisions = fields.List(fields.Nested(DecisionItemSchema), required=True,
                            validate=validate.Length(min=1, error=_l("Give at least one decision.")))


class JobPartSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=300, error=_l("Enter a name (up to 300 characters).")))
    code = fields.String(allow_none=True, validate=validate.Length(max=60))
    quantity = Exact(places=3, load_default=Decimal("1"), validate=validate.Range(
        min=Decimal("0.001"), error=_l("The quantity must be above 0.")))
    unit = fields.String(allow_none=True, validate=validate.Length(max=10))
    price = Money(load_default=Decimal("0"), validate=_non_negative)


class JobSchema(Schema):
    id = fields.Integer(dump_only=True)
    version = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(
        min=1, max=300, error=_l("Enter a name (up to 300 characters).")), metadata={"label": _l("Job")})
    code = fields.String(allow_none=True, validate=validate.Length(max=40), metadata={"label": _l("Code")})
    category = fields.String(allow_none=True, validate=validate.Length(max=80), metadata={"label": _l("Category")})
    standard_hours = Exact(places=3, load_default=Decimal("0"), validate=_non_negative,
                           metadata={"label": _l("Standard hours")})
    fixed_price = Money(allow_none=True, validate=_non_negative, metadata={"label": _l("Fixed price")})
    parts = fields.Method("_dump_parts", "_load_parts", metadata={"form": False})  # edited on the job's page
    active = fields.Boolean(load_default=True, metadata={"label": _l("Active")})
    notes = fields.String(allow_none=True, metadata={"label": _l("Notes"), "multiline": True})
    created_at = fields.DateTime(dump_only=True)

    @validates("name")
    def _name(self, value, **kwargs):
        if not value.strip():
            raise ValidationError(_("Enter a name (up to 300 characters)."))

    def _dump_parts(self, job):
        return list(job.parts or [])

    def _load_parts(self, value):
        if not isinstance(value, list):
            raise ValidationError(_("Send a list of parts."))
        parts = JobPartSchema(many=True).load(value)
        return [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in p.items() if v is not None} for p in parts]


class EstimateItemSchema(Schema):
    """One line of a quote: a job (hours × rate or a fixed price) or a part (quantity × price)."""

    kind = fields.String(load_default="labor", validate=validate.OneOf(("labor", "part")))
    name = fields.String(required=True, validate=validate.Length(min=1, max=300, error=_l("Enter a name (up to 300 characters).")))
    job_id = fields.Integer(allow_none=True, validate=_check_exists(Job, _l("No such job in the catalog.")))
    hours = Exact(places=3, allow_none=True, validate=_non_negative)
    rate = Money(allow_none=True, validate=_non_negative)
    fixed_price = Money(allow_none=True, validate=_non_negative)
    code = fields.String(allow_none=True, validate=validate.Length(max=60))
    quantity = Exact(places=3, allow_none=True, validate=validate.Range(
        min=Decimal("0.001"), error=_l("The quantity must be above 0.")))
    unit = fields.String(allow_none=True, validate=validate.Length(max=10))
    price = Money(allow_none=True, validate=_non_negative)
    discount_percent = Exact(places=2, allow_none=True, validate=_percent)
    amount = Money(dump_only=True)


class EstimateSchema(_DocumentFields):
    client_id = _client_field(required=True)
    vehicle_id = _vehicle_field(required=True)
    odometer = _odometer_field()
    complaint = _long_text(_l("Complaint"))
    items = fields.Method("_dump_items", "_load_items", metadata={"form": False})  # the lines panel
    total = Money(dump_only=True, metadata={"label": _l("Total")})
    valid_until = fields.Date(allow_none=True, metadata={"label": _l("Valid until")})
    work_order_id = fields.Integer(dump_only=True)

    def _dump_items(self, estimate):
        from .services import estimate_items

        return [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in item.items() if v is not None}
                for item in estimate_items(estimate.items or [])]

    def _load_items(self, value):
        if not isinstance(value, list):
            raise ValidationError(_("Send a list of lines."))
        items = EstimateItemSchema(many=True).load(value)
        # Stored as JSON: decimals as exact strings.
        return [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in item.items() if v is not None}
                for item in items]

    @post_load
    def _total(self, data, **kwargs):
        if "items" in data:
            from .services import estimate_items

            data["total"] = sum((i["amount"] for i in estimate_items(data["items"])), Decimal("0.00"))
        return data


FINDING_STATUSES = ("ok", "attention", "urgent")


class FindingSchema(Schema):
    item = fields.String(required=True, validate=validate.Length(min=1, max=300, error=_l("Say what was checked.")))
    status = fields.String(required=True, validate=validate.OneOf(
        FINDING_STATUSES, error=_l("Choose ok, attention or urgent.")))
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))
    job = fields.String(allow_none=True, validate=validate.Length(max=300))
    hours = Exact(places=3, allow_none=True, validate=_non_negative)
    price = Money(allow_none=True, validate=_non_negative)


class DiagnosticActSchema(_DocumentFields):
    client_id = _client_field()
    vehicle_id = _vehicle_field()
    service_order_id = _service_order_field()
    odometer = _odometer_field()
    technician_name = fields.String(allow_none=True, validate=validate.Length(max=200), metadata={"label": _l("Technician")})
    findings = fields.Method("_dump_findings", "_load_findings", metadata={"form": False})  # the findings panel
    conclusion = _long_text(_l("Conclusion"))
    work_order_id = fields.Integer(dump_only=True)

    def _dump_findings(self, act):
        return list(act.findings or [])

    def _load_findings(self, value):
        if not isinstance(value, list):
            raise ValidationError(_("Send a list of findings."))
        found = FindingSchema(many=True).load(value)
        return [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in f.items() if v is not None} for f in found]

    _client_and_vehicle = WorkOrderSchema._client_and_vehicle  # the same rule, the same hook

    @post_load
    def _from_service_order(self, data, partial=None, **kwargs):
        so_id = data.get("service_order_id")
        if so_id and not partial:
            so = _open_service_order(so_id)
            for name in ("client_id", "vehicle_id", "odometer"):
                if data.get(name) is None and getattr(so, name) is not None:
                    data[name] = getattr(so, name)
        return data


class ConvertSchema(Schema):
    """Options when a diagnostic act becomes a work order: the hourly rate of its jobs."""

    rate = Money(allow_none=True, validate=_non_negative)
