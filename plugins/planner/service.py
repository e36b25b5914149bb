"""The planner's rules, shared by the API, the UI pages, the public page and the demo data.

* Time: the shop's wall clock is ``Tenant.timezone`` (zoneinfo). Bookings are instants in UTC; a local
  date-time that does not exist (the hour skipped when DST starts) is refused, an ambiguous one (the
  hour repeated when DST ends) means its first occurrence.
* Capacity: a bay is open during the working hours of the weekday (its own override rows, else the
  shop's), minus breaks, never on a day off. A booking must lie inside one open interval.
* No double booking: before looking for overlaps the bays are locked inside the same transaction
  (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite a write to the bay rows takes the database's
  single write lock), so two concurrent requests for one slot cannot both see it free.
* Buffers (``planner.advanced``): a share of each bay's capacity of the day (``buffer_percent``, per
  tenant, a bay may override it) is kept free for walk-ins and overruns. Slot search, the earliest fit
  and the public page offer only what still leaves the buffer free; staff may still book over it by
  hand (the day load then shows the bay over its bookable hours). No padding after each booking: the
  slot grid and the buffer share cover what it was for.
* Sequences (``planner.advanced``): a booking with ``segments`` holds its bays one after another
  (diagnostics 30 min, then a lift 90 min); conflicts are checked per segment under the same bay locks.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import or_, select, text, update

from core import audit, events
from core.db import db, tenant_sql
from core.i18n import domain
from core.models import Tenant, User
from core.tenancy import current_tenant

from .models import BAY_TYPES, RELEASED_STATUSES, SOURCES, Bay, Booking, BookingBay, BookingSegment
from .settings import load_settings

_ = domain("planner").gettext

ADVANCED = "planner.advanced"
MAX_DURATION_MINUTES = 24 * 60
MAX_SEGMENTS = 10

# action -> (statuses it applies to, resulting status)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "confirm": (("requested",), "confirmed"),
    "arrive": (("requested", "confirmed"), "arrived"),
    "no-show": (("requested", "confirmed"), "no_show"),
    "cancel": (("requested", "confirmed", "arrived"), "cancelled"),
    # Only through convert_booking (a plugin makes the document): a car may be received straight away.
    "convert": (("requested", "confirmed", "arrived"), "converted"),
}
STATUS_ACTION = {target: action for action, (_sources, target) in TRANSITIONS.items()}


class PlannerError(Exception):
    """A refused planner operation. ``status`` is the HTTP status; ``errors`` maps fields to messages."""

    def __init__(self, message: str, status: int = 422, field_name: str | None = None,
                 conflict: Booking | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.field_name = field_name
        self.conflict = conflict

    @property
    def errors(self) -> dict:
        return {self.field_name: [self.message]} if self.field_name else {}


# --- time --------------------------------------------------------------------------------------------

def tenant_row() -> Tenant:
    # The request already loaded the tenant: this is normally an identity-map hit, not a query.
    return db.session.get(Tenant, current_tenant().id)


def tenant_zone(tenant: Tenant | None = None) -> ZoneInfo:
    tenant = tenant or tenant_row()
    try:
        return ZoneInfo(tenant.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_instant(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``clock`` on ``day`` (first occurrence when ambiguous; a time in
    the DST gap moves forward by the gap, which is what a shop's opening time means that day)."""
    naive = datetime.combine(day, clock)
    return naive.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)


def parse_local(value, tz: ZoneInfo) -> datetime:
    """A local ISO date-time (``2026-03-29T10:00``; an explicit offset is honoured) -> aware UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError as exc:
            raise PlannerError(_("Not a valid date and time (use YYYY-MM-DDTHH:MM)."), field_name="start") from exc
    if parsed.tzinfo is not None:
        return parsed.astimezone(timezone.utc)
    aware = parsed.replace(tzinfo=tz, fold=0)
    # A wall-clock time skipped by a DST change does not survive the round trip.
    if aware.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) != parsed:
        raise PlannerError(_("%(time)s does not exist in time zone %(zone)s (the clocks are moved forward).",
                             time=parsed.strftime("%Y-%m-%d %H:%M"), zone=str(tz)), field_name="start")
    return aware.astimezone(timezone.utc)


def to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz)


def local_iso(instant: datetime, tz: ZoneInfo) -> str:
    return instant.astimezone(tz).isoformat(timespec="minutes")


def parse_day(value) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError) as exc:
        raise PlannerError(_("Not a valid date (use YYYY-MM-DD)."), field_name="date") from exc


def day_range_utc(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Local midnight to next local midnight (23 or 25 hours long on DST days)."""
    return local_instant(day, time(0), tz), local_instant(day + timedelta(days=1), time(0), tz)


# --- the shop's working time ---------------------------------------------------------------------------

Interval = tuple[datetime, datetime]


def _subtract(intervals: list[Interval], cut: Interval) -> list[Interval]:
    out = []
    for start, end in intervals:
        if cut[1] <= start or cut[0] >= end:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0]))
        if cut[1] < end:
            out.append((cut[1], end))
    return out


