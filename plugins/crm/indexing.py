"""Keep derived CRM rows right on every write, whoever writes (generic API, services, importer):

* search keys of client names and vehicle plates, former plates included (:class:`SearchKey`);
* plate history and owner history of vehicles;
* odometer readings are append-only: changing or deleting one through the ORM raises.

Runs in the session's ``after_flush`` (ids are known, attribute history still shows what changed) with
Core statements on the flush's own connection, so it is part of the same transaction.
"""
from __future__ import annotations

from sqlalchemy import delete, event, inspect, insert, select, update

from core.db import GarageSession
from core.models import utcnow

from .models import Client, ClientPhone, OdometerReading, Ownership, PlateHistory, SearchKey, Vehicle
from .normalize import name_keys, name_pairs, phone_digits_reversed, plate_keys, typo_keys


class OdometerImmutable(RuntimeError):
    pass


def client_key_rows(tenant_id: int, client_id: int, name: str, phones: list[str] = (),
                    inn: str | None = None) -> list[dict]:
    """``n:`` name words, ``f:`` adjacent word pairs, ``d:`` one-deletion variants of the words (with the
    word: ``d:ивнов/иванов``), ``t:`` reversed phone digits, ``i:`` the INN."""
    words, _typo = name_keys(name)
    keys = {f"n:{w}"[:64] for w in words} | {f"d:{k}"[:64] for k in typo_keys(name)}
    keys |= {f"f:{pair}"[:64] for pair in name_pairs(name)}
    if inn:
        keys.add(f"i:{inn}")
    keys |= {f"t:{phone_digits_reversed(p)}" for p in phones}
    return [{"tenant_id": tenant_id, "key": k, "client_id": client_id, "vehicle_id": None} for k in sorted(keys)]


def vehicle_key_rows(tenant_id: int, vehicle_id: int, plate: str | None, vin: str | None = None,
                     former_plates=()) -> list[dict]:
    """``p:`` every suffix of the plate (substring search), ``v:`` the reversed VIN (suffix search),
    ``o:`` every suffix of each former plate followed by ``|`` and the whole former plate (so that a
    hit can say which plate the car used to have)."""
    keys = [f"p:{s}" for s in plate_keys(plate)] if plate else []
    if vin:
        keys.append(f"v:{vin[::-1]}")
    for old in sorted(set(former_plates) - {plate}):
        keys += [f"o:{s}|{old}"[:64] for s in plate_keys(old)]
    return [{"tenant_id": tenant_id, "key": k, "client_id": None, "vehicle_id": vehicle_id} for k in keys]


def _changed(obj, attr: str) -> bool:
    return inspect(obj).attrs[attr].history.has_changes()


def _reindex_client(conn, obj: Client, fresh: bool) -> None:
    table = SearchKey.__table__
    if not fresh:
        conn.execute(delete(table).where(table.c.tenant_id == obj.tenant_id, table.c.client_id == obj.id))
    # The phones as flushed (rows added or orphaned in this flush are already in the database).
    phones = conn.execute(select(ClientPhone.__table__.c.e164).where(
        ClientPhone.__table__.c.tenant_id == obj.tenant_id, ClientPhone.__table__.c.client_id == obj.id)).scalars().all()
    rows = client_key_rows(obj.tenant_id, obj.id, obj.name or "", phones, obj.inn)
    if rows:
        conn.execute(insert(table), rows)


def _reindex_vehicle(conn, obj: Vehicle, fresh: bool) -> None:
    table = SearchKey.__table__
    former = ()
    if not fresh:
        conn.execute(delete(table).where(table.c.tenant_id == obj.tenant_id, table.c.vehicle_id == obj.id))
        # Every plate the car has had (the one being replaced now is still the open history row).
        history = PlateHistory.__table__
        former = conn.execute(select(history.c.plate).where(
            history.c.tenant_id == obj.tenant_id, history.c.vehicle_id == obj.id)).scalars().all()
    rows = vehicle_key_rows(obj.tenant_id, obj.id, obj.plate, obj.vin, former)
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
    clients: dict[int, tuple[Client, bool]] = {}
    vehicles = []
    for obj in session.new:
        if isinstance(obj, Client):
            clients[id(obj)] = (obj, True)
        elif isinstance(obj, Vehicle):
            vehicles.append((obj, True))
    for obj in session.dirty:
        if obj in session.deleted:
            continue
        if isinstance(obj, Client) and any(_changed(obj, a) for a in ("name", "phone_rows", "inn")):
            clients.setdefault(id(obj), (obj, False))
        elif isinstance(obj, Vehicle):
            vehicles.append((obj, False))
    # A phone added, changed or removed on its own (not through the client's list) re-indexes its client.
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, ClientPhone) and obj.client is not None and obj.client not in session.deleted:
            clients.setdefault(id(obj.client), (obj.client, obj.client in session.new))
    if not clients and not vehicles:
        return
    conn = session.connection()
    now = utcnow()
    for obj, fresh in clients.values():
        _reindex_client(conn, obj, fresh)
    for obj, fresh in vehicles:
        # A vehicle whose owner was set through the relationship has client_id synced by now.
        if fresh or _changed(obj, "plate") or _changed(obj, "vin"):
            _reindex_vehicle(conn, obj, fresh)
        if fresh or _changed(obj, "plate"):
            _record_plate(conn, obj, now, fresh)
        if fresh or _changed(obj, "client_id") or _changed(obj, "owner"):
            _record_owner(conn, obj, now, fresh)
