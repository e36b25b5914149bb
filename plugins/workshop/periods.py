"""Report periods in the shop's own days.

A report "from 1 to 31 March" means the shop's days: midnight to midnight in the tenant's time zone
(``Tenant.timezone``), not in UTC and not in the server's zone. A Moscow order closed at 01:00 local on
the 2nd (22:00 UTC on the 1st) belongs to the 2nd. The bounds are handed to the queries as aware UTC
datetimes, the way every instant is stored.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from core.documents import tenant_now


def today() -> date:
    """Today in the shop's time zone (not the server's ``date.today()``)."""
    return tenant_now().date()


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The shop's days ``start``..``end`` (both included) as a half-open UTC interval ``[since, until)``.

    Midnights are built in the shop's zone with ``ZoneInfo``, so a day of a summer-time change has its
    true length (23 or 25 hours)."""
    zone = tenant_now().tzinfo
    since = datetime.combine(start, time(), zone).astimezone(timezone.utc)
    until = datetime.combine(end + timedelta(days=1), time(), zone).astimezone(timezone.utc)
    return since, until


def this_month() -> tuple[date, date]:
    """The default period of the report pages: the shop's current month so far."""
    now = today()
    return now.replace(day=1), now