@dataclass
class Schedule:
    """The tenant's working time, loaded once (three small queries) and asked per day and bay."""

    tz: ZoneInfo
    hours: dict[tuple[int, int | None], list[tuple[time, time]]] = field(default_factory=dict)
    breaks: list[tuple[int | None, time, time]] = field(default_factory=list)
    days_off: dict[date, str] = field(default_factory=dict)

    @classmethod
    def load(cls, tz: ZoneInfo | None = None, days: tuple[date, date] | None = None) -> "Schedule":
        """Hours, breaks and days off (within ``days`` when given) in one round trip: the three small
        tables in one UNION ALL through :func:`core.db.tenant_sql` (every part bound to the tenant)."""
        sched = cls(tz=tz or tenant_zone())
        first, last = days or (date(1, 1, 1), date(9999, 12, 31))
        rows = tenant_sql(
            "SELECT 'h' AS kind, weekday, bay_id, opens AS t1, closes AS t2, CAST(NULL AS DATE) AS day,"
            " CAST(NULL AS VARCHAR(120)) AS title FROM planner_working_hours WHERE tenant_id = :tenant_id"
            " UNION ALL SELECT 'b', weekday, CAST(NULL AS INTEGER), starts, ends, CAST(NULL AS DATE), title"
            " FROM planner_break WHERE tenant_id = :tenant_id"
            " UNION ALL SELECT 'd', CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS TIME),"
            " CAST(NULL AS TIME), day, title FROM planner_day_off"
            " WHERE tenant_id = :tenant_id AND day >= :first AND day <= :last",
            first=first, last=last).all()
        # SQLite hands times and dates back as ISO text, PostgreSQL as objects.
        as_time = lambda v: time.fromisoformat(v) if isinstance(v, str) else v  # noqa: E731
        for kind, weekday, bay_id, t1, t2, day, title in sorted(rows, key=lambda r: (r[0], str(r[3]))):
            if kind == "h":
                sched.hours.setdefault((weekday, bay_id), []).append((as_time(t1), as_time(t2)))
            elif kind == "b":
                sched.breaks.append((weekday, as_time(t1), as_time(t2)))
            else:
                sched.days_off[date.fromisoformat(day) if isinstance(day, str) else day] = title or ""
        return sched

    def open_intervals(self, day: date, bay_id: int | None = None) -> list[Interval]:
        if day in self.days_off:
            return []
        weekday = day.weekday()
        spans = self.hours.get((weekday, bay_id)) if bay_id is not None else None
        if spans is None:
            spans = self.hours.get((weekday, None), [])
        intervals = [(local_instant(day, o, self.tz), local_instant(day, c, self.tz)) for o, c in spans]
        for wd, starts, ends in self.breaks:
            if wd is None or wd == weekday:
                intervals = _subtract(intervals, (local_instant(day, starts, self.tz), local_instant(day, ends, self.tz)))
        return [iv for iv in intervals if iv[0] < iv[1]]

    def capacity_minutes(self, day: date, bay_id: int) -> int:
        return sum(int((e - s).total_seconds() // 60) for s, e in self.open_intervals(day, bay_id))


def check_working_time(schedule: Schedule, bay_ids: list[int], start: datetime, end: datetime) -> None:
    tz = schedule.tz
    day = start.astimezone(tz).date()
    if day in schedule.days_off:
        title = schedule.days_off[day]
        raise PlannerError(_("The shop is closed on %(day)s%(title)s.", day=day.isoformat(),
                             title=f" ({title})" if title else ""), field_name="start")
    for bay_id in bay_ids:
        if not any(s <= start and end <= e for s, e in schedule.open_intervals(day, bay_id)):
            opening = schedule.open_intervals(day, bay_id)
            if not opening:
                raise PlannerError(_("The shop does not work on %(day)s.", day=day.isoformat()), field_name="start")
            hours = ", ".join(f"{s.astimezone(tz):%H:%M}–{e.astimezone(tz):%H:%M}" for s, e in opening)
            raise PlannerError(_("The booking must fit into the working hours (%(hours)s) and not overlap a break.",
                                 hours=hours), field_name="start")


# --- bays and conflicts -----------------------------------------------------------------------------------

def lock_bays(bay_ids: list[int]) -> list[Bay]:
    """Lock the bays for the rest of the transaction (always in id order, so two bookings over the same
    bays cannot deadlock) and return them."""
    ids = sorted(set(bay_ids))
    if db.session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: a (no-op) write takes its one write lock until commit, so the
        # overlap check below and the insert run as one serialised unit.
        db.session.execute(update(Bay).where(Bay.id.in_(ids)).values(position=Bay.position)
                           .execution_options(synchronize_session=False))
        bays = list(db.session.scalars(select(Bay).where(Bay.id.in_(ids)).order_by(Bay.id)))
    else:
        bays = list(db.session.scalars(select(Bay).where(Bay.id.in_(ids)).order_by(Bay.id)
                                       .with_for_update(of=Bay)))
    return bays


def overlapping(start: datetime, end: datetime) -> tuple:
    """Bookings overlapping [start, end). The lower bound on ``start_at`` (no booking is longer than
    MAX_DURATION_MINUTES) keeps it one narrow range of the (tenant_id, [bay_id,] start_at) indexes
    instead of every booking since the shop opened."""
    return (Booking.start_at < end, Booking.start_at > start - timedelta(minutes=MAX_DURATION_MINUTES),
            Booking.end_at > start)


def segment_overlapping(start: datetime, end: datetime) -> tuple:
    """Segments overlapping [start, end) (the same narrow range as :func:`overlapping`)."""
    return (BookingSegment.start_at < end,
            BookingSegment.start_at > start - timedelta(minutes=MAX_DURATION_MINUTES),
            BookingSegment.end_at > start)


def find_conflict(bay_ids: list[int], start: datetime, end: datetime, exclude_id: int | None = None) -> Booking | None:
    """The earliest booking holding one of ``bay_ids`` during [start, end): a plain booking over its
    whole time, a sequential one only during its segments on those bays."""
    on_bays = or_(Booking.bay_id.in_(bay_ids),
                  Booking.id.in_(select(BookingBay.booking_id).where(BookingBay.bay_id.in_(bay_ids))))
    q = (select(Booking).where(on_bays, *overlapping(start, end), Booking.sequential.is_(False),
                               Booking.status.not_in(RELEASED_STATUSES))
         .order_by(Booking.start_at).limit(1))
    in_steps = (select(Booking).join(BookingSegment, BookingSegment.booking_id == Booking.id)
                .where(BookingSegment.bay_id.in_(bay_ids), *segment_overlapping(start, end),
                       Booking.status.not_in(RELEASED_STATUSES))
                .order_by(BookingSegment.start_at).limit(1))
    if exclude_id is not None:
        q = q.where(Booking.id != exclude_id)
        in_steps = in_steps.where(Booking.id != exclude_id)
    found = [b for b in (db.session.scalars(q).first(), db.session.scalars(in_steps).first()) if b is not None]
    return min(found, key=lambda b: b.start_at) if found else None


def lock_vehicle(vehicle_id: int) -> None:
    """Serialise bookings of one directory car for the rest of the transaction, so two concurrent
    bookings on different bays cannot both see the car free. PostgreSQL: a transaction-level advisory
    lock on (tenant, car) (the car's row belongs to the CRM, which the planner does not import);
    SQLite: :func:`lock_bays` has already taken the database's single write lock."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    # Two int4 keys: the tenant, and the car id moved out of the range other advisory users may take.
    db.session.execute(text("SELECT pg_advisory_xact_lock(:tenant, :car)"),
                       {"tenant": int(current_tenant().id), "car": -(int(vehicle_id) % 2_000_000_000) - 1})


def find_vehicle_conflict(vehicle_id: int, start: datetime, end: datetime,
                          exclude_id: int | None = None) -> Booking | None:
    """The earliest other active booking of the same directory car overlapping [start, end): one car
    cannot be on two bays at once (the steps of one sequence are one booking, so never clash)."""
    q = (select(Booking).where(Booking.vehicle_id == vehicle_id, *overlapping(start, end),
                               Booking.status.not_in(RELEASED_STATUSES))
         .order_by(Booking.start_at).limit(1))
    if exclude_id is not None:
        q = q.where(Booking.id != exclude_id)
    return db.session.scalars(q).first()


def vehicle_conflict_message(other: Booking, tz: ZoneInfo) -> str:
    return _("This car is already booked at this time: booking #%(id)s, %(start)s–%(end)s, %(client)s.",
             id=other.id, start=f"{other.start_at.astimezone(tz):%Y-%m-%d %H:%M}",
             end=f"{other.end_at.astimezone(tz):%H:%M}", client=other.client_name or "—")


def conflict_message(other: Booking, tz: ZoneInfo) -> str:
    return _("The bay is already booked at this time: booking #%(id)s, %(start)s–%(end)s, %(client)s.",
             id=other.id, start=f"{other.start_at.astimezone(tz):%Y-%m-%d %H:%M}",
             end=f"{other.end_at.astimezone(tz):%H:%M}", client=other.client_name or "—")


# --- bookings ---------------------------------------------------------------------------------------------

EDITABLE = ("bay_id", "bay_ids", "segments", "start", "duration_minutes", "client_name", "client_phone", "vehicle",
            "client_id", "vehicle_id", "reason", "planned_jobs", "advisor_id", "source")


def _snapshot(b: Booking) -> dict:
    return {"bay_ids": b.bay_ids if b.id else None,
            "segments": [[seg.bay_id, seg.duration_minutes] for seg in b.segments] if b.sequential else None,
            "start_at": b.start_at, "duration_minutes": b.duration_minutes,
            "client_name": b.client_name, "client_phone": b.client_phone, "vehicle": b.vehicle,
            "client_id": b.client_id, "vehicle_id": b.vehicle_id, "reason": b.reason,
            "planned_jobs": list(b.planned_jobs or []), "advisor_id": b.advisor_id, "status": b.status,
            "source": b.source}


def _check_crm_refs(data: dict, owner_id: int | None = None) -> dict:
    """client_id / vehicle_id point at the CRM's clients and vehicles; only with ``crm.clients`` and
    only ids of this tenant. The CRM is optional: its models come from the core's entity registry
    (never imported), and the ORM's tenant guard scopes the lookups (a plain SELECT, never the identity
    map). Returns what the booking can copy from the directory: ``client_name``, ``client_phone``,
    ``vehicle``."""
    refs = [(key, resource) for key, resource in (("client_id", "clients"), ("vehicle_id", "vehicles"))
            if data.get(key) is not None]
    found: dict = {}
    if not refs:
        return found
    tenant = current_tenant()
    entities = current_app.extensions["garage"].entities
    for key, resource in refs:
        if not tenant.has("crm.clients"):
            raise PlannerError(_("The client directory is not in your plan."), field_name=key)
        entity = entities.get(("crm", resource))
        if entity is None or "crm" not in tenant.plugins:
            raise PlannerError(_("The client directory is not available."), field_name=key)
        model = entity.model
        row = db.session.scalars(select(model).where(model.id == data[key])).first()
        if row is None:
            raise PlannerError(_("No such client.") if key == "client_id" else _("No such car."), field_name=key)
        if key == "client_id":
            found["client_name"] = getattr(row, "name", "") or ""
            phones = list(getattr(row, "phones", None) or [])
            found["client_phone"] = phones[0] if phones else ""
        else:
            # The booking's client (``owner_id``: the one chosen now, else the booking's) must own the
            # car; a car without an owner in the directory can go with any client.
            car_owner = getattr(row, "client_id", None)
            if owner_id is not None and car_owner is not None and car_owner != owner_id:
                raise PlannerError(_("This car belongs to another client."), field_name=key)
            found["vehicle"] = " ".join(str(getattr(row, c)) for c in ("make", "model", "plate")
                                        if getattr(row, c, None))
    return found


def _check_advisor(advisor_id: int | None) -> None:
    if advisor_id is not None and db.session.scalar(select(User.id).where(User.id == advisor_id)) is None:
        raise PlannerError(_("No such user."), field_name="advisor_id")


def _resolve_bays(data: dict, current: list[int] | None) -> list[int]:
    if "bay_ids" in data and data["bay_ids"] is not None:
        ids = list(dict.fromkeys(int(i) for i in data["bay_ids"]))
    elif "bay_id" in data and data["bay_id"] is not None:
        ids = [int(data["bay_id"])] + ([i for i in (current or [])[1:]] if current else [])
        ids = list(dict.fromkeys(ids))
    else:
        ids = list(current or [])
    if not ids:
        raise PlannerError(_("Choose a bay."), field_name="bay_id")
    # After a downgrade a multi-bay booking stays editable (reason, time...): only a different set of
    # bays needs planner.advanced.
    if len(ids) > 1 and not current_tenant().has(ADVANCED) and set(ids) != set(current or ()):
        raise PlannerError(_("Booking several bays at once is not in your plan."), field_name="bay_ids")
    return ids


def _segment_specs(data: dict, booking: Booking | None) -> list[dict] | None:
    """The steps of a sequential booking (``[{"bay_id" | "bay_type", "duration_minutes"}]``) from
    ``data``, or the booking's own steps when it is moved as it is; None for a plain booking."""
    if data.get("segments") is not None:
        if not current_tenant().has(ADVANCED):
            raise PlannerError(_("Booking several bays one after another is not in your plan."),
                               field_name="segments")
        if data.get("bay_id") is not None or data.get("bay_ids"):
            raise PlannerError(_("Send either the bays or the segments, not both."), field_name="segments")
        steps = list(data["segments"])
        if not 1 <= len(steps) <= MAX_SEGMENTS:
            raise PlannerError(_("A booking has 1 to %(max)s segments.", max=MAX_SEGMENTS), field_name="segments")
        for step in steps:
            if (step.get("bay_id") is None) == (not step.get("bay_type")):
                raise PlannerError(_("Each segment needs either a bay or a bay type."), field_name="segments")
            if step.get("bay_type") and step["bay_type"] not in BAY_TYPES:
                raise PlannerError(_("Unknown bay type."), field_name="segments")
            minutes = step.get("duration_minutes")
            if not isinstance(minutes, int) or isinstance(minutes, bool) or not 5 <= minutes <= MAX_DURATION_MINUTES:
                raise PlannerError(_("Each segment lasts from 5 to %(max)s minutes.", max=MAX_DURATION_MINUTES),
                                   field_name="segments")
        return steps
    if booking is None or not booking.sequential:
        return None
    given = list(dict.fromkeys(int(i) for i in data["bay_ids"])) if data.get("bay_ids") else (
        [int(data["bay_id"])] if data.get("bay_id") is not None else None)
    # Other bays: a plain booking from now on. The same bays (a form sends them back as they are, in
    # any order): still the sequence.
    if given is not None and sorted(given) != sorted(booking.bay_ids) and not (
            data.get("bay_ids") is None and given[0] == booking.bay_id):
        return None
    if data.get("duration_minutes") is not None and int(data["duration_minutes"]) != booking.duration_minutes:
        raise PlannerError(_("Change the segments to change the length of a booking in a sequence."),
                           field_name="duration_minutes")
    return [{"bay_id": seg.bay_id, "duration_minutes": seg.duration_minutes} for seg in booking.segments]


def _place_segments(steps: list[dict], start: datetime, tz: ZoneInfo, *,
                    booking: Booking | None) -> list[tuple[int, datetime, datetime, int]]:
    """Put the steps one after another from ``start``: a step with a bay type takes the first bay of
    that type (in the bays' order) that is open and free then. Every bay the steps may use is locked
    first (in id order, as for plain bookings), so concurrent bookings cannot both see a step free.
    Returns ``[(bay_id, start, end, minutes)]``; raises 422 outside working time, 409 on a conflict."""
    types = {step["bay_type"] for step in steps if step.get("bay_type")}
    wanted = {step["bay_id"] for step in steps if step.get("bay_id") is not None}
    if types:
        wanted |= set(db.session.scalars(select(Bay.id).where(Bay.type.in_(types), Bay.active.is_(True))))
    bays = {b.id: b for b in lock_bays(list(wanted))} if wanted else {}
    end_all = start + timedelta(minutes=sum(step["duration_minutes"] for step in steps))
    schedule = Schedule.load(tz, (start.astimezone(tz).date(), end_all.astimezone(tz).date()))
    exclude_id = booking.id if booking is not None else None
    held = booking.bay_ids if booking is not None else []
    placed, cursor = [], start
    for step in steps:
        minutes = step["duration_minutes"]
        until = cursor + timedelta(minutes=minutes)
        if step.get("bay_id") is not None:
            bay = bays.get(step["bay_id"])
            if bay is None or (not bay.active and bay.id not in held):
                raise PlannerError(_("No such bay."), field_name="segments")
            check_working_time(schedule, [bay.id], cursor, until)
            other = find_conflict([bay.id], cursor, until, exclude_id=exclude_id)
            if other is not None:
                raise PlannerError(conflict_message(other, tz), 409, conflict=other)
            chosen = bay
        else:
            chosen = None
            for bay in sorted((b for b in bays.values() if b.type == step["bay_type"] and b.active),
                              key=lambda b: (b.position, b.id)):
                if not any(s <= cursor and until <= e for s, e in
                           schedule.open_intervals(cursor.astimezone(tz).date(), bay.id)):
                    continue
                if find_conflict([bay.id], cursor, until, exclude_id=exclude_id) is None:
                    chosen = bay
                    break
            if chosen is None:
                raise PlannerError(_("No %(type)s bay is free from %(start)s to %(end)s.",
                                     type=bay_type_label(step["bay_type"]).lower(),
                                     start=f"{cursor.astimezone(tz):%Y-%m-%d %H:%M}",
                                     end=f"{until.astimezone(tz):%H:%M}"), 409, field_name="segments")
        placed.append((chosen.id, cursor, until, minutes))
        cursor = until
    return placed


def _sync_segments(booking: Booking, placed: list[tuple[int, datetime, datetime, int]]) -> None:
    """Rewrite the booking's segments in place (by position: no clash on the unique position key)."""
    current = list(booking.segments)
    for position, (bay_id, start, end, minutes) in enumerate(placed):
        if position < len(current):
            seg = current[position]
            seg.bay_id, seg.start_at, seg.end_at, seg.duration_minutes = bay_id, start, end, minutes
        else:
            booking.segments.append(BookingSegment(position=position, bay_id=bay_id, start_at=start, end_at=end,
                                                   duration_minutes=minutes))
    for seg in current[len(placed):]:
        booking.segments.remove(seg)


def save_booking(data: dict, booking: Booking | None = None, *, actor=None) -> Booking:
    """Create (``booking`` None) or change a booking from validated ``data``; one transaction with the
    caller's commit. Raises PlannerError (422 bad input / outside hours, 409 overlap or stale version)."""
    tz = tenant_zone()
    creating = booking is None
    if not creating and data.get("version") is not None and int(data["version"]) != booking.version:
        raise PlannerError(_("This booking was changed by someone else meanwhile. Reload it and try again."), 409)
    if not creating and booking.status in RELEASED_STATUSES + ("converted",):
        raise PlannerError(_("A booking that is %(status)s cannot be changed.", status=status_label(booking.status)),
                           409)
    before = None if creating else _snapshot(booking)
    steps = _segment_specs(data, booking)
    if steps is None:
        bay_ids = _resolve_bays(data, None if creating or booking.sequential else booking.bay_ids)
    start = parse_local(data["start"], tz) if data.get("start") is not None else (None if creating else booking.start_at)
    if start is None:
        raise PlannerError(_("Enter the start time."), field_name="start")
    if steps is not None:
        duration = sum(step["duration_minutes"] for step in steps)
    else:
        duration = int(data.get("duration_minutes") or (0 if creating else booking.duration_minutes))
    if not duration and data.get("planned_jobs"):
        duration = jobs_minutes([str(j) for j in data["planned_jobs"]], data.get("vehicle_id")) or 0
        if not duration:
            raise PlannerError(_("None of the planned jobs is in the job catalog: enter the duration."),
                               field_name="duration_minutes")
    if not 0 < duration <= MAX_DURATION_MINUTES:
        raise PlannerError(_("The duration must be between 1 and %(max)s minutes.", max=MAX_DURATION_MINUTES),
                           field_name="duration_minutes")
    end = start + timedelta(minutes=duration)
    refs = dict(data)
    if not creating and data.get("client_id") is not None and "vehicle_id" not in data and booking.vehicle_id:
        refs["vehicle_id"] = booking.vehicle_id  # a new client: the car already booked must be theirs
    from_directory = _check_crm_refs(refs, data["client_id"] if "client_id" in data
                                     else (None if creating else booking.client_id))
    if "advisor_id" in data:
        _check_advisor(data.get("advisor_id"))

    placed = None
    if steps is not None:
        unchanged = (not creating and booking.sequential and data.get("segments") is None
                     and start == booking.start_at)
        if not unchanged:
            placed = _place_segments(steps, start, tz, booking=None if creating else booking)
        bay_ids = list(dict.fromkeys(p[0] for p in placed)) if placed else booking.bay_ids
    else:
        bays = lock_bays(bay_ids)
        found = {b.id: b for b in bays}
        for bay_id in bay_ids:
            bay = found.get(bay_id)
            # A bay taken out of service takes no new bookings; those already on it can still be edited.
            if bay is None or (not bay.active and (creating or bay_id not in booking.bay_ids)):
                raise PlannerError(_("No such bay."), field_name="bay_id" if len(bay_ids) == 1 else "bay_ids")
    moved = steps is None and (creating or booking.sequential or start != booking.start_at
                               or end != booking.end_at or bay_ids != booking.bay_ids)
    if moved:
        check_working_time(Schedule.load(tz, (start.astimezone(tz).date(),) * 2), bay_ids, start, end)
        other = find_conflict(bay_ids, start, end, exclude_id=None if creating else booking.id)
        if other is not None:
            raise PlannerError(conflict_message(other, tz), 409, conflict=other)
    vehicle_id = data["vehicle_id"] if "vehicle_id" in data else (None if creating else booking.vehicle_id)
    if vehicle_id is not None and (creating or placed is not None or moved or start != booking.start_at
                                   or end != booking.end_at or vehicle_id != booking.vehicle_id):
        lock_vehicle(int(vehicle_id))
        other = find_vehicle_conflict(int(vehicle_id), start, end, exclude_id=None if creating else booking.id)
        if other is not None:
            raise PlannerError(vehicle_conflict_message(other, tz), 409, conflict=other)

    if creating:
        booking = Booking(status=data.get("status") or "confirmed", source=data.get("source") or "phone")
        if booking.status not in ("requested", "confirmed", "arrived"):
            raise PlannerError(_("A new booking can be requested, confirmed or arrived."), field_name="status")
        if booking.source not in SOURCES:
            raise PlannerError(_("Unknown source."), field_name="source")
        db.session.add(booking)
    booking.bay_id = bay_ids[0]
    booking.start_at, booking.end_at, booking.duration_minutes = start, end, duration
    for key in ("client_name", "client_phone", "vehicle", "reason"):
        if key in data and data[key] is not None and str(data[key]).strip():
            setattr(booking, key, str(data[key]).strip())
        elif from_directory.get(key) and (creating or not getattr(booking, key)):
            setattr(booking, key, from_directory[key])  # typed text wins; the directory fills gaps
        elif key in data and data[key] is not None:
            setattr(booking, key, "")
    for key in ("client_id", "vehicle_id", "advisor_id"):
        if key in data:
            setattr(booking, key, data[key])
    if "planned_jobs" in data and data["planned_jobs"] is not None:
        booking.planned_jobs = [str(j).strip() for j in data["planned_jobs"] if str(j).strip()]
    if creating and actor is not None and booking.advisor_id is None and "advisor_id" not in data:
        booking.advisor_id = getattr(actor, "id", None)
    if steps is not None:
        booking.sequential = True
        for link in list(booking.extra_bays):
            booking.extra_bays.remove(link)
        if placed is not None:
            _sync_segments(booking, placed)
    else:
        booking.sequential = False
        for seg in list(booking.segments):
            booking.segments.remove(seg)
        wanted_extra = bay_ids[1:]
        current_extra = {link.bay_id: link for link in booking.extra_bays}
        for bay_id, link in current_extra.items():
            if bay_id not in wanted_extra:
                booking.extra_bays.remove(link)
        for bay_id in wanted_extra:
            if bay_id not in current_extra:
                booking.extra_bays.append(BookingBay(bay_id=bay_id))
    db.session.flush()
    if creating:
        audit.record("create", booking, changes={k: [None, v] for k, v in _snapshot(booking).items()}, user=actor)
        # Made confirmed (the staff's forms) or requested (the online page): the same news as a status
        # button, e.g. the CRM's "booking confirmed" message to the client.
        emit_status(booking)
    else:
        changes = audit.diff(before, _snapshot(booking))
        if changes:
            audit.record("update", booking, changes=changes, user=actor)
    return booking


def apply_transition(booking: Booking, action: str, *, actor=None, _converting: bool = False) -> Booking:
    if action == "convert" and not _converting:
        return convert_booking(booking, actor=actor)
    if action not in TRANSITIONS:
        raise PlannerError(_("Unknown action."), 404)
    sources, target = TRANSITIONS[action]
    if booking.status not in sources:
        raise PlannerError(_("A booking that is %(status)s cannot be moved to %(target)s.",
                             status=status_label(booking.status), target=status_label(target)), 409)
    before = booking.status
    booking.status = target
    db.session.flush()
    audit.record("transition", booking, changes={"status": [before, target]}, user=actor)
    emit_status(booking)
    return booking


def emit_status(booking: Booking) -> None:
    """``planner.booking.<status>`` for other plugins, after commit (e.g. the CRM sends "booking
    confirmed" to the client)."""
    events.emit(f"planner.booking.{booking.status}", booking_id=booking.id, client_id=booking.client_id,
                vehicle_id=booking.vehicle_id, client_name=booking.client_name, client_phone=booking.client_phone,
                start_at=f"{booking.start_at.astimezone(tenant_zone()):%Y-%m-%d %H:%M}", source=booking.source)


# --- other plugins: converting into a service order, parts, the job catalog ------------------------------

def tenant_hooks():
    """The tenant's hook proxy: plugins the tenant does not have are never asked."""
    return current_app.extensions["garage"].hooks_for(current_tenant().plugins)


def can_convert() -> bool:
    """Some plugin of the tenant's plan offers to convert bookings (the workshop's service orders)."""
    return bool(tenant_hooks().planner_booking_convert.get_hookimpls())


def booking_for_hooks(booking: Booking) -> dict:
    """The booking as other plugins see it (``planner_booking_convert``): plain values only."""
    tz = tenant_zone()
    bay = db.session.scalar(select(Bay.name).where(Bay.id == booking.bay_id))
    return {"id": booking.id, "start": local_iso(booking.start_at, tz), "end": local_iso(booking.end_at, tz),
            "duration_minutes": booking.duration_minutes, "bay_id": booking.bay_id, "bay": bay or "",
            "client_id": booking.client_id, "vehicle_id": booking.vehicle_id, "client_name": booking.client_name,
            "client_phone": booking.client_phone, "vehicle": booking.vehicle, "reason": booking.reason,
            "planned_jobs": list(booking.planned_jobs or []), "advisor_id": booking.advisor_id}


def convert_booking(booking: Booking, *, actor=None) -> dict:
    """Open a service order (or whatever document a plugin makes) from the booking, in the caller's
    transaction, then move the booking to ``converted`` and keep the link. Converting again is a 409
    naming the document already made; no plugin to convert: 409; a plugin's refusal keeps its status."""
    if booking.status == "converted" and booking.converted_to:
        raise ConvertedAlready(booking.converted_to)
    sources, _target = TRANSITIONS["convert"]
    if booking.status not in sources:
        raise PlannerError(_("A booking that is %(status)s cannot be moved to %(target)s.",
                             status=status_label(booking.status), target=status_label("converted")), 409)
    result = tenant_hooks().planner_booking_convert(booking=booking_for_hooks(booking), actor=actor)
    if not result:
        raise PlannerError(_("Nothing in your plan can open a service order from a booking."), 409)
    if result.get("error"):
        codes = {"client_required": _("Choose the client and the car from the client directory first: "
                                      "a service order needs them."),
                 "forbidden": _("You do not have permission to open service orders.")}
        status = int(result.get("status") or 422)
        raise PlannerError(codes.get(result["error"], str(result["error"])), status,
                           field_name="client_id" if result["error"] == "client_required" else None)
    link = {"resource": str(result.get("resource") or ""), "id": result.get("id"),
            "number": str(result.get("number") or ""), "url": str(result.get("url") or "")}
    if not (link["url"].startswith("/") and not link["url"].startswith("//")):
        link["url"] = ""  # only links within the site
    booking.converted_to = link
    apply_transition(booking, "convert", actor=actor, _converting=True)
    audit.record("convert", booking, changes={"converted_to": [None, link]}, user=actor)
    return link


PLATE_WORD = re.compile(r"^(?=.*\d)(?=.*[^\W\d_])[^\W_]{4,12}$")


def vehicle_parts(text: str | None) -> dict:
    """A car typed as free text (``Kia Rio, А123ВС777``) read as ``make``, ``model`` and ``plate``: the
    last word of 4-12 letters and digits with both in it is the plate, the first other word the make,
    the rest the model. A first guess for the user to correct, never stored as such."""
    words = [w for w in re.split(r"[\s,;]+", text or "") if w]
    plate = next((w for w in reversed(words) if PLATE_WORD.match(w)), "")
    rest = [w for w in words if w != plate]
    return {"make": rest[0] if rest else "", "model": " ".join(rest[1:]), "plate": plate, "text": text or ""}


def can_link_directory() -> bool:
    """Some plugin of the tenant's plan finds or adds a booking's client and car (the CRM)."""
    return bool(tenant_hooks().planner_client_from_booking.get_hookimpls())


def directory_match(client: dict, vehicle: dict, *, create: bool, actor=None) -> dict | None:
    """The directory's answer to ``planner_client_from_booking`` (None: no directory); a refusal raises
    PlannerError on the field it names."""
    result = tenant_hooks().planner_client_from_booking(client=client, vehicle=vehicle, create=create, actor=actor)
    if result and result.get("error"):
        status = int(result.get("status") or 422)
        if result["error"] == "forbidden":
            raise PlannerError(_("You may not add clients or cars to the client directory."), 403)
        raise PlannerError(str(result["error"]), status, field_name=result.get("field"))
    return result


def link_to_directory(booking: Booking, client: dict, vehicle: dict, *, actor=None) -> Booking:
    """Link a booking typed as free text to the directory's client and car, found by phone and plate
    or made from ``client`` (``name``, ``phone``) and ``vehicle`` (``make``, ``model``, ``plate``), in
    the caller's transaction: the booking then can become a service order."""
    found = directory_match(client, vehicle, create=True, actor=actor)
    if not found or not found.get("client_id") or not found.get("vehicle_id"):
        raise PlannerError(_("The client directory is not available."), 409)
    data = {"client_id": found["client_id"], "vehicle_id": found["vehicle_id"],
            "client_name": client.get("name") or found.get("client_name") or "",
            "client_phone": client.get("phone") or "", "vehicle": found.get("vehicle") or vehicle.get("text") or ""}
    return save_booking(data, booking, actor=actor)


class ConvertedAlready(PlannerError):
    def __init__(self, link: dict):
        super().__init__(_("This booking is already %(number)s.", number=link.get("number") or "#"), 409)
        self.link = link


def parts_status(booking_ids: list[int]) -> dict[int, str] | None:
    """{booking_id: text} from the plugins that answer ``planner_booking_parts_status`` (the warehouse);
    None when no plugin answers, so the column is left out."""
    if not booking_ids:
        return None
    answers = [a for a in tenant_hooks().planner_booking_parts_status(booking_ids=list(booking_ids))
               if a is not None]
    if not answers:
        return None
    out: dict[int, str] = {}
    for answer in answers:
        for key, text in dict(answer).items():
            if key in booking_ids and text:
                out[key] = "; ".join(filter(None, (out.get(key), str(text))))
    return out


def job_catalog(query: str = "", vehicle_id: int | None = None) -> list[dict]:
    """The shop's jobs from the plugins that answer ``planner_job_catalog`` (the workshop), with the
    minutes each takes on the planner (standard hours rounded up to the slot)."""
    from decimal import Decimal, InvalidOperation

    step = load_settings(tenant_row())["slot_minutes"]
    seen, out = set(), []
    for answer in tenant_hooks().planner_job_catalog(query=query or "", vehicle_id=vehicle_id):
        for item in answer or []:
            name = str(item.get("name") or "").strip()
            if not name or name.casefold() in seen:
                continue
            seen.add(name.casefold())
            try:
                hours = Decimal(str(item.get("standard_hours") or 0))
            except InvalidOperation:
                hours = Decimal(0)
            bay_type = item.get("bay_type") if item.get("bay_type") in BAY_TYPES else None
            out.append({"code": item.get("code") or None, "name": name, "standard_hours": hours,
                        "minutes": round_to_slot(hours * 60, step), "bay_type": bay_type})
    return out[:50]


def round_to_slot(minutes, step: int) -> int:
    """Minutes rounded up to whole slots (at least one slot)."""
    return max(1, math.ceil(minutes / step)) * step


def jobs_minutes(jobs: list[str], vehicle_id: int | None = None) -> int | None:
    """The duration of the planned jobs from the catalog: their standard hours added up, rounded up to
    the tenant's slot; None when no job is in the catalog."""
    from decimal import Decimal

    hours, found = Decimal(0), False
    for job in jobs:
        wanted = job.strip().casefold()
        match = next((item for item in job_catalog(job, vehicle_id)
                      if item["name"].casefold() == wanted or (item["code"] or "").casefold() == wanted), None)
        if match is not None:
            hours += match["standard_hours"]
            found = True
    if not found or hours <= 0:
        return None
    return round_to_slot(hours * 60, load_settings(tenant_row())["slot_minutes"])


def planned_visits(date_to: date) -> list[dict]:
    """Bookings of directory clients still to come (requested or confirmed) up to ``date_to`` (the
    shop's local date), in one query: the "booked" visits of the CRM's client-activity report."""
    zone = tenant_zone()
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone).astimezone(timezone.utc)
    rows = db.session.execute(select(Booking.client_id, Booking.start_at, Booking.advisor_id)
                              .where(Booking.client_id.is_not(None), Booking.status.in_(("requested", "confirmed")),
                                     Booking.start_at < end))
    visits = []
    for client_id, start_at, advisor_id in rows:
        if start_at.tzinfo is None:  # SQLite hands back the stored UTC time without its zone
            start_at = start_at.replace(tzinfo=timezone.utc)
        visits.append({"client_id": client_id, "date": start_at.astimezone(zone).date(), "amount": None,
                       "booked": True, "advisor_id": advisor_id})
    return visits


