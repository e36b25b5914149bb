"""Review requests (crm.basic): the shop asks a client for a review; the client opens a public link (the
shop's slug and a secret token per request, no login), leaves a score from 1 to 5 and a comment, once.
The answers show on the client's card (``GET /api/v1/crm/clients/<id>/reviews``).
"""
from __future__ import annotations

import secrets
from datetime import datetime

from flask import Blueprint, abort, g, render_template, request
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.db import TenantScoped, db
from core.i18n import domain
from core.models import utcnow
from core.web import tenant_from_url

from .models import Client, Vehicle

_ = domain("crm").gettext
FEATURE = "crm.basic"
REVIEW_ACTOR = "review-page"  # who the audit log names for answers given on the public page


class ReviewRequest(TenantScoped, db.Model):
    __tablename__ = "crm_review"
    __table_args__ = (UniqueConstraint("tenant_id", "token"), Index(None, "tenant_id", "client_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="SET NULL"))
    token: Mapped[str] = mapped_column(String(64))
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


MODELS = [ReviewRequest]


def request_review(client: Client, vehicle: Vehicle | None = None) -> ReviewRequest:
    row = ReviewRequest(client_id=client.id, vehicle_id=vehicle.id if vehicle else None,
                        token=secrets.token_urlsafe(32))
    db.session.add(row)
    db.session.flush()
    audit.record("crm.review.request", row, changes={"client_id": client.id})
    return row


def public_url(row: ReviewRequest) -> str:
    from core.tenancy import current_tenant

    from .links import absolute_url

    slug = current_tenant().slug  # also outside a request (events dispatched after the commit, jobs)
    return absolute_url("crm_public.review_page", station=slug, token=row.token)


def summary(client_id: int) -> dict:
    """A client's answered reviews for the card: ``average`` (one decimal, or None), ``count``, ``rows``
    (answered and waiting, newest first)."""
    rows = list(db.session.scalars(select(ReviewRequest).where(ReviewRequest.client_id == client_id)
                                   .order_by(ReviewRequest.created_at.desc(), ReviewRequest.id.desc())))
    scores = [r.score for r in rows if r.score is not None]
    average = None
    if scores:
        from decimal import ROUND_HALF_UP, Decimal

        average = str((Decimal(sum(scores)) / len(scores)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return {"average": average, "count": len(scores), "requested": len(rows), "rows": rows}


def send_request(client: Client, vehicle: Vehicle | None, key: str, context_extra: dict | None = None,
                 delay_days: int = 0, user=None) -> tuple[ReviewRequest | None, list]:
    """A review request with its link sent by the ``review_request`` templates (``{{ review_url }}``),
    due ``delay_days`` from now. Nothing happens when ``key`` was used before or no template is active."""
    from datetime import timedelta

    from . import messages

    templates = list(db.session.scalars(select(messages.MessageTemplate).where(
        messages.MessageTemplate.event == "review_request", messages.MessageTemplate.active.is_(True))))
    if not templates:
        return None, []
    if db.session.scalar(select(messages.Message.id).where(messages.Message.idempotency_key.like(key + ":t%"))):
        return None, []
    row = request_review(client, vehicle)
    context = messages.context_for(client, vehicle, review_url=public_url(row), **(context_extra or {}))
    queued = messages.queue_for_event("review_request", client, vehicle, context, key, user=user)
    if delay_days:
        at = utcnow() + timedelta(days=delay_days)
        for m in queued:
            if m.status in ("queued", "draft"):
                m.next_attempt_at = at
        db.session.flush()
    return row, queued


def request_after_close(event) -> list:
    """``workshop.work_order.close``: ask the client for a review ``review_request_days`` later (the
    message waits in the outbox until then)."""
    from core.documents.service import document_types

    from . import messages

    payload = event.payload
    dt = document_types().get(payload.get("doc_type") or "")
    doc = db.session.get(dt.model, payload.get("id")) if dt else None
    client = db.session.get(Client, getattr(doc, "client_id", None)) if getattr(doc, "client_id", None) else None
    if client is None:
        return []
    vehicle_id = getattr(doc, "vehicle_id", None)
    vehicle = db.session.get(Vehicle, vehicle_id) if vehicle_id else None
    days = messages.settings()["review_request_days"]
    _row, queued = send_request(client, vehicle, f"review:{event.name}:{doc.id}",
                                {"event": dict(payload), "document": messages._document_fields(doc)}, days)
    return queued


def as_dict(row: ReviewRequest, with_link: bool = False) -> dict:
    out = {"id": row.id, "client_id": row.client_id, "vehicle_id": row.vehicle_id, "score": row.score,
           "comment": row.comment, "created_at": row.created_at.isoformat(),
           "answered_at": row.answered_at.isoformat() if row.answered_at else None}
    if with_link:
        out["url"] = public_url(row)
    return out


public = Blueprint("crm_public", __name__, url_prefix="/crm", template_folder="templates")


@public.before_app_request
def _remember_host():
    from .links import remember_request_host

    remember_request_host()


def _find(token: str) -> ReviewRequest:
    tenant = g.get("tenant")
    if tenant is None or not tenant.has(FEATURE):
        abort(404)
    row = db.session.scalars(select(ReviewRequest).where(ReviewRequest.token == token)).first()
    if row is None:  # a wrong token looks exactly like a missing page
        abort(404)
    return row


@public.get("/review/<station>/<token>")
@tenant_from_url("station")
def review_page(station: str, token: str):
    row = _find(token)
    return render_template("crm/review_public.html", row=row, form={}, errors={}, _=_)


@public.post("/review/<station>/<token>")
@tenant_from_url("station")
def review_submit(station: str, token: str):
    row = _find(token)
    if row.answered_at is not None:
        return render_template("crm/review_public.html", row=row, form={}, errors={}, _=_), 409
    form = {"score": request.form.get("score", ""), "comment": request.form.get("comment", "")}
    errors = {}
    try:
        score = int(form["score"])
        if not 1 <= score <= 5:
            raise ValueError
    except ValueError:
        errors["score"] = [_("Choose a score from 1 to 5.")]
    comment = form["comment"].strip()
    if len(comment) > 2000:
        errors["comment"] = [_("Keep the comment under 2000 characters.")]
    if errors:
        return render_template("crm/review_public.html", row=row, form=form, errors=errors, _=_), 422
    row.score, row.comment, row.answered_at = score, comment or None, utcnow()
    audit.record("crm.review.answer", row, changes={"score": score}, actor=REVIEW_ACTOR)
    db.session.commit()
    return render_template("crm/review_public.html", row=row, form={}, errors={}, _=_)
