"""Mass mailing to a segment (``crm.advanced``) and unsubscribing.

A mailing is a saved segment plus a template of the event ``mailing``. The preview counts who would
get it: clients of the segment with consent for the template's channel, an address for it, and no
opt-out from mailings on that channel; the others are counted per reason. Sending queues one outbox
message per recipient (:mod:`plugins.crm.messages`: the background job sends them, honouring quiet
hours and retrying) with the idempotency key ``mailing:<id>:<client>``, so sending again queues nothing
twice; the mailing itself is claimed ``draft`` -> ``sent`` with a conditional UPDATE first.

Every mailing message carries an unsubscribe link: ``/crm/unsubscribe/<shop slug>/<token>``, the token
signed with the app's secret (tenant, client, channel, mailing), no login. Confirming there records
an :class:`Unsubscribe` (with its date); later mailings on that channel leave the client out.
Event messages (booking confirmed, car ready...) are not mailings and still go out.
"""
from __future__ import annotations

import secrets
from datetime import datetime

from flask import Blueprint, abort, current_app, g, render_template
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import TemplateError
from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.db import TenantScoped, db
from core.i18n import domain
from core.models import utcnow
from core.web import tenant_from_url

from . import messages
from .models import Client
from .services import CrmError

_ = domain("crm").gettext
_l = domain("crm").lazy_gettext
FEATURE = "crm.advanced"
EVENT = "mailing"  # the template event of mailing templates
REASONS = ("unsubscribed", "no_consent", "no_address")