def status_label(status: str) -> str:
    labels = {
        "requested": _("requested"), "confirmed": _("confirmed"), "arrived": _("arrived"),
        "converted": _("converted to an order"), "no_show": _("no-show"), "cancelled": _("cancelled"),
    }
    return labels.get(status, status)


def bay_type_label(bay_type: str) -> str:
    labels = {"lift": _("Lift"), "alignment": _("Alignment"), "diagnostics": _("Diagnostics"),
              "body": _("Body"), "other": _("Other")}
    return labels.get(bay_type, bay_type)


# --- reading: the day, free slots ---------------------------------------------------------------------

def active_bays(bay_type: str | None = None) -> list[Bay]:
    q = select(Bay).where(Bay.active.is_(True)).order_by(Bay.position, Bay.id)
    if bay_type:
        if bay_type not in BAY_TYPES:
            raise PlannerError(_("Unknown bay type."), field_name="bay_type")
        q = q.where(Bay.type == bay_type)
    return list(db.session.scalars(q))


def bookings_between(start: datetime, end: datetime, *, include_released: bool = False) -> list[Booking]:
    q = select(Booking).where(*overlapping(start, end)).order_by(Booking.start_at, Booking.id)
    if not include_released:
        q = q.where(Booking.status.not_in(RELEASED_STATUSES))
    return list(db.session.scalars(q))


