"""The CRM's own index of client visits, for the client filters (``crm.basic``): visit dates, spend,
advisor, jobs done and technician are SQL conditions on these tables instead of a pass in Python over
every visit of the shop.

Visits come from the same place as the reports' (:func:`plugins.crm.reports.load_visits`: the
``crm_visits`` hook, i.e. the workshop's closed work orders, plus the manual service-book entries);
bookings (``booked``) are not visits. The hook has no "since" parameter, so the index is rebuilt per
tenant as a whole: by the scheduled job ``crm.index_visits`` and, when a filter finds it older than
:data:`MAX_AGE`, before the filter runs. A filtered list is therefore at most :data:`MAX_AGE` behind the
work orders, which is fine for choosing whom to invite back.

Jobs and technicians are kept as *terms*: each name lower-cased (``ё`` read as ``е``) with every tail
that starts at a word, so that a prefix range scan (``term >= 'масл' AND term < 'масл' || U+FFFF``)
finds "Замена масла" by "масл" or "замена" and uses the index.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Money, TenantScoped, db
from core.models import utcnow

from .clock import local_today
from .models import KeyString

MAX_AGE = timedelta(minutes=10)
JOB, TECHNICIAN = "job", "tech"
_WORD = re.compile(r"\w+", re.UNICODE)


class IndexedVisit(TenantScoped, db.Model):
    """One visit of a client (a closed work order, a manual service-book day): when, spend, advisor."""

    __tablename__ = "crm_visit"
    __table_args__ = (
        Index(None, "tenant_id", "client_id", "day"),
        Index(None, "tenant_id", "day"),
        Index(None, "tenant_id", "advisor_id", "day"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal | None] = mapped_column(Money)
    advisor_id: Mapped[int | None] = mapped_column(Integer)  # a core_user id, as the hook reports it


class VisitTerm(TenantScoped, db.Model):
    """A job done or a technician of a visit, as searchable terms (see the module's docstring)."""

    __tablename__ = "crm_visit_term"
    __table_args__ = (
        Index(None, "tenant_id", "kind", "term", "client_id"),
        Index(None, "tenant_id", "client_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(4))  # JOB or TECHNICIAN
    term: Mapped[str] = mapped_column(KeyString)
    label: Mapped[str] = mapped_column(String(200))  # the name as written, for the page's suggestions


class VisitIndexState(TenantScoped, db.Model):
    """When the tenant's index was last rebuilt (one row per tenant; also the rebuild's lock)."""

    __tablename__ = "crm_visit_index_state"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    visits: Mapped[int] = mapped_column(Integer, default=0)


MODELS = [IndexedVisit, VisitTerm, VisitIndexState]


def fold(text: str) -> str:
    return " ".join(_WORD.findall((text or "").lower().replace("ё", "е")))


def terms(text: str) -> list[str]:
    """``"Замена масла"`` -> ``["замена масла", "масла"]``: the name from each of its words on."""
    words = fold(text).split()
    return [" ".join(words[i:])[:64] for i in range(len(words))]


def prefix_range(column, text: str):
    """``column`` starts with the folded ``text`` (an index range scan)."""
    key = fold(text)[:60]
    return (column >= key) & (column < key + "\uffff")


def _aware(value: datetime | None) -> datetime | None:
    from datetime import timezone

    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def rebuild() -> int:
    """Rebuild the current tenant's index from the visits the plugins report; the number of visits.

    Runs in the caller's transaction; the state row is locked first so that two rebuilds of one
    tenant (the job and a request) do not both insert."""
    from core.tenancy import current_tenant_id

    from .reports import load_visits

    state = db.session.scalars(select(VisitIndexState).with_for_update()).first()
    if state is None:
        state = VisitIndexState(visits=0)
        db.session.add(state)
        db.session.flush()
    tenant_id = current_tenant_id()
    for model in (VisitTerm, IndexedVisit):
        db.session.execute(delete(model).where(model.tenant_id == tenant_id))
    visit_rows, term_rows = [], []
    seen_terms = set()
    # Up to tomorrow (UTC): the shop's today, in any time zone (visits that happened are never later).
    for v in load_visits(local_today() + timedelta(days=1))[0]:
        if v.booked:
            continue
        visit_rows.append({"tenant_id": tenant_id, "client_id": v.client_id, "day": v.day, "amount": v.amount,
                           "advisor_id": v.advisor_id})
        for kind, names in ((JOB, v.jobs), (TECHNICIAN, v.technicians)):
            for name in names or ():
                for term in terms(name):
                    key = (v.client_id, v.day, kind, term)
                    if key not in seen_terms:
                        seen_terms.add(key)
                        term_rows.append({"tenant_id": tenant_id, "client_id": v.client_id, "day": v.day,
                                          "kind": kind, "term": term, "label": str(name)[:200]})
    # Only clients that still exist: a plugin may report a visit of a client deleted since.
    existing = set(db.session.scalars(_client_ids()))
    visit_rows = [r for r in visit_rows if r["client_id"] in existing]
    term_rows = [r for r in term_rows if r["client_id"] in existing]
    for model, rows in ((IndexedVisit, visit_rows), (VisitTerm, term_rows)):
        for i in range(0, len(rows), 5000):
            db.session.execute(insert(model), rows[i:i + 5000])
    state.refreshed_at = utcnow()
    state.visits = len(visit_rows)
    db.session.flush()
    return len(visit_rows)


def _client_ids():
    from .models import Client

    return select(Client.id)


def refreshed_at() -> datetime | None:
    return _aware(db.session.scalars(select(VisitIndexState.refreshed_at)).first())


def ensure_fresh() -> None:
    """Rebuild (and commit) the index when it is older than :data:`MAX_AGE` or was never built."""
    stamp = refreshed_at()
    if stamp is None or utcnow() - stamp > MAX_AGE:
        rebuild()
        db.session.commit()


def index_job(ctx=None):
    """The scheduled job: keep the index warm so that a filter rarely has to rebuild it."""
    rebuild()
    db.session.commit()


def suggestions(kind: str, limit: int = 200) -> list[str]:
    """Known job or technician names (as written), for the filter page's suggestions."""
    return sorted(set(db.session.scalars(select(VisitTerm.label).where(VisitTerm.kind == kind)
                                         .distinct().limit(limit))))


def advisor_ids() -> list[int]:
    return list(db.session.scalars(select(IndexedVisit.advisor_id).where(IndexedVisit.advisor_id.is_not(None))
                                   .distinct()))
