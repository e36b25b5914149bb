"""Owner reports of ``crm.basic``: client base activity per month (as seed 003 defines it), advertising
channel efficiency and service advisor statistics.

Visits come from the ``crm_visits`` hook (the workshop's closed work orders, the planner's bookings),
read in one bulk call; manual service-book entries record work done elsewhere and are never visits.
The per-month figures are computed in Python from each client's visit months.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select

from core.db import db
from core.i18n import domain

from .clock import local_today
from .models import Client
from .reminders import add_months
from .services import hooks

_ = domain("crm").gettext
MAX_MONTHS = 60
CENT = Decimal("0.01")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT))


class ReportError(ValueError):
    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class Visit:
    client_id: int
    day: date
    amount: Decimal | None = None
    booked: bool = False  # a planned visit (a booking), not one that happened
    advisor_id: int | None = None  # the service advisor (a user) who booked it / ran the order
    labour: Decimal | None = None  # of the amount: labour
    parts: Decimal | None = None  # of the amount: parts
    jobs: tuple = ()  # names of the jobs done (the client filters' "jobs done")
    technicians: tuple = ()  # who did them (the client filters' "technician")


def _names(value) -> tuple:
    """A plugin's list of names as a tuple of non-empty strings (anything else is ignored)."""
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(str(x) for x in value if isinstance(x, str) and x.strip())


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _money_or_none(value) -> Decimal | None:
    if value is None or isinstance(value, float):  # money is never a float: ignore rather than guess
        return None
    try:
        return Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        return None


def load_visits(until: date) -> tuple[list[Visit], str]:
    """``(visits up to `until`, "plugins")``: the visits other plugins report (``crm_visits``).

    Manual service-book entries are never visits: they record work done elsewhere (or before the shop
    used this system), not the shop's own deals, so they count neither in the reports nor in the
    client filters, whether or not another plugin reports visits (docs/crm-reports.md)."""
    visits = []
    for result in hooks().crm_visits(date_to=until) or []:
        if result is None:
            continue
        for v in result:
            visits.append(Visit(int(v["client_id"]), v["date"], v.get("amount"), bool(v.get("booked")),
                                _int_or_none(v.get("advisor_id")), _money_or_none(v.get("labour")),
                                _money_or_none(v.get("parts")), _names(v.get("jobs")),
                                _names(v.get("technicians"))))
    return visits, "plugins"


def parse_month(value: str | None, default: date) -> date:
    if not value:
        return default.replace(day=1)
    year, month = value.split("-")
    return date(int(year), int(month), 1)