def segments_json(b: Booking, tz: ZoneInfo) -> list[dict]:
    return [{"bay_id": seg.bay_id, "start": local_iso(seg.start_at, tz), "end": local_iso(seg.end_at, tz),
             "duration_minutes": seg.duration_minutes} for seg in b.segments] if b.sequential else []


def booking_json(b: Booking, tz: ZoneInfo) -> dict:
    return {
        "id": b.id, "bay_id": b.bay_id, "bay_ids": b.bay_ids, "start": local_iso(b.start_at, tz),
        "end": local_iso(b.end_at, tz), "duration_minutes": b.duration_minutes, "client_name": b.client_name,
        "client_phone": b.client_phone, "vehicle": b.vehicle, "client_id": b.client_id, "vehicle_id": b.vehicle_id,
        "reason": b.reason, "planned_jobs": list(b.planned_jobs or []), "advisor_id": b.advisor_id,
        "status": b.status, "source": b.source, "version": b.version, "converted_to": b.converted_to,
        "segments": segments_json(b, tz),
    }


DAY_COLUMNS = (Booking.id, Booking.bay_id, Booking.start_at, Booking.end_at, Booking.duration_minutes,
               Booking.client_name, Booking.client_phone, Booking.vehicle, Booking.client_id, Booking.vehicle_id,
               Booking.reason, Booking.planned_jobs, Booking.advisor_id, Booking.status, Booking.source,
               Booking.version, Booking.converted_to, Booking.sequential)


