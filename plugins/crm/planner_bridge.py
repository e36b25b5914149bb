"""The CRM's answers to the planner's hooks (``plugins/planner/hookspecs.py``); optional, so the CRM
runs without the planner too."""
from __future__ import annotations

from core.plugins import hookimpl
from core.tenancy import current_tenant


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