def month_params(params: dict) -> tuple[date, date, int]:
    """``(first month, last month, gap)`` from ``from=YYYY-MM&to=YYYY-MM&gap=6``; raises ReportError."""
    errors = {}
    today = local_today()
    start = end = None
    try:
        end = parse_month(params.get("to"), today)
    except (ValueError, TypeError):
        errors["to"] = [_("Enter a month as YYYY-MM.")]
    try:
        start = parse_month(params.get("from"), add_months(end or today, -11))
    except (ValueError, TypeError):
        errors["from"] = [_("Enter a month as YYYY-MM.")]
    try:
        gap = int(params.get("gap") or 1)  # seed 003 recommends 1
        if not 1 <= gap <= 36:
            raise ValueError
    except (ValueError, TypeError):
        errors["gap"] = [_("Enter a gap from 1 to 36 months.")]
        gap = 6
    if start and end:
        if start > end:
            errors["from"] = [_("The first month must not be after the last one.")]
        elif (end.year - start.year) * 12 + end.month - start.month >= MAX_MONTHS:
            errors["from"] = [_("Choose at most %(n)s months.", n=MAX_MONTHS)]
    if errors:
        raise ReportError(errors)
    return start, end, gap


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def client_activity(params: dict) -> dict:
    """Client base activity per month, as seed 003 defines it (docs/crm-reports.md). Per month:

    ``total`` (= ``served``): clients served in the month; ``returning``: of them, served before, at
    least ``gap`` months earlier; ``future``: of them, served (or booked) again at least ``gap`` months
    later; ``one_time``: of them, neither before nor after; ``new``: client cards created in the month;
    ``lost``: served in the month and never again (``total - future``); ``growth``: ``new - lost``.
    Beside the seed's columns, ``booked``: clients with a booking in the month not served in it.

    Visits before and after the period count too (the seed: "all documents, whatever the period"); a
    visit closer than ``gap`` months is taken as part of the same episode (continued or warranty work)."""
    start, end, gap = month_params(params)
    first, last = _month_index(start), _month_index(end)
    today = local_today()
    # Every document, also after the period: the plugins' visits and bookings up to a year ahead.
    visits, source = load_visits(max(add_months(end, 1), today) + timedelta(days=366))
    done: dict[int, set[int]] = defaultdict(set)
    booked: dict[int, set[int]] = defaultdict(set)  # month -> clients with a booking in it
    later: dict[int, int] = {}  # client -> the latest month with a visit or a booking
    earliest: dict[int, int] = {}
    for v in visits:
        m = _month_index(v.day)
        later[v.client_id] = max(later.get(v.client_id, m), m)
        if v.booked:
            booked[m].add(v.client_id)
        else:
            done[v.client_id].add(m)
            earliest[v.client_id] = min(earliest.get(v.client_id, m), m)
    counts = {m: defaultdict(int) for m in range(first, last + 1)}
    for cid, months in done.items():
        for m in months:
            if not first <= m <= last:
                continue
            row = counts[m]
            returning = earliest[cid] <= m - gap
            future = later[cid] >= m + gap
            row["total"] += 1
            row["returning"] += returning
            row["future"] += future
            row["one_time"] += not returning and not future
    created = select(Client.created_at).where(
        Client.is_client.is_(True), Client.created_at >= datetime.combine(start, time(), timezone.utc),
        Client.created_at < datetime.combine(add_months(end, 1), time(), timezone.utc))
    for (created_at,) in db.session.execute(created):
        m = _month_index(created_at)
        if m in counts:
            counts[m]["new"] += 1
    rows = []
    month = start
    for m in range(first, last + 1):
        row = counts[m]
        lost = row["total"] - row["future"]
        not_served = {cid for cid in booked.get(m, ()) if m not in done.get(cid, ())}
        rows.append({"month": month.strftime("%Y-%m"), "total": row["total"], "served": row["total"],
                     "returning": row["returning"], "future": row["future"], "one_time": row["one_time"],
                     "new": row["new"], "lost": lost, "growth": row["new"] - lost, "booked": len(not_served)})
        month = add_months(month, 1)
    return {"from": start.strftime("%Y-%m"), "to": end.strftime("%Y-%m"), "gap": gap, "source": source,
            "rows": rows}


def date_params(params: dict) -> tuple[date | None, date | None]:
    errors, out = {}, []
    for key in ("from", "to"):
        value = params.get(key)
        try:
            out.append(date.fromisoformat(value) if value else None)
        except (ValueError, TypeError):
            errors[key] = [_("Enter a date as YYYY-MM-DD.")]
            out.append(None)
    if not errors and out[0] and out[1] and out[0] > out[1]:
        errors["from"] = [_("The start date must not be after the end date.")]
    if errors:
        raise ReportError(errors)
    return out[0], out[1]


def channel_efficiency(params: dict) -> dict:
    """Per advertising channel (``Client.source``): clients who came in the period (created), clients
    served in the period, visits and revenue of those visits. ``from``/``to`` are dates (inclusive)."""
    start, end = date_params(params)
    until = end or local_today()
    created = select(Client.source, func.count()).where(Client.is_client.is_(True))
    # Whole UTC days as timestamp bounds: portable, and the created_at index still applies.
    if start:
        created = created.where(Client.created_at >= datetime.combine(start, time(), timezone.utc))
    if end:
        created = created.where(Client.created_at < datetime.combine(end + timedelta(days=1), time(), timezone.utc))
    new_by_source: dict[str, int] = defaultdict(int)
    for channel, count in db.session.execute(created.group_by(Client.source)):
        new_by_source[channel or ""] += count
    visits, source = load_visits(until)
    visits = [v for v in visits if not v.booked and (start is None or v.day >= start) and v.day <= until]
    client_ids = {v.client_id for v in visits}
    # One pass over the tenant's clients instead of an IN list as long as the client base.
    source_of = {cid: channel or "" for cid, channel in db.session.execute(select(Client.id, Client.source))} \
        if client_ids else {}
    stats: dict[str, dict] = defaultdict(lambda: {"served": set(), "visits": 0, "revenue": Decimal("0")})
    for v in visits:
        if v.client_id not in source_of:  # another tenant's id or a deleted client
            continue
        s = stats[source_of[v.client_id]]
        s["served"].add(v.client_id)
        s["visits"] += 1
        s["revenue"] += Decimal(v.amount or 0)
    from .spend import spend_by_source

    # Spend of every month the period touches (spend is recorded per month).
    spent = spend_by_source(start.strftime("%Y-%m") if start else None, until.strftime("%Y-%m"))
    rows = []
    for channel in sorted(set(new_by_source) | set(stats) | set(spent)):
        s = stats.get(channel) or {"served": set(), "visits": 0, "revenue": Decimal("0")}
        served = len(s["served"])
        new = int(new_by_source.get(channel, 0))
        cost = spent.get(channel) if channel else None
        rows.append({"source": channel or None, "new_clients": new,
                     "served_clients": served, "visits": s["visits"], "revenue": str(s["revenue"].quantize(Decimal("0.01"))),
                     "revenue_per_client": str((s["revenue"] / served).quantize(Decimal("0.01"))) if served else None,
                     "spend": _money(cost),
                     "cost_per_new_client": _money(cost / new) if cost is not None and new else None,
                     "return_on_spend": str((s["revenue"] / cost).quantize(Decimal("0.01"))) if cost else None,
                     "roi_percent": str(((s["revenue"] - cost) * 100 / cost).quantize(Decimal("0.1"))) if cost else None})
    rows.sort(key=lambda r: Decimal(r["revenue"]), reverse=True)
    total_spend = sum(spent.values(), Decimal("0"))
    return {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
            "source": source, "rows": rows, "spend_months": [start.strftime("%Y-%m") if start else None,
                                                             until.strftime("%Y-%m")],
            "total_spend": _money(total_spend)}


