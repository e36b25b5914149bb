"""CRM services: odometer readings and mileage, duplicates, merging clients, the service book,
recommendation decisions. Each mutating service writes its audit row; the caller commits once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask import g, has_request_context
from sqlalchemy import func, select, update

from core import audit
from core.db import db
from core.i18n import domain
from core.models import utcnow

from .clock import local_today
from .models import (Client, ClientEmail, ClientPhone, OdometerReading, Ownership, Recommendation, SearchKey,
                     ServiceEntry, Vehicle, VehicleDriver)
from .normalize import InvalidValue, clean_vin, fold_plate, normalize_phone, phone_digits_reversed

_ = domain("crm").gettext
_l = domain("crm").lazy_gettext

# A passenger car or a van rarely does more than this in a day; more means a typo (an extra digit).
MAX_DAILY_KM = 1500
MILEAGE_WINDOW = 10  # readings used for the average daily mileage
MIN_SPAN_DAYS = 14  # below this, a rate is noise


class CrmError(ValueError):
    """A request that cannot be carried out; ``status`` is the HTTP status it maps to."""

    def __init__(self, message, status: int = 422, **extra):
        super().__init__(str(message))
        self.message = message
        self.status = status
        self.extra = extra


def hooks():
    """The tenant's hook proxy: the request's, else (jobs, CLI) the one of the tenant context pushed, so
    that a plugin the tenant does not have never answers (e.g. its message channel in the send job);
    the whole manager only with no tenant at all."""
    if has_request_context() and g.get("hooks") is not None:
        return g.hooks
    from flask import current_app

    from core.tenancy import get_tenant

    host = current_app.extensions["garage"]
    info = get_tenant()
    return host.hooks_for(info.plugins) if info is not None else host.pm.hook


def safe_url(url) -> bool:
    """A link a plugin may put on a CRM page: site-relative (``/x``, not ``//host``) or http(s)."""
    return isinstance(url, str) and ((url.startswith("/") and not url.startswith("//"))
                                     or url.lower().startswith(("https://", "http://")))


def vehicle_actions(vehicle_id: int, client_id: int | None, reason: str | None = None) -> list[dict]:
    """The links other plugins offer for a car (``crm_vehicle_actions``), e.g. the planner's "Book".

    Malformed answers are dropped, and so are URLs that are neither site-relative nor http(s), so that
    a plugin cannot put a ``javascript:`` link on the page."""
    out = []
    for result in hooks().crm_vehicle_actions(vehicle_id=vehicle_id, client_id=client_id, reason=reason) or []:
        for action in result or []:
            if not isinstance(action, dict):
                continue
            label, url = action.get("label"), action.get("url")
            if not label or not isinstance(url, str):
                continue
            if not safe_url(url):
                continue
            out.append({"label": str(label), "url": url})
    return out


# --- odometer --------------------------------------------------------------------------------------


def _readings(vehicle_id: int, include_flagged: bool = True) -> list[OdometerReading]:
    stmt = select(OdometerReading).where(OdometerReading.vehicle_id == vehicle_id)
    if not include_flagged:
        stmt = stmt.where(OdometerReading.flagged.is_(False))
    return list(db.session.scalars(stmt.order_by(OdometerReading.read_on, OdometerReading.id)))


def check_reading(history: list[OdometerReading], read_on: date, value: int) -> str | None:
    """Why a new reading looks wrong against the trusted (unflagged) history, or None.

    Readings may arrive out of order (an old invoice typed in later): that alone is fine. What is
    flagged is a value that breaks monotonicity with its neighbours in time, or a jump no car does.
    """
    before = [r for r in history if r.read_on <= read_on]
    after = [r for r in history if r.read_on > read_on]
    if before:
        prev = max(before, key=lambda r: (r.read_on, r.value))
        if value < prev.value:
            return _("Lower than %(value)s km read on %(date)s: the odometer cannot go back.",
                     value=prev.value, date=prev.read_on.isoformat())
        days = (read_on - prev.read_on).days
        if value - prev.value > MAX_DAILY_KM * max(days, 1):
            return _("%(km)s km in %(days)s day(s) since %(date)s is implausible.",
                     km=value - prev.value, days=max(days, 1), date=prev.read_on.isoformat())
    if after:
        nxt = min(after, key=lambda r: (r.read_on, r.value))
        if value > nxt.value:
            return _("Higher than %(value)s km read later, on %(date)s.",
                     value=nxt.value, date=nxt.read_on.isoformat())
        days = (nxt.read_on - read_on).days
        if nxt.value - value > MAX_DAILY_KM * max(days, 1) and not before:
            return _("%(km)s km in %(days)s day(s) until %(date)s is implausible.",
                     km=nxt.value - value, days=max(days, 1), date=nxt.read_on.isoformat())
    return None


def add_reading(vehicle: Vehicle, value: int, read_on: date | None = None, source: str = "client",
                user=None) -> OdometerReading:
    """Append a reading; a suspicious one is stored with ``flagged`` and the reason, never refused."""
    read_on = read_on or local_today()
    reason = check_reading(_readings(vehicle.id, include_flagged=False), read_on, value)
    reading = OdometerReading(vehicle_id=vehicle.id, read_on=read_on, value=value, source=source,
                              flagged=reason is not None, flag_reason=reason,
                              created_by_id=getattr(user, "id", None))
    db.session.add(reading)
    db.session.flush()
    audit.record("create", reading, user=user,
                 changes={"vehicle_id": [None, vehicle.id], "value": [None, value],
                          "read_on": [None, read_on.isoformat()], "flag": [None, reason]})
    return reading


@dataclass
class Mileage:
    daily_km: float | None
    last_value: int | None
    last_read_on: date | None
    readings_used: int

    def projected(self, on: date) -> int | None:
        if self.last_value is None or self.daily_km is None or self.last_read_on is None:
            return self.last_value
        return self.last_value + round(self.daily_km * max((on - self.last_read_on).days, 0))

    def as_dict(self) -> dict:
        return {"daily_km": None if self.daily_km is None else round(self.daily_km, 1),
                "last_value": self.last_value,
                "last_read_on": self.last_read_on.isoformat() if self.last_read_on else None,
                "projected_today": self.projected(local_today()), "readings_used": self.readings_used}


def mileage(vehicle_id: int) -> Mileage:
    """Average daily mileage: least-squares slope over the last readings, flagged ones ignored.

    A regression rather than (last - first) / days, so that one slightly-off reading in the middle
    moves the figure a little instead of deciding it.
    """
    return mileage_from(_readings(vehicle_id, include_flagged=False))


def mileage_from(readings: list[OdometerReading]) -> Mileage:
    """:func:`mileage` of readings already loaded (unflagged, oldest first), e.g. many cars at once."""
    trusted = readings[-MILEAGE_WINDOW:]
    if not trusted:
        return Mileage(None, None, None, 0)
    last = trusted[-1]
    span = (trusted[-1].read_on - trusted[0].read_on).days
    if len(trusted) < 2 or span < MIN_SPAN_DAYS:
        return Mileage(None, last.value, last.read_on, len(trusted))
    origin = trusted[0].read_on
    xs = [(r.read_on - origin).days for r in trusted]
    ys = [r.value for r in trusted]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return Mileage(max(slope, 0.0), last.value, last.read_on, len(trusted))


# --- duplicates ------------------------------------------------------------------------------------


def duplicates(phone: str | None = None, vin: str | None = None, plate: str | None = None,
               name: str | None = None) -> dict:
    """Existing records that a new client/vehicle with these keys would duplicate (exact keys only)."""
    out: dict[str, list] = {"clients": [], "vehicles": []}
    if phone:
        try:
            e164 = normalize_phone(phone)
        except InvalidValue as exc:
            raise CrmError(exc.message, field="phone") from None
        rows = db.session.execute(
            select(Client.id, Client.name, ClientPhone.e164).join(ClientPhone, ClientPhone.client_id == Client.id)
            .where(ClientPhone.digits_rev == phone_digits_reversed(e164)).order_by(Client.id).limit(20)).all()
        out["clients"] += [{"id": r.id, "name": r.name, "match": "phone", "value": r.e164} for r in rows]
    for field, value, column in (("vin", clean_vin(vin), Vehicle.vin), ("plate", fold_plate(plate), Vehicle.plate)):
        if not value:
            continue
        rows = db.session.execute(select(Vehicle.id, Vehicle.vin, Vehicle.plate, Vehicle.client_id)
                                  .where(column == value).order_by(Vehicle.id).limit(20)).all()
        out["vehicles"] += [{"id": r.id, "vin": r.vin, "plate": r.plate, "client_id": r.client_id,
                             "match": field, "value": value} for r in rows]
    if name and name.strip():
        rows = db.session.execute(select(Client.id, Client.name)
                                  .where(func.lower(Client.name) == name.strip().lower()).limit(20)).all()
        out["clients"] += [{"id": r.id, "name": r.name, "match": "name", "value": r.name} for r in rows]
    return out


# --- merge -----------------------------------------------------------------------------------------


def _snapshot(client: Client) -> dict:
    from .schemas import ClientSchema

    return ClientSchema().dump(client)


def _client_history_models() -> list:
    """CRM tables whose rows belong to a client and simply follow it to the merge target (no unique key
    that involves the client). Tables with such a key are handled one by one in :func:`merge_clients`."""
    from .messages import Message
    from .reviews import ReviewRequest
    from .tasks import Task
    from .visit_index import IndexedVisit, VisitTerm

    return [Message, ReviewRequest, Task, IndexedVisit, VisitTerm]


# Every crm_* foreign key to crm_client and how a merge treats it (a test checks the list is complete).
MERGE_HANDLED = {
    "crm_client_phone": "copied onto the target (the source's rows go with the source)",
    "crm_client_email": "copied onto the target (the source's rows go with the source)",
    "crm_search_key": "rebuilt for the target from its name and phones",
    "crm_vehicle": "moved", "crm_vehicle_owner": "moved", "crm_vehicle_driver": "moved, duplicates dropped",
    "crm_message": "moved", "crm_review": "moved", "crm_task": "moved", "crm_visit": "moved", "crm_visit_term": "moved",
    "crm_unsubscribe": "moved, duplicates dropped",
}


def merge_clients(target: Client, source: Client, user=None) -> dict:
    """Move everything of ``source`` onto ``target`` and delete ``source``; one audited transaction.

    Vehicles, drivers, owner history, phones and e-mails (missing ones added to the target), notes,
    company details the target lacks, messages, review requests, tasks, indexed visits and mailing
    opt-outs (see :data:`MERGE_HANDLED`); the audit row lists how many rows of each table moved. Other plugins move their rows in ``crm_clients_merged``.
    """
    if target.id == source.id:
        raise CrmError(_l("A client cannot be merged into itself."), field="source_id")
    before_target, before_source = _snapshot(target), _snapshot(source)
    moved: dict[str, int] = {}

    def move(model, column="client_id"):
        col = getattr(model, column)
        res = db.session.execute(update(model).where(col == source.id).values({column: target.id})
                                 .execution_options(synchronize_session="fetch"))
        moved[model.__tablename__] = res.rowcount or 0

    move(Vehicle)
    move(Ownership)
    # The client's history (messages, review answers, tasks) follows the client; without this the
    # ON DELETE CASCADE of these tables would silently delete it with the source.
    for model in _client_history_models():
        move(model)
    # An opt-out survives the merge: the merged client must not get mailings on a channel either of
    # the two unsubscribed from. One row per (client, channel): the target's own row wins a clash.
    from .mailings import Unsubscribe

    target_channels = set(db.session.scalars(select(Unsubscribe.channel).where(Unsubscribe.client_id == target.id)))
    dropped = moved[Unsubscribe.__tablename__] = 0
    for row in db.session.scalars(select(Unsubscribe).where(Unsubscribe.client_id == source.id)):
        if row.channel in target_channels:
            db.session.delete(row)
            dropped += 1
        else:
            row.client_id = target.id
            moved[Unsubscribe.__tablename__] += 1
    if dropped:
        moved[f"{Unsubscribe.__tablename__}.duplicates_dropped"] = dropped
    # A driver row that would clash with one the target already has is simply dropped.
    target_drives = set(db.session.scalars(select(VehicleDriver.vehicle_id).where(VehicleDriver.client_id == target.id)))
    for driver in db.session.scalars(select(VehicleDriver).where(VehicleDriver.client_id == source.id)):
        if driver.vehicle_id in target_drives:
            db.session.delete(driver)
        else:
            driver.client_id = target.id
    target.phones = target.phones + [p for p in source.phones if p not in target.phones]
    target.emails = target.emails + [e for e in source.emails if e.lower() not in [x.lower() for x in target.emails]]
    for field in ("inn", "kpp", "legal_address", "bank_name", "bank_bik", "bank_account", "bank_corr_account",
                  "source"):
        if not getattr(target, field) and getattr(source, field):
            setattr(target, field, getattr(source, field))
    for flag in ("is_client", "is_supplier", "is_insurer"):
        setattr(target, flag, getattr(target, flag) or getattr(source, flag))
    if source.notes:
        target.notes = (target.notes + "\n" if target.notes else "") + source.notes
    # Other plugins (work orders, invoices, bookings...) repoint their rows before the source goes.
    for plugin_moved in hooks().crm_clients_merged(target_id=target.id, source_id=source.id) or []:
        if isinstance(plugin_moved, dict):
            moved.update(plugin_moved)
    db.session.flush()
    audit.record("merge", target, user=user,
                 changes={"merged_client": [before_source, None], "moved": [None, moved],
                          **audit.diff(before_target, _snapshot(target))})
    audit.record("delete", source, user=user, changes={"merged_into": [None, target.id]})
    db.session.delete(source)
    db.session.flush()
    return moved


# --- service book ----------------------------------------------------------------------------------


def manual_entries(vehicle_id: int) -> list[dict]:
    rows = db.session.scalars(select(ServiceEntry).where(ServiceEntry.vehicle_id == vehicle_id))
    return [{"date": r.performed_on, "mileage": r.mileage, "work": [r.description], "parts": list(r.parts or []),
             "performed_by": r.performed_by, "amount": r.amount, "source": "crm.manual",
             "reference": {"resource": "service-entries", "id": r.id}} for r in rows]


def _iso(value):
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def service_book(vehicle: Vehicle) -> list[dict]:
    """Every plugin's entries for the car (``crm_service_book_entries``), newest first."""
    entries: list[dict] = []
    for result in hooks().crm_service_book_entries(vehicle_id=vehicle.id) or []:
        entries.extend(result or [])
    for e in entries:
        e["date"] = _iso(e.get("date"))
        if isinstance(e.get("amount"), Decimal):
            e["amount"] = str(e["amount"])
        e.setdefault("parts", [])
        e.setdefault("work", [])
    entries.sort(key=lambda e: (e.get("date") or "", e.get("mileage") or 0), reverse=True)
    return entries


def last_visits(vehicle_ids: list[int]) -> dict[int, dict]:
    """The last visit per vehicle, from whichever plugin knows visits (the workshop): ``{}`` until one
    implements ``crm_last_visits``."""
    out: dict[int, dict] = {}
    if not vehicle_ids:
        return out
    for result in hooks().crm_last_visits(vehicle_ids=list(vehicle_ids)) or []:
        for vid, visit in (result or {}).items():
            if vid not in out or (_iso(visit.get("date")) or "") > (_iso(out[vid].get("date")) or ""):
                out[vid] = {**visit, "date": _iso(visit.get("date"))}
    return out


# --- recommendations -------------------------------------------------------------------------------

RECOMMENDATION_MOVES = {
    "open": {"accepted", "declined", "dismissed"},
    "declined": {"accepted", "dismissed", "open"},  # the client may say yes at the next visit
    "accepted": {"open"},  # the job was not done after all
    "dismissed": {"open"},
}


def decide_recommendation(rec: Recommendation, state: str, user=None) -> Recommendation:
    if state not in RECOMMENDATION_MOVES.get(rec.state, set()):
        raise CrmError(_l("A recommendation in state %(from)s cannot become %(to)s.", **{"from": rec.state, "to": state}),
                       field="state", status=409)
    before = rec.state
    now = utcnow()
    rec.state = state
    rec.decided_at = now if state != "open" else None
    if state == "declined":
        rec.declined_at = now
    db.session.flush()
    audit.record("transition", rec, user=user, changes={"state": [before, state]})
    return rec


def open_recommendations(vehicle_id: int) -> list[Recommendation]:
    return list(db.session.scalars(
        select(Recommendation).where(Recommendation.vehicle_id == vehicle_id,
                                     Recommendation.state.in_(("open", "declined")))
        .order_by(Recommendation.created_at.desc(), Recommendation.id.desc())))


def search_key_count() -> int:
    return db.session.scalar(select(func.count()).select_from(SearchKey)) or 0


__all__ = ["CrmError", "add_reading", "mileage", "duplicates", "merge_clients", "service_book", "last_visits",
           "decide_recommendation", "open_recommendations", "ClientEmail"]