def shop_buffer_percent(tenant: Tenant) -> int:
    """The tenant's ``buffer_percent`` setting without a full settings load (the day view is the hot
    read); a stored value that no longer validates counts as the default, 0, as in load_settings."""
    value = ((tenant.plugin_settings or {}).get("planner") or {}).get("buffer_percent", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 90 else 0


def buffer_percent_of(bay_percent: int | None, settings: dict) -> int:
    """A bay's own buffer share, else the shop's."""
    return settings["buffer_percent"] if bay_percent is None else bay_percent


def load_figures(capacity: float, buffer_percent: int, booked: float) -> dict:
    """The day load of one bay (or the whole shop) from minutes: capacity, the buffer kept free, what
    is left to book, booked hours and the load in % of capacity; ``into_buffer_hours`` > 0 when staff
    booked over the bookable hours (allowed by hand, never offered by slot search)."""
    buffer = capacity * buffer_percent / 100
    bookable = capacity - buffer
    hours = lambda minutes: round(minutes / 60, 2)  # noqa: E731
    return {"capacity_hours": hours(capacity), "buffer_percent": buffer_percent, "buffer_hours": hours(buffer),
            "bookable_hours": hours(bookable), "booked_hours": hours(booked),
            "free_hours": hours(max(bookable - booked, 0)), "into_buffer_hours": hours(max(booked - bookable, 0)),
            "percent": round(100 * booked / capacity) if capacity else None}


def day_view(day: date, *, with_load: bool) -> dict:
    """Bays, the day's bookings (all states), opening hours per bay and, with ``with_load``, the load
    per bay and for the day (:func:`load_figures`). The hot read of the planner: plain column rows
    instead of ORM objects, one query for the further bays of multi-bay jobs and (only when the day
    has sequential bookings) one for their segments (see bench/planner_day.py)."""
    tz = tenant_zone()
    start, end = day_range_utc(day, tz)
    bay_columns = (Bay.id, Bay.name, Bay.type, Bay.buffer_percent)
    bays = db.session.execute(select(*bay_columns).where(Bay.active.is_(True))
                              .order_by(Bay.position, Bay.id)).all()
    rows = db.session.execute(select(*DAY_COLUMNS).where(*overlapping(start, end))
                              .order_by(Booking.start_at, Booking.id)).all()
    extra: dict[int, list[int]] = {}
    steps: dict[int, list] = {}
    if rows:
        # A join on the same range rather than IN (ids): no per-id bind parameters to build.
        for booking_id, bay_id in db.session.execute(
                select(BookingBay.booking_id, BookingBay.bay_id).join(Booking, Booking.id == BookingBay.booking_id)
                .where(*overlapping(start, end)).order_by(BookingBay.bay_id)):
            extra.setdefault(booking_id, []).append(bay_id)
    if any(r.sequential for r in rows):
        for seg in db.session.execute(
                select(BookingSegment.booking_id, BookingSegment.bay_id, BookingSegment.start_at,
                       BookingSegment.end_at, BookingSegment.duration_minutes)
                .join(Booking, Booking.id == BookingSegment.booking_id)
                .where(*overlapping(start, end)).order_by(BookingSegment.booking_id, BookingSegment.position)):
            steps.setdefault(seg.booking_id, []).append(seg)
    bookings = []
    for r in rows:
        item = r._asdict()
        if r.sequential:
            item["bay_ids"] = list(dict.fromkeys(seg.bay_id for seg in steps.get(r.id, ())))
            item["segments"] = [{"bay_id": seg.bay_id, "start": local_iso(seg.start_at, tz),
                                 "end": local_iso(seg.end_at, tz), "duration_minutes": seg.duration_minutes}
                                for seg in steps.get(r.id, ())]
        else:
            item["bay_ids"] = [r.bay_id, *extra.get(r.id, ())]
            item["segments"] = []
        item["start"] = local_iso(item.pop("start_at"), tz)
        item["end"] = local_iso(item.pop("end_at"), tz)
        item["planned_jobs"] = list(r.planned_jobs or [])
        bookings.append(item)
    shown = {b.id for b in bays}
    missing = {i for item in bookings for i in item["bay_ids"] if i not in shown}
    if missing:  # a bay out of service still shows on the days it has bookings
        bays += db.session.execute(select(*bay_columns).where(Bay.id.in_(missing))
                                   .order_by(Bay.position, Bay.id)).all()
    schedule = Schedule.load(tz, (day, day))
    opening = {b.id: schedule.open_intervals(day, b.id) for b in bays}
    out = {
        "date": day.isoformat(), "timezone": str(tz),
        "bays": [{"id": b.id, "name": b.name, "type": b.type} for b in bays],
        "bookings": bookings,
        "closed": schedule.days_off.get(day) if day in schedule.days_off else None,
        "hours": {b.id: [[local_iso(s, tz), local_iso(e, tz)] for s, e in opening[b.id]] for b in bays},
        "assignments": _day_assignments(day),
    }
    if with_load:
        settings = {"buffer_percent": shop_buffer_percent(tenant_row())}
        booked = {b.id: 0.0 for b in bays}

        def add(bay_id, s, e):
            if bay_id in booked:
                booked[bay_id] += max((min(e, end) - max(s, start)).total_seconds() / 60, 0)

        for r in rows:
            if r.status in RELEASED_STATUSES:
                continue
            if r.sequential:
                for seg in steps.get(r.id, ()):
                    add(seg.bay_id, seg.start_at, seg.end_at)
            else:
                for bay_id in (r.bay_id, *extra.get(r.id, ())):
                    add(bay_id, r.start_at, r.end_at)
        load, totals = [], [0.0, 0.0, 0.0]
        for b in bays:
            capacity = sum((e - s).total_seconds() // 60 for s, e in opening[b.id])
            percent = buffer_percent_of(b.buffer_percent, settings)
            load.append({"bay_id": b.id, **load_figures(capacity, percent, booked[b.id])})
            totals[0] += capacity
            totals[1] += capacity * percent / 100
            totals[2] += booked[b.id]
        out["load"] = load
        total = load_figures(totals[0], 0, totals[2])
        # The shop's buffer is the sum of the bays' (their shares may differ).
        total.update(buffer_percent=round(100 * totals[1] / totals[0]) if totals[0] else settings["buffer_percent"],
                     buffer_hours=round(totals[1] / 60, 2), bookable_hours=round((totals[0] - totals[1]) / 60, 2),
                     free_hours=round(sum(item["free_hours"] for item in load), 2),
                     into_buffer_hours=round(sum(item["into_buffer_hours"] for item in load), 2))
        out["load_total"] = total
    return out


def _day_assignments(day: date) -> list[dict]:
    """Who works which bay on the day (see staffing.py)."""
    from .staffing import day_assignments

    return day_assignments(day)


@dataclass
class Slot:
    """A start time that fits: the bays free for the whole job, or (a sequence) the bay of each
    segment with its times."""

    start: datetime
    end: datetime
    bay_ids: list[int]
    segments: list[tuple[int, datetime, datetime]] = field(default_factory=list)


def slot_json(slot: Slot, tz: ZoneInfo) -> dict:
    out = {"start": local_iso(slot.start, tz), "end": local_iso(slot.end, tz), "bay_ids": slot.bay_ids}
    if slot.segments:
        out["segments"] = [{"bay_id": bay_id, "start": local_iso(s, tz), "end": local_iso(e, tz),
                            "duration_minutes": int((e - s).total_seconds() // 60)} for bay_id, s, e in slot.segments]
    return out


def _day_state(day: date, bays: list[Bay], schedule: Schedule, settings: dict,
               use_buffer: bool) -> tuple[dict[int, list[Interval]], dict[int, float]]:
    """Per bay: the times it is held on ``day`` (plain bookings whole, sequences by segment; those of
    the day before may reach into it) and the minutes still bookable without eating into its buffer
    (infinite without buffers)."""
    day_start, day_end = day_range_utc(day, schedule.tz)
    busy: dict[int, list[Interval]] = {b.id: [] for b in bays}
    booked: dict[int, float] = {b.id: 0.0 for b in bays}
    if bays:
        for bk in bookings_between(day_start - timedelta(days=1), day_end + timedelta(days=1)):
            for bay_id in bk.bay_ids:
                if bay_id not in busy:
                    continue
                for s, e in bk.spans_on(bay_id):
                    busy[bay_id].append((s, e))
                    booked[bay_id] += max((min(e, day_end) - max(s, day_start)).total_seconds() / 60, 0)
    room: dict[int, float] = {}
    for b in bays:
        if not use_buffer:
            room[b.id] = math.inf
            continue
        capacity = schedule.capacity_minutes(day, b.id)
        bookable = capacity * (1 - buffer_percent_of(b.buffer_percent, settings) / 100)
        room[b.id] = bookable - booked[b.id]
    return busy, room


def _fits_room(room: float, minutes: float) -> bool:
    return minutes <= room + 1e-6


def free_slots(day: date, duration: int, *, bay_type: str | None = None, bays: list[Bay] | None = None,
               schedule: Schedule | None = None, settings: dict | None = None, now: datetime | None = None,
               use_buffer: bool | None = None, skill: str | None = None) -> list[Slot]:
    """Start times on ``day`` (on the tenant's slot grid, counted from each opening) where a booking of
    ``duration`` minutes fits on at least one bay: inside one open interval, clear of other bookings,
    not in the past and (``planner.advanced``) leaving the bay's buffer share of the day free. With
    ``skill``, only bays whose technician assigned that day has the skill count."""
    tz = tenant_zone()
    settings = settings or load_settings(tenant_row())
    schedule = schedule or Schedule.load(tz)
    bays = bays if bays is not None else active_bays(bay_type)
    if skill:
        bays = skilled_bays(day, bays, skill)
    if use_buffer is None:
        use_buffer = current_tenant().has(ADVANCED)
    step = timedelta(minutes=settings["slot_minutes"])
    need = timedelta(minutes=duration)
    now = now or datetime.now(timezone.utc)
    busy, room = _day_state(day, bays, schedule, settings, use_buffer)
    by_start: dict[datetime, list[int]] = {}
    for bay in bays:
        if not _fits_room(room[bay.id], duration):
            continue
        for open_start, open_end in schedule.open_intervals(day, bay.id):
            candidate = open_start
            while candidate + need <= open_end:
                span_end = candidate + need
                if candidate >= now and not any(s < span_end and candidate < e for s, e in busy[bay.id]):
                    by_start.setdefault(candidate, []).append(bay.id)
                candidate += step
    return [Slot(s, s + need, ids) for s, ids in sorted(by_start.items())]


def _step_bays(step: dict, bays: list[Bay]) -> list[Bay]:
    if step.get("bay_id") is not None:
        return [b for b in bays if b.id == step["bay_id"]]
    return [b for b in bays if b.type == step["bay_type"]]


def chain_slots(day: date, steps: list[dict], *, schedule: Schedule | None = None, settings: dict | None = None,
                now: datetime | None = None, use_buffer: bool | None = None) -> list[Slot]:
    """Start times on ``day`` where the ``steps`` (``{"bay_id" | "bay_type", "duration_minutes"}``) fit
    one after another: each on the first bay of its kind that is open, free and (with buffers) still
    has room for it. The start times are the first step's bays' slot grid."""
    tz = tenant_zone()
    settings = settings or load_settings(tenant_row())
    schedule = schedule or Schedule.load(tz)
    if use_buffer is None:
        use_buffer = current_tenant().has(ADVANCED)
    bays = active_bays()
    choices = [_step_bays(step, bays) for step in steps]
    used = {b.id: b for group in choices for b in group}
    busy, room = _day_state(day, list(used.values()), schedule, settings, use_buffer)
    step_len = timedelta(minutes=settings["slot_minutes"])
    now = now or datetime.now(timezone.utc)
    starts: set[datetime] = set()
    for bay in choices[0] if choices else ():
        for open_start, open_end in schedule.open_intervals(day, bay.id):
            candidate = open_start
            while candidate < open_end:
                if candidate >= now:
                    starts.add(candidate)
                candidate += step_len
    opening = {bay_id: schedule.open_intervals(day, bay_id) for bay_id in used}
    out = []
    for start in sorted(starts):
        cursor, taken, placed = start, {}, []
        for step, group in zip(steps, choices):
            until = cursor + timedelta(minutes=step["duration_minutes"])
            bay = next((b for b in group
                        if any(s <= cursor and until <= e for s, e in opening[b.id])
                        and not any(s < until and cursor < e for s, e in busy[b.id])
                        and _fits_room(room[b.id] - taken.get(b.id, 0), step["duration_minutes"])), None)
            if bay is None:
                break
            taken[bay.id] = taken.get(bay.id, 0) + step["duration_minutes"]
            placed.append((bay.id, cursor, until))
            cursor = until
        else:
            out.append(Slot(start, cursor, list(dict.fromkeys(p[0] for p in placed)), placed))
    return out


def skilled_bays(day: date, bays: list[Bay], skill: str) -> list[Bay]:
    """The bays whose technician on ``day`` has ``skill`` (staffing.py: bay assignments and skills)."""
    from .staffing import assignments_between, skilled_users

    skilled = skilled_users(skill)
    staffed = assignments_between(day, day)
    return [b for b in bays if staffed.get((day, b.id)) in skilled]


def earliest_fits(duration: int | None = None, *, steps: list[dict] | None = None, bay_type: str | None = None,
                  from_day: date | None = None, days: int = 60, now: datetime | None = None,
                  skill: str | None = None, limit: int = 5) -> list[tuple[date, Slot]]:
    """The ``limit`` earliest start times (from ``from_day``, at most ``days`` ahead) where the job fits:
    ``duration`` minutes on one bay (of ``bay_type``; with ``skill``, only bays whose technician that
    day has it), or a chain of ``steps`` one after another. Buffers apply (``planner.advanced``)."""
    tz = tenant_zone()
    now = now or datetime.now(timezone.utc)
    day = from_day or now.astimezone(tz).date()
    settings = load_settings(tenant_row())
    schedule = Schedule.load(tz)
    bays = active_bays(bay_type) if steps is None else []
    staffed = None
    if skill and steps is None:
        from .staffing import assignments_between, skilled_users

        skilled = skilled_users(skill)
        staffed = {key: user_id for key, user_id in
                   assignments_between(day, day + timedelta(days=days)).items() if user_id in skilled}
    found: list[tuple[date, Slot]] = []
    for offset in range(days):
        current = day + timedelta(days=offset)
        if steps is not None:
            slots = chain_slots(current, steps, schedule=schedule, settings=settings, now=now)
        else:
            day_bays = bays if staffed is None else [b for b in bays if (current, b.id) in staffed]
            if not day_bays:
                continue
            slots = free_slots(current, duration, bays=day_bays, schedule=schedule, settings=settings, now=now)
        found.extend((current, slot) for slot in slots[:limit - len(found)])
        if len(found) >= limit:
            break
    return found


def earliest_fit(duration: int, *, bay_type: str | None = None, from_day: date | None = None,
                 days: int = 60, now: datetime | None = None, skill: str | None = None) -> tuple[date, Slot] | None:
    """The first of :func:`earliest_fits`."""
    found = earliest_fits(duration, bay_type=bay_type, from_day=from_day, days=days, now=now, skill=skill, limit=1)
    return found[0] if found else None


def arrivals(day: date) -> list[Booking]:
    tz = tenant_zone()
    start, end = day_range_utc(day, tz)
    q = (select(Booking).where(Booking.start_at >= start, Booking.start_at < end,
                               Booking.status.in_(("requested", "confirmed", "arrived", "converted")))
         .order_by(Booking.start_at, Booking.id))
    return list(db.session.scalars(q))