def advisor_statistics(params: dict) -> dict:
    """Per service advisor over ``from``..``to`` (dates, inclusive; default: the current month):

    ``bookings`` (bookings the plugins report with that advisor in the period: the planner reports those
    not yet turned into an order), ``closed_orders`` (visits that happened, e.g. closed work orders),
    ``conversion_percent`` = closed / (closed + bookings) * 100, ``avg_labour`` and ``avg_parts`` per
    closed order (over the orders that report them), ``revenue``. Calls need a telephony source: there is
    none, so ``calls`` is None and ``calls_available`` False. Visits without an advisor are one row with
    ``advisor_id`` None."""
    start, end = date_params(params)
    today = local_today()
    start = start or today.replace(day=1)
    end = end or today
    if start > end:
        raise ReportError({"from": [_("The start date must not be after the end date.")]})
    visits, source = load_visits(end)
    stats: dict[int | None, dict] = {}
    for v in visits:
        if not start <= v.day <= end:
            continue
        s = stats.setdefault(v.advisor_id, {"bookings": 0, "closed": 0, "labour": Decimal(0), "labour_n": 0,
                                            "parts": Decimal(0), "parts_n": 0, "revenue": Decimal(0)})
        if v.booked:
            s["bookings"] += 1
            continue
        s["closed"] += 1
        s["revenue"] += Decimal(v.amount or 0)
        if v.labour is not None:
            s["labour"] += v.labour
            s["labour_n"] += 1
        if v.parts is not None:
            s["parts"] += v.parts
            s["parts_n"] += 1
    names = {}
    ids = [i for i in stats if i is not None]
    if ids:
        from core.models import User
        from core.tenancy import current_tenant_id

        names = {uid: name or email for uid, name, email in db.session.execute(
            select(User.id, User.name, User.email).where(User.id.in_(ids), User.tenant_id == current_tenant_id()))}
    rows = []
    for advisor_id, s in stats.items():
        if advisor_id is not None and advisor_id not in names:
            continue  # not a user of this shop
        seen = s["closed"] + s["bookings"]
        rows.append({
            "advisor_id": advisor_id, "advisor": names.get(advisor_id) if advisor_id else None,
            "calls": None, "bookings": s["bookings"], "closed_orders": s["closed"],
            "conversion_percent": str((Decimal(100) * s["closed"] / seen).quantize(Decimal("0.1"))) if seen else None,
            "avg_labour": _money(s["labour"] / s["labour_n"]) if s["labour_n"] else None,
            "avg_parts": _money(s["parts"] / s["parts_n"]) if s["parts_n"] else None,
            "revenue": _money(s["revenue"]),
        })
    rows.sort(key=lambda r: (r["advisor_id"] is None, -r["closed_orders"], r["advisor"] or ""))
    return {"from": start.isoformat(), "to": end.isoformat(), "source": source, "calls_available": False,
            "calls_note": _("Calls are not available: no telephony is connected."), "rows": rows}


REPORTS = {
    "client-activity": client_activity,
    "channels": channel_efficiency,
    "advisors": advisor_statistics,
}
