"""Keep derived CRM rows right on every write, whoever writes (generic API, services, importer):

* search keys of client names and vehicle plates (:class:`SearchKey`);
* plate history and owner history of vehicles;
* odometer readings are append-only: changing or deleting one through the ORM raises.

Runs in the session's ``after_flush`` (ids are known, attribute history still shows what changed) with
Core statements on the flush's own connection, so it is part of the same transaction.
"""
from __future__ import annotations

from sqlalchemy import delete, event, inspect, insert, update

from core.db import GarageSession
from core.models import utcnow

from .models import Client, OdometerReading, Ownership, PlateHistory, SearchKey, Vehicle
from .normalize import name_keys, plate_keys


class OdometerImmutable(RuntimeError):
    pass


def client_key_rows(tenant_id: int, client_id: int, name: str) -> list[dict]:
    words, typo = name_keys(name)
    keys = {f"n:{w}"[:64] for w in words} | {f"d:{w}"[:64] for w in typo}
    return [{"tenant_id": tenant_id, "key": k, "client_id": client_id, "vehicle_id": None} for k in sorted(keys)]


def vehicle_key_rows(tenant_id: int, vehicle_id: int, plate: str | None) -> list[dict]:
    if not plate:
        return []
    return [{"tenant_id": tenant_id, "key": f"p:{s}", "client_id": None, "vehicle_id": vehicle_id}
            for s in plate_keys(plate)]


def _changed(obj, attr: str) -> bool:
    return inspect(obj).attrs[attr].history.has_changes()


def _reindex_client(conn, obj: Client, fresh: bool) -> None:
    table = SearchKey.__table__
    if not fresh:
        conn.execute(delete(table).where(table.c.tenant_id == obj.tenant_id, table.c.client_id == obj.id))
    rows = client_key_rows(obj.tenant_id, obj.id, obj.name or "")
    if rows:
        conn.execute(insert(table), rows)


def _reindex_vehicle(conn, obj: Vehicle, fresh: bool) -> None:
    table = SearchKey.__table__
    if not fresh:
        conn.execute(delete(table).where(table.c.tenant_id == obj.tenant_id, table.c.vehicle_id == obj.id))
    rows = vehicle_key_rows(obj.tenant_id, obj.id, obj.plate)
    if rows:
        conn.execute(insert(table), rows)


def _record_plate(conn, obj: Vehicle, now, fresh: bool) -> None:
    t = PlateHistory.__table__
    if not fresh:
        conn.execute(update(t).where(t.c.tenant_id == obj.tenant_id, t.c.vehicle_id == obj.id,
                                     t.c.valid_to.is_(None)).values(valid_to=now))
    if obj.plate:
        conn.execute(insert(t).values(tenant_id=obj.tenant_id, vehicle_id=obj.id, plate=obj.plate, valid_from=now))


def _record_owner(conn, obj: Vehicle, now, fresh: bool) -> None:
    t = Ownership.__table__
    if not fresh:
        conn.execute(update(t).where(t.c.tenant_id == obj.tenant_id, t.c.vehicle_id == obj.id,
                                     t.c.until.is_(None)).values(until=now))
    if obj.client_id:
        conn.execute(insert(t).values(tenant_id=obj.tenant_id, vehicle_id=obj.id, client_id=obj.client_id, since=now))


@event.listens_for(GarageSession, "before_flush")
def _guard_odometer(session, flush_context, instances):
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, OdometerReading) and (obj in session.deleted or session.is_modified(obj)):
            raise OdometerImmutable("odometer readings are append-only")


@event.listens_for(GarageSession, "after_flush")
def _maintain(session, flush_context):
    touched = [o for o in session.new if isinstance(o, (Client, Vehicle))]
    touched += [o for o in session.dirty if isinstance(o, (Client, Vehicle)) and o not in session.deleted]
    if not touched:
        return
    conn = session.connection()
    now = utcnow()
    for obj in touched:
        fresh = obj in session.new
        if isinstance(obj, Client):
            if fresh or _changed(obj, "name"):
                _reindex_client(conn, obj, fresh)
            continue
        # A vehicle whose owner was set through the relationship has client_id synced by now.
        if fresh or _changed(obj, "plate"):
            _reindex_vehicle(conn, obj, fresh)
            _record_plate(conn, obj, now, fresh)
        if fresh or _changed(obj, "client_id") or _changed(obj, "owner"):
            _record_owner(conn, obj, now, fresh)