class Mailing(TenantScoped, db.Model):
    __tablename__ = "crm_mailing"
    __table_args__ = (UniqueConstraint("tenant_id", "key"), Index(None, "tenant_id", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))  # the creator's idempotency key (a form's nonce)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("crm_segment.id", ondelete="SET NULL"))
    segment_name: Mapped[str] = mapped_column(String(120), default="")
    template_id: Mapped[int | None] = mapped_column(ForeignKey("crm_message_template.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="draft")  # draft, sent
    recipients: Mapped[int] = mapped_column(Integer, default=0)  # queued when sent
    excluded: Mapped[dict] = mapped_column(JSON, default=dict)  # reason -> count, when sent
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Unsubscribe(TenantScoped, db.Model):
    """A client's opt-out from mailings on one channel, with its date and the mailing it came from."""

    __tablename__ = "crm_unsubscribe"
    __table_args__ = (UniqueConstraint("tenant_id", "client_id", "channel"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    mailing_id: Mapped[int | None] = mapped_column(ForeignKey("crm_mailing.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


MODELS = [Mailing, Unsubscribe]


# --- tokens ----------------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="crm.unsubscribe")


def unsubscribe_token(client_id: int, channel: str, mailing_id: int | None) -> str:
    from core.tenancy import current_tenant

    return _serializer().dumps([current_tenant().id, client_id, channel, mailing_id])


def unsubscribe_base() -> str:
    """The unsubscribe URL with ``{token}`` to fill in (built once per mailing, not per recipient)."""
    from core.tenancy import current_tenant

    slug = current_tenant().slug
    from .links import absolute_url

    url = absolute_url("crm_mailing_public.unsubscribe_page", station=slug, token="TOKEN")
    return url[: url.rindex("TOKEN")] + "{token}"


def unsubscribe_url(client_id: int, channel: str, mailing_id: int | None, base: str | None = None) -> str:
    return (base or unsubscribe_base()).format(token=unsubscribe_token(client_id, channel, mailing_id))


def read_token(token: str) -> tuple[int, str, int | None]:
    """``(client_id, channel, mailing_id)`` of a token for the current shop; 404 for anything else."""
    try:
        tenant_id, client_id, channel, mailing_id = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        abort(404)
    if tenant_id != g.tenant.id or channel not in messages.CHANNELS:
        abort(404)
    return int(client_id), channel, mailing_id


# --- preview and sending ---------------------------------------------------------------------------


def _template(template_id) -> messages.MessageTemplate:
    try:
        template = db.session.get(messages.MessageTemplate, int(template_id))
    except (TypeError, ValueError):
        template = None
    if template is None or template.event != EVENT or not template.active:
        raise CrmError(_("Choose an active mailing template."), field="template_id")
    return template


def _segment(segment_id):
    from .segments import Segment

    try:
        segment = db.session.get(Segment, int(segment_id))
    except (TypeError, ValueError):
        segment = None
    if segment is None:
        raise CrmError(_("Choose a saved segment."), field="segment_id")
    return segment


def audience(segment, channel: str) -> tuple[list[tuple[Client, str]], dict]:
    """``([(client, address)], {reason: count})`` for a segment and a channel (bulk reads only)."""
    from .segments import filter_clients

    clients = filter_clients(segment.filters)
    opted_out = set(db.session.scalars(select(Unsubscribe.client_id).where(Unsubscribe.channel == channel)))
    excluded = dict.fromkeys(REASONS, 0)
    offered = messages.channels().get(channel) if channel not in messages.BUILTIN_KINDS else None
    out = []
    for client in clients:
        if client.id in opted_out:
            excluded["unsubscribed"] += 1
            continue
        if channel not in messages.BUILTIN_KINDS:  # a plugin's kind (a messenger): its channel finds the address
            address = messages.plugin_recipient(offered, client)[0] if offered is not None else None
            if address is None:
                excluded["no_address"] += 1
            else:
                out.append((client, address))
            continue
        consent = client.consent_sms if channel == "sms" else client.consent_email
        addresses = client.phones if channel == "sms" else client.emails
        if not consent:
            excluded["no_consent"] += 1
        elif not addresses:
            excluded["no_address"] += 1
        else:
            out.append((client, addresses[0]))
    return out, excluded


def preview(segment_id, template_id, keep: bool = False) -> dict:
    errors = {}
    segment = template = None
    for field, load, value in (("segment_id", _segment, segment_id), ("template_id", _template, template_id)):
        try:
            if field == "segment_id":
                segment = load(value)
            else:
                template = load(value)
        except CrmError as exc:
            errors[field] = [str(exc.message)]
    if errors:
        raise CrmError(_("Check the highlighted fields."), fields=errors)
    recipients, excluded = audience(segment, template.channel)
    out = {"segment": {"id": segment.id, "name": segment.name}, "template_id": template.id,
           "channel": template.channel, "recipients": len(recipients), "excluded": excluded,
           "total": len(recipients) + sum(excluded.values())}
    if keep:
        out["_audience"] = (recipients, excluded)
    return out


def create(segment_id, template_id, key: str | None = None, user=None) -> tuple[Mailing, bool]:
    """``(mailing, created)``: a draft mailing; the same ``key`` again returns the first one."""
    key = (key or "").strip()[:64] or secrets.token_hex(16)
    existing = db.session.scalars(select(Mailing).where(Mailing.key == key)).first()
    if existing is not None:
        return existing, False
    info = preview(segment_id, template_id, keep=True)
    mailing = Mailing(key=key, segment_id=info["segment"]["id"], segment_name=info["segment"]["name"],
                      template_id=info["template_id"], channel=info["channel"],
                      created_by_id=getattr(user, "id", None))
    db.session.add(mailing)
    db.session.flush()
    mailing._audience = info.pop("_audience")  # sending in the same request need not filter again
    audit.record("create", mailing, user=user, changes={"segment": info["segment"]["name"],
                                                        "template_id": info["template_id"]})
    return mailing, True


def _body_with_link(body: str, link: str) -> str:
    if link in body:
        return body
    line = _("Unsubscribe: %(url)s", url=link)
    return body.rstrip() + "\n\n" + line


def send(mailing: Mailing, user=None) -> int:
    """Queue the mailing's messages (one per recipient); returns how many were queued this time. A
    mailing that was sent already queues nothing."""
    from .segments import Segment

    claimed = db.session.execute(update(Mailing).where(Mailing.id == mailing.id, Mailing.status == "draft")
                                 .values(status="sent", sent_at=utcnow())
                                 .execution_options(synchronize_session=False))
    if not claimed.rowcount:
        return 0
    db.session.refresh(mailing)
    template = _template(mailing.template_id)
    segment = db.session.get(Segment, mailing.segment_id) if mailing.segment_id else None
    if segment is None:
        raise CrmError(_("Choose a saved segment."), field="segment_id")
    recipients, excluded = getattr(mailing, "_audience", None) or audience(segment, template.channel)
    prefix = f"mailing:{mailing.id}:"
    taken = set(db.session.scalars(select(messages.Message.idempotency_key)
                                   .where(messages.Message.idempotency_key.like(prefix + "%"))))
    shop = messages.settings()["shop_name"]
    conf = messages.settings()
    hold = messages.quiet_until(utcnow(), conf)  # shown as "goes out at" while the shop sleeps
    from core.tenancy import current_tenant_id

    queued, rows, tenant_id, now = 0, [], current_tenant_id(), utcnow()
    base = unsubscribe_base()
    try:  # compiled once for the whole mailing (compiling per recipient was most of the time)
        compiled = (messages.compile_template(template.subject) if template.channel == "email" else None,
                    messages.compile_template(template.body))
        compile_error = None
    except TemplateError as exc:
        compiled, compile_error = None, exc
    for client, address in recipients:
        key = f"{prefix}{client.id}"
        if key in taken:
            continue
        link = unsubscribe_url(client.id, template.channel, mailing.id, base)
        context = {"client": {"id": client.id, "name": client.name}, "vehicle": {}, "shop": shop,
                   "unsubscribe_url": link}
        try:
            if compile_error is not None:
                raise compile_error
            subject = compiled[0].render(**context) if compiled[0] is not None else None
            body = _body_with_link(compiled[1].render(**context), link)
            status, error = "queued", None
        except TemplateError as exc:
            subject, body, status = None, "", "failed"
            error = messages.reason("template_error", str(exc))
        rows.append({"tenant_id": tenant_id, "client_id": client.id, "vehicle_id": None, "template_id": template.id,
                     "event": EVENT, "channel": template.channel, "recipient": address, "subject": subject,
                     "body": body, "status": status, "attempts": 0, "last_error": error, "next_attempt_at": hold,
                     "idempotency_key": key, "created_at": now})
        queued += 1
    if rows:
        # One bulk INSERT (executemany), not a unit of work over thousands of objects.
        db.session.execute(insert(messages.Message), rows)
    mailing.recipients, mailing.excluded = queued, excluded
    db.session.flush()
    audit.record("crm.mailing.send", mailing, user=user, changes={"recipients": queued, "excluded": excluded})
    return queued


def unsubscribe(client_id: int, channel: str, mailing_id: int | None) -> Unsubscribe:
    row = db.session.scalars(select(Unsubscribe).where(Unsubscribe.client_id == client_id,
                                                       Unsubscribe.channel == channel)).first()
    if row is not None:
        return row
    if mailing_id is not None and db.session.get(Mailing, mailing_id) is None:
        mailing_id = None
    row = Unsubscribe(client_id=client_id, channel=channel, mailing_id=mailing_id)
    db.session.add(row)
    db.session.flush()
    audit.record("crm.unsubscribe", row, changes={"client_id": client_id, "channel": channel,
                                                 "mailing_id": mailing_id}, actor="unsubscribe-page")
    return row


def as_dict(m: Mailing) -> dict:
    return {"id": m.id, "key": m.key, "segment_id": m.segment_id, "segment_name": m.segment_name,
            "template_id": m.template_id, "channel": m.channel, "status": m.status, "recipients": m.recipients,
            "excluded": m.excluded or {}, "created_at": m.created_at.isoformat() if m.created_at else None,
            "sent_at": m.sent_at.isoformat() if m.sent_at else None}


# --- the public unsubscribe page -------------------------------------------------------------------

public = Blueprint("crm_mailing_public", __name__, url_prefix="/crm", template_folder="templates")


def _client_for(token: str):
    if g.get("tenant") is None:
        abort(404)
    client_id, channel, mailing_id = read_token(token)
    client = db.session.get(Client, client_id)
    if client is None:
        abort(404)
    return client, channel, mailing_id


@public.get("/unsubscribe/<station>/<token>")
@tenant_from_url("station")
def unsubscribe_page(station: str, token: str):
    # A GET only asks: mail scanners open links, and must not unsubscribe anybody.
    client, channel, _mailing_id = _client_for(token)
    done = db.session.scalars(select(Unsubscribe).where(Unsubscribe.client_id == client.id,
                                                        Unsubscribe.channel == channel)).first()
    return render_template("crm/unsubscribe.html", done=done, channel=channel, _=_)


@public.post("/unsubscribe/<station>/<token>")
@tenant_from_url("station")
def unsubscribe_submit(station: str, token: str):
    client, channel, mailing_id = _client_for(token)
    row = unsubscribe(client.id, channel, mailing_id)
    db.session.commit()
    return render_template("crm/unsubscribe.html", done=row, channel=channel, _=_)
