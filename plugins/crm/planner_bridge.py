"""The CRM's answers to the planner's hooks (``plugins/planner/hookspecs.py``); optional, so the CRM
runs without the planner too."""
from __future__ import annotations

from core.db import db
from core.i18n import domain
from core.plugins import hookimpl
from core.tenancy import current_tenant

_ = domain("crm").gettext


@hookimpl(optionalhook=True)
def planner_client_by_phone(phone):
    """An online booking's phone -> the client on file with that number (the first by id when several
    share it), so the booking is linked and the client gets the "booking confirmed" message."""
    from .normalize import InvalidValue, normalize_phone
    from .schemas import find_phone_owner

    if not current_tenant().has("crm.clients"):
        return None
    try:
        e164 = normalize_phone(phone)
    except InvalidValue:
        return None
    found = find_phone_owner([e164])
    return {"client_id": found[0].id} if found else None


@hookimpl(optionalhook=True)
def planner_client_from_booking(client, vehicle, create, actor):
    """A booking typed as free text -> the client on file with its phone (else, with ``create``, a new
    client) and the car on file with its plate (else a new car of that client), in the planner's
    transaction: nothing is committed here, and a failed service order rolls the new client back too."""
    from marshmallow import ValidationError

    from core import audit

    from .models import Client, Vehicle
    from .normalize import InvalidValue, fold_plate, normalize_phone
    from .schemas import ClientSchema, VehicleSchema, find_phone_owner, find_vehicle

    if not current_tenant().has("crm.clients"):
        return None
    name = " ".join(str(client.get("name") or "").split())
    phone = str(client.get("phone") or "").strip()
    plate = fold_plate(vehicle.get("plate"))
    try:
        found = find_phone_owner([normalize_phone(phone)]) if phone else None
    except InvalidValue as exc:
        return {"error": str(exc), "status": 422, "field": "client_phone"}
    owner = found[0] if found else None
    on_file = find_vehicle(plate=plate) if plate else None
    car = on_file[0] if on_file else None
    if car is not None and car.client_id is not None and owner is not None and car.client_id != owner.id:
        return {"error": _("This plate is already on file: %(what)s (vehicle #%(id)s).", what=car.plate, id=car.id),
                "status": 409, "field": "plate"}
    if owner is None and car is not None and car.client_id is not None:
        owner = db.session.get(Client, car.client_id)  # the plate is known: its owner is the client
    if create:
        can = (lambda perm: actor is None or actor.can(perm))
        try:
            if owner is None:
                if not can("crm.client.create"):
                    return {"error": "forbidden", "status": 403}
                values = ClientSchema().load({"name": name, "phones": [phone] if phone else []})
                owner = Client(**values)
                db.session.add(owner)
                db.session.flush()
                audit.record("create", owner, changes=audit.diff({}, values), user=actor)
            if car is None and (plate or vehicle.get("make")):
                if not can("crm.vehicle.create"):
                    return {"error": "forbidden", "status": 403}
                values = VehicleSchema().load({"client_id": owner.id, "plate": plate or None,
                                               "make": (vehicle.get("make") or "").strip() or None,
                                               "model": (vehicle.get("model") or "").strip() or None})
                car = Vehicle(**values)
                db.session.add(car)
                db.session.flush()
                audit.record("create", car, changes=audit.diff({}, values), user=actor)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
            field, problems = next(iter(messages.items()))
            text = problems[0] if isinstance(problems, list) and problems else str(problems)
            target = {"name": "client_name", "phones": "client_phone"}.get(field, field)
            return {"error": str(text), "status": 422, "field": target}
        if car is not None and car.client_id is None:
            car.client_id = owner.id  # a car on file without an owner goes with this client
    return {"client_id": owner.id if owner else None, "client_name": owner.name if owner else "",
            "vehicle_id": car.id if car else None,
            "vehicle": " ".join(str(v) for v in (car.make, car.model, car.plate) if v) if car else ""}
