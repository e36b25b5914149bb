"""Stored reminder forecasts: the due-soon list as one indexed query instead of a forecast of every car.

A car's forecast (:func:`plugins.crm.reminders.vehicle_reminders`) depends on its make and model, its
odometer readings, when each service was last done (typed in, or found in a manual service-book entry)
and the shop's interval catalog; it does not depend on today's date (only the status does: overdue or
due soon, decided when the list is read). So it is computed when one of those changes, not when the
list is opened: :class:`ReminderForecast` keeps one row per car and service code with its due date,
and the list reads ``due_on <= today + N days`` through the ``(tenant_id, due_on)`` index.

Whoever writes (API, pages, importer, the workshop closing an order), the session's ``after_flush``
notes the cars touched and ``before_commit`` recomputes them in the same transaction; a change of the
interval catalog recomputes every car of the shop. Rows written around the ORM (bulk loads such as the
bench's generator) are caught up by :func:`refresh_all`: the job ``crm.refresh_forecasts`` runs it
nightly, and ``garage jobs run crm.refresh_forecasts`` at once.

Measured (bench/crm_reminders.py): see the figures in that module.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Date, ForeignKey, Index, Integer, String, delete, event, func, insert, select, tuple_
from sqlalchemy.orm import Mapped, mapped_column

from core.db import GarageSession, TenantScoped, db

from .models import Client, OdometerReading, ServiceEntry, Vehicle

BATCH = 500
DIRTY = "crm_forecast_dirty"  # session.info key: {tenant_id: set of vehicle ids, or None for "all cars"}


class ReminderForecast(TenantScoped, db.Model):
    """When service ``code`` is next due on a car (see the module's docstring)."""

    __tablename__ = "crm_reminder_forecast"
    # The list's order is the index's order (due date, car, code): the first page is read off the index
    # and joined to its cars, however many cars are overdue.
    __table_args__ = (Index(None, "tenant_id", "due_on", "vehicle_id", "code"),
                      Index(None, "tenant_id", "vehicle_id", "code", unique=True))
    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    interval_id: Mapped[int] = mapped_column(ForeignKey("crm_service_interval.id", ondelete="CASCADE"))
    due_on: Mapped[date | None] = mapped_column(Date)
    due_km: Mapped[int | None] = mapped_column(Integer)
    due_by: Mapped[str | None] = mapped_column(String(4))
    due_key: Mapped[str] = mapped_column(String(40))  # which occurrence: see reminders.due_key
    last_done_on: Mapped[date | None] = mapped_column(Date)
    last_done_km: Mapped[int | None] = mapped_column(Integer)
    last_done_source: Mapped[str] = mapped_column(String(20))
    # What "km by today" is projected from: the last trusted reading and the daily mileage (m/day, exact).
    last_km: Mapped[int | None] = mapped_column(Integer)
    last_read_on: Mapped[date | None] = mapped_column(Date)
    daily_m: Mapped[int | None] = mapped_column(Integer)


MODELS = [ReminderForecast]


# --- keeping the rows right -------------------------------------------------------------------------


def _note(session, tenant_id: int | None, vehicle_id) -> None:
    """Note a car (its id, or ``("make", name)`` for every car of a make; None: every car) to recompute."""
    if tenant_id is None:
        return
    dirty = session.info.setdefault(DIRTY, {})
    if vehicle_id is None:
        dirty[tenant_id] = None  # every car of the shop
    elif dirty.get(tenant_id, set()) is not None:
        dirty.setdefault(tenant_id, set()).add(vehicle_id)


@event.listens_for(GarageSession, "after_flush")
def _collect(session, flush_context):
    from .reminders import ServiceDone, ServiceInterval

    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, (OdometerReading, ServiceDone, ServiceEntry)):
            _note(session, obj.tenant_id, obj.vehicle_id)
        elif isinstance(obj, Vehicle):
            if obj in session.new or session.is_modified(obj):
                _note(session, obj.tenant_id, obj.id)
        elif isinstance(obj, ServiceInterval):
            _note_catalog_line(session, obj)


def _note_catalog_line(session, line) -> None:
    """The cars a catalog line applies to, before and after the change: its car, the cars of its make,
    or (a default line) every car of the shop."""
    from sqlalchemy import inspect as sa_inspect

    state = sa_inspect(line)
    values = {}
    for attr in ("vehicle_id", "make"):
        history = state.attrs[attr].history
        values[attr] = {v for v in (*history.added, *history.unchanged, *history.deleted) if v}
    if values["vehicle_id"]:
        for vehicle_id in values["vehicle_id"]:
            _note(session, line.tenant_id, vehicle_id)
    elif values["make"]:
        for make in values["make"]:
            _note(session, line.tenant_id, ("make", make.strip().lower()))
    else:
        _note(session, line.tenant_id, None)


@event.listens_for(GarageSession, "before_commit")
def _refresh_noted(session):
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import get_tenant_id, tenant_context

    for _round in range(3):  # refreshing flushes; what that flush notes is done in the next round
        session.flush()  # before_commit comes before the commit's own flush: note its changes first
        dirty = session.info.pop(DIRTY, None)
        if not dirty:
            return
        for tenant_id, vehicle_ids in dirty.items():
            if get_tenant_id() == tenant_id:
                _refresh(vehicle_ids)
            else:
                with tenant_context(tenant_info(session.get(Tenant, tenant_id))):
                    _refresh(vehicle_ids)


@event.listens_for(GarageSession, "after_rollback")
def _forget(session):
    session.info.pop(DIRTY, None)


