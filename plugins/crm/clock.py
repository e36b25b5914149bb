"""The shop's clock: dates the CRM stamps (recommendations, reviews, plate and owner history, report
periods) are the shop's local dates, like the visits and messages other plugins report, never UTC's
(a Moscow shop's evening after 21:00 is already the next day)."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import g, has_app_context

from core.models import utcnow
from core.tenancy import get_tenant_id


def _zone(tenant_id: int) -> ZoneInfo:
    """The tenant's zone, read once per app context (a request, a job): dates are asked for often."""
    cached = g.get("crm_zone") if has_app_context() else None
    if cached is not None and cached[0] == tenant_id:
        return cached[1]
    from core.db import db
    from core.models import Tenant

    row = db.session.get(Tenant, tenant_id)
    try:
        zone = ZoneInfo((row.timezone if row is not None else None) or "UTC")
    except (KeyError, ValueError):  # an unknown zone name: UTC rather than a crash
        zone = ZoneInfo("UTC")
    if has_app_context():
        g.crm_zone = (tenant_id, zone)
    return zone


def local_now() -> datetime:
    """Now in the current tenant's time zone (UTC without a tenant context)."""
    tenant_id = get_tenant_id()
    return utcnow() if tenant_id is None else utcnow().astimezone(_zone(tenant_id))


def local_today() -> date:
    return local_now().date()


def _local(value) -> datetime | date | None:
    """A stored timestamp (a datetime, or its ISO text as the API dicts carry it) in the shop's zone; a
    plain date stays as it is."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:  # SQLite hands back naive UTC
        from datetime import timezone

        value = value.replace(tzinfo=timezone.utc)
    tenant_id = get_tenant_id()
    return value if tenant_id is None else value.astimezone(_zone(tenant_id))


def local_day(value) -> str:
    """``YYYY-MM-DD`` of a timestamp in the shop's zone ("" for none): the day the shop saw it happen."""
    local = _local(value)
    return "" if local is None else local.strftime("%Y-%m-%d")


def local_time(value) -> str:
    """``YYYY-MM-DD HH:MM`` of a timestamp in the shop's zone ("" for none)."""
    local = _local(value)
    if local is None:
        return ""
    return local.strftime("%Y-%m-%d %H:%M") if isinstance(local, datetime) else local.isoformat()