def _refresh(noted: set | None) -> None:
    if noted is None:
        refresh_all()
        return
    ids = {n for n in noted if isinstance(n, int)}
    makes = sorted(n[1] for n in noted if isinstance(n, tuple))
    if makes:
        ids.update(db.session.scalars(select(Vehicle.id).where(func.lower(func.trim(Vehicle.make)).in_(makes))))
    refresh(sorted(ids))


def refresh(vehicle_ids: list[int]) -> int:
    """Recompute the forecasts of these cars (of the current tenant); returns the rows written."""
    from .reminders import ServiceInterval, due_key, load_histories, vehicle_reminders
    from .services import mileage_from

    catalog = list(db.session.scalars(select(ServiceInterval)))
    if not catalog:  # a shop without reminders (no crm.basic yet): nothing to forecast
        db.session.execute(delete(ReminderForecast).execution_options(synchronize_session=False))
        return 0
    written = 0
    for start in range(0, len(vehicle_ids), BATCH):
        chunk = vehicle_ids[start:start + BATCH]
        db.session.execute(delete(ReminderForecast).where(ReminderForecast.vehicle_id.in_(chunk))
                           .execution_options(synchronize_session=False))
        vehicles = list(db.session.scalars(select(Vehicle).where(Vehicle.id.in_(chunk))))
        histories = load_histories([v.id for v in vehicles])
        rows = []
        for vehicle in vehicles:
            usage = mileage_from(histories[vehicle.id].readings)
            for item in vehicle_reminders(vehicle, catalog, history=histories[vehicle.id]):
                rows.append(dict(
                    tenant_id=vehicle.tenant_id, vehicle_id=vehicle.id, code=item["code"],
                    interval_id=item["interval_id"], due_on=_day(item["due_on"]), due_km=item["due_km"],
                    due_by=item["due_by"], due_key=due_key(item), last_done_on=_day(item["last_done_on"]),
                    last_done_km=item["last_done_km"], last_done_source=item["last_done_source"],
                    last_km=usage.last_value, last_read_on=usage.last_read_on,
                    daily_m=None if usage.daily_km is None else round(usage.daily_km * 1000)))
        if rows:  # one executemany, not an ORM object per row
            db.session.execute(insert(ReminderForecast).execution_options(render_nulls=True), rows)
        written += len(rows)
    return written


def refresh_all() -> int:
    """Recompute every car of the current tenant (after a catalog change or a bulk load)."""
    ids = list(db.session.scalars(select(Vehicle.id).order_by(Vehicle.id)))
    return refresh(ids)


def refresh_job(ctx):
    written = refresh_all()
    ctx.log.info("reminder forecasts: %s rows", written)
    return {"forecasts": written}


def _day(iso: str | None) -> date | None:
    return date.fromisoformat(iso) if iso else None


# --- reading the list -------------------------------------------------------------------------------


def due_rows(today: date, within_days: int, code: str | None, make: str | None, status: str | None,
             state: str | None, active_states: tuple, limit: int):
    """(forecast, vehicle, client name, state row) of cars with an owner whose service is due by
    ``today + within_days``, soonest first.

    Read in the index's order, a chunk at a time (keyset paging on ``(due_on, vehicle_id, code)``), and
    joined in Python to the chunk's cars, owners and states (one ``IN`` query each): a fixed number of
    statements for the usual list, and no sort of every overdue car in the shop. (One joined query was
    planned as "join everything, then sort" on PostgreSQL: 270 ms at 48,000 forecasts.)
    """
    from .reminders import load_states

    f = ReminderForecast
    base = select(f).where(f.due_on.is_not(None), f.due_on <= today + timedelta(days=within_days))
    if code:
        base = base.where(f.code == code)
    if status == "overdue":
        base = base.where(f.due_on <= today)  # the exact rule (km projected by today) is applied on the rows
    elif status == "due_soon":
        base = base.where(f.due_on >= today)
    if make:  # a selective filter: in the chunk's own query, or most chunks would be thrown away
        base = base.join(Vehicle, Vehicle.id == f.vehicle_id).where(Vehicle.make.ilike(make.strip()))
    wanted = limit + 50  # a margin for the rows the exact status rule drops at the boundary
    chunk = max(wanted, 100)
    out, after = [], None
    while len(out) < wanted:
        q = base if after is None else base.where(tuple_(f.due_on, f.vehicle_id, f.code) > after)
        rows = list(db.session.scalars(q.order_by(f.due_on, f.vehicle_id, f.code).limit(chunk)))
        if not rows:
            break
        after = (rows[-1].due_on, rows[-1].vehicle_id, rows[-1].code)
        vehicle_ids = sorted({r.vehicle_id for r in rows})
        vehicles = {v.id: v for v in db.session.scalars(
            select(Vehicle).where(Vehicle.id.in_(vehicle_ids), Vehicle.client_id.is_not(None)))}
        names = dict(db.session.execute(select(Client.id, Client.name).where(
            Client.id.in_(sorted({v.client_id for v in vehicles.values()})))).all()) if vehicles else {}
        states = load_states(list(vehicles))
        for r in rows:
            vehicle = vehicles.get(r.vehicle_id)
            if vehicle is None:
                continue
            row_state = states.get((r.vehicle_id, r.code, r.due_key))
            if state != "all" and (_state_now(row_state, today) != state if state
                                   else _state_now(row_state, today) not in active_states):
                continue
            out.append((r, vehicle, names.get(vehicle.client_id), row_state))
        if len(rows) < chunk:
            break
    return out


def _state_now(row, today: date) -> str:
    """A reminder's state today (a snooze that ran out reads ``open``); see reminders.apply_state."""
    if row is None:
        return "open"
    if row.state == "snoozed" and row.snoozed_until is not None and row.snoozed_until <= today:
        return "open"
    return row.state
