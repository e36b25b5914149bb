"""Messages to clients (``crm.basic``): templates per event, an outbox, and the job that sends it.

Every message goes through the outbox (:class:`Message`): an event handler or a user queues it, the
scheduled job ``crm.send_messages`` sends it. A template in "ask first" mode queues a ``draft`` that a
user approves. Sending is at most once: the job claims a message with a conditional UPDATE
(``queued`` -> ``sending``) and commits before talking to the provider, so a second run (or a second
worker) never sends it again; ``idempotency_key`` (unique per tenant) stops the same event from queueing
it twice. A failed send goes back to ``queued`` with an exponential back-off; after ``max_attempts``
it is ``failed``. Consent is checked when queueing and again when sending; quiet hours (the shop's
local time) defer sending to their end.

A worker that dies between the claim and the result leaves a message in ``sending``. The claim is
therefore a lease: ``next_attempt_at`` holds when it expires (:data:`SENDING_LEASE`), and ``sent_at``
is written (and committed) just before the message is handed to the provider. The next run reclaims a
message whose lease expired: never handed over (``sent_at`` empty) -> back to ``queued``, sent normally;
handed over -> ``failed`` with a note that it may have been delivered, and NOT sent again. So at most
once holds; the price is that a message handed over just before a crash is reported as failed even
when the provider delivered it (staff see the note and may resend it by hand), and a stuck message waits
for its lease to expire. A stuck message can also be cancelled once its lease has expired.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from marshmallow import Schema, ValidationError, fields, validate, validates
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from core import audit
from core.db import TenantScoped, db
from core.i18n import domain, shop_language
from core.models import utcnow

from .models import Client, Vehicle
from .schemas import CHANNEL_LABELS, TEMPLATE_EVENT_LABELS, TEMPLATE_MODE_LABELS

_ = domain("crm").gettext
_l = domain("crm").lazy_gettext
log = logging.getLogger(__name__)

FEATURE = "crm.basic"
BUILTIN_KINDS = ("sms", "email")


class _ChannelKinds(Sequence):
    """The current tenant's channel kinds: ``sms`` and ``email``, plus the kinds its plugins add through
    ``crm_message_channels`` (a messenger). Read at each use, so validators and checks built on it
    (``value in CHANNELS``) follow the tenant; outside an app context only the built-in kinds."""

    def _kinds(self) -> tuple:
        try:
            return channel_kinds()
        except (RuntimeError, NameError):  # no app context, or this module still loading (import time)
            return BUILTIN_KINDS

    def __getitem__(self, index):
        return self._kinds()[index]

    def __len__(self) -> int:
        return len(self._kinds())

    def __contains__(self, value) -> bool:
        return value in self._kinds()


CHANNELS = _ChannelKinds()
KIND_RE = re.compile(r"^[a-z][a-z0-9_]{1,9}$")  # fits crm_message.channel (10 characters)
MODES = ("auto", "ask")
STATUSES = ("draft", "queued", "sending", "sent", "failed", "skipped", "cancelled")
# How long a claim holds: far above a provider call (the channels time out after seconds), so that only
# a worker that died leaves a message in "sending" for longer.
SENDING_LEASE = timedelta(minutes=15)
# Template event -> the core event that triggers it (None: queued by a user action, e.g. an invitation).
EVENTS = {
    "booking_confirmed": "planner.booking.confirmed",
    "car_ready": "workshop.work_order.finish",
    "work_order_closed": "workshop.work_order.close",
    "reminder_due": None,
    "review_request": None,  # N days after a work order closed (settings: review_request_days)
    "mailing": None,  # mass mailing to a segment (crm.advanced; plugins/crm/mailings.py)
}
TRIGGERS = {core_event: key for key, core_event in EVENTS.items() if core_event}


class UTCDateTime(TypeDecorator):
    """An instant, aware UTC in Python on both databases: the outbox compares ``next_attempt_at`` with
    "now" in SQL, and SQLite has no time zones (naive UTC text there, which compares correctly)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = value.astimezone(timezone.utc) if value.tzinfo else value
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class MessageTemplate(TenantScoped, db.Model):
    __tablename__ = "crm_message_template"
    __table_args__ = (Index(None, "tenant_id", "event"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10), default="sms")
    title: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str | None] = mapped_column(String(300))  # e-mail only
    body: Mapped[str] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(Text)  # a Jinja expression; empty: always
    mode: Mapped[str] = mapped_column(String(10), default="auto")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Message(TenantScoped, db.Model):
    """One message in the outbox (and, once sent, the client's message history)."""

    __tablename__ = "crm_message"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index(None, "tenant_id", "status", "next_attempt_at"),
        Index(None, "tenant_id", "client_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="SET NULL"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("crm_message_template.id", ondelete="SET NULL"))
    event: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


MODELS = [MessageTemplate, Message]


# --- settings --------------------------------------------------------------------------------------

from .message_settings import MessageSettingsSchema  # noqa: E402 - kept import-light for the manifest


def settings() -> dict:
    """The current tenant's message settings, installation defaults filled in."""
    from flask import current_app

    from core.models import Tenant
    from core.tenancy import current_tenant_id

    tenant = db.session.get(Tenant, current_tenant_id())
    stored = {**(current_app.config.get("CRM_MESSAGES") or {}), **((tenant.plugin_settings or {}).get("crm") or {})}
    try:
        values = MessageSettingsSchema().load(stored, unknown="exclude")
    except ValidationError:
        values = MessageSettingsSchema().load({})
    values["sms_ru_base_url"] = (current_app.config.get("CRM_MESSAGES") or {}).get("sms_ru_base_url") or "https://sms.ru"
    values["timezone"] = tenant.timezone or "UTC"
    values["shop_name"] = tenant.name
    return values


def quiet_until(now: datetime, conf: dict) -> datetime | None:
    """The end of the quiet hours (UTC) if ``now`` falls inside them, else None."""
    start, end = (time.fromisoformat(conf["quiet_from"]), time.fromisoformat(conf["quiet_to"]))
    if start == end:
        return None
    tz = ZoneInfo(conf["timezone"])
    local = now.astimezone(tz)
    t = local.time()
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(ZoneInfo("UTC"))


# --- templates -------------------------------------------------------------------------------------

_env = SandboxedEnvironment(autoescape=False)


def check_template(body: str | None, condition: str | None) -> dict:
    """Per-field syntax errors of a template's body/subject and condition (empty when fine)."""
    errors = {}
    try:
        _env.from_string(body or "")
    except TemplateError as exc:
        errors["body"] = [_("Template error: %(error)s", error=str(exc))]
    if condition and condition.strip():
        try:
            _env.compile_expression(condition)
        except TemplateError as exc:
            errors["condition"] = [_("Condition error: %(error)s", error=str(exc))]
    return errors


def render(text: str | None, context: dict) -> str:
    return _env.from_string(text or "").render(**context)


def compile_template(text: str | None):
    """A sandboxed template to render many times (a mailing); raises TemplateError."""
    return _env.from_string(text or "")


def condition_holds(condition: str | None, context: dict) -> bool:
    if not condition or not condition.strip():
        return True
    return bool(_env.compile_expression(condition, undefined_to_none=True)(**context))


class TemplateSchema(Schema):
    # Labels only (metadata) are kept by the CRM's forms work; see plugins/crm/schemas.py for the maps.
    id = fields.Integer(dump_only=True)
    event = fields.String(required=True, validate=validate.OneOf(
        list(EVENTS), error=_l("Event is one of: %(choices)s.", choices=", ".join(EVENTS))),
        metadata={"label": _l("Event"), "choices": TEMPLATE_EVENT_LABELS})
    channel = fields.String(load_default="sms", validate=validate.OneOf(
        CHANNELS, error=_l("Channel is one of: %(choices)s.", choices=", ".join(CHANNELS))),
        metadata={"label": _l("Channel"), "choices": CHANNEL_LABELS})
    title = fields.String(load_default="", validate=validate.Length(max=200), metadata={"label": _l("Title")})
    subject = fields.String(allow_none=True, validate=validate.Length(max=300),
                            metadata={"label": _l("Subject"), "help": _l("E-mail only.")})
    body = fields.String(required=True, validate=validate.Length(min=1, error=_l("Write the message.")),
                         metadata={"label": _l("Text"), "multiline": True})
    condition = fields.String(allow_none=True, metadata={
        "label": _l("Condition"), "help": _l("Send only when this holds, e.g. document.state == \"done\"; empty: always.")})
    mode = fields.String(load_default="auto", validate=validate.OneOf(
        MODES, error=_l("Mode is one of: %(choices)s.", choices=", ".join(MODES))),
        metadata={"label": _l("Mode"), "choices": TEMPLATE_MODE_LABELS})
    active = fields.Boolean(load_default=True, metadata={"label": _l("Active")})
    created_at = fields.DateTime(dump_only=True)

    @validates("body")
    def _body(self, value, **kwargs):
        errors = check_template(value, None)
        if errors:
            raise ValidationError(errors["body"])

    @validates("subject")
    def _subject(self, value, **kwargs):
        errors = check_template(value, None)
        if errors:
            raise ValidationError(errors["body"])

    @validates("condition")
    def _condition(self, value, **kwargs):
        errors = check_template(None, value)
        if errors:
            raise ValidationError(errors["condition"])


DEFAULT_TEMPLATES = (
    ("booking_confirmed", "sms", None,
     _l("{{ shop }}: you are booked for {{ event.start_at or '' }}. {{ vehicle.plate or '' }}")),
    ("car_ready", "sms", None, _l("{{ shop }}: your car {{ vehicle.plate or '' }} is ready.")),
    ("work_order_closed", "email", _l("{{ shop }}: work order {{ document.number }}"),
     _l("Hello, {{ client.name }}! Thank you for visiting {{ shop }}. Work order {{ document.number }} is closed.")),
    ("reminder_due", "sms", None,
     _l("{{ shop }}: {{ reminder.title }} for {{ vehicle.plate or '' }} is due {{ reminder.due_on }}. Book a visit!")),
    ("review_request", "sms", None,
     _l("{{ shop }}: thank you for your visit! Please rate us: {{ review_url }}")),
    ("mailing", "email", _l("{{ shop }}: news for our clients"),
     _l("Hello, {{ client.name }}! {{ shop }} has news for you.\n\nUnsubscribe: {{ unsubscribe_url }}")),
)


def seed_templates() -> int:
    """One default template per event the tenant has none for; idempotent."""
    have = set(db.session.scalars(select(MessageTemplate.event)))
    added = 0
    with shop_language():  # the texts are the shop's to edit: in its language, not the server's
        for event, channel, subject, body in DEFAULT_TEMPLATES:
            if event in have:
                continue
            db.session.add(MessageTemplate(event=event, channel=channel, title=event.replace("_", " "),
                                           subject=str(subject) if subject else None, body=str(body),
                                           mode="auto"))
            added += 1
    db.session.flush()
    return added


# --- why a message was not sent ---------------------------------------------------------------------
# Stored as a code ("@no_consent_email", "@no_channel:tg") and put into words when shown, in the
# reader's language: text stored at writing time stays in the language of whoever triggered the send.

REASONS = {
    "no_channel": lambda p: _("No %(kind)s channel is set up.", kind=p),
    "no_consent_sms": lambda p: _("The client has not consented to SMS."),
    "no_phone": lambda p: _("The client has no phone number."),
    "no_consent_email": lambda p: _("The client has not consented to e-mail."),
    "no_email": lambda p: _("The client has no e-mail address."),
    "no_address": lambda p: _("The client has no %(kind)s address.", kind=p),
    "no_consent": lambda p: _("The client has not consented to %(kind)s messages.", kind=p),
    "interrupted_before": lambda p: _("The sending was interrupted before the message reached the provider; "
                                      "it is sent again."),
    "interrupted_after": lambda p: _("The sending was interrupted after the message was handed to the "
                                     "provider: it may have been delivered, so it is not sent again "
                                     "automatically."),
    "template_error": lambda p: _("Template error: %(error)s", error=p),
}


def reason(code: str, param: str | None = None) -> str:
    return f"@{code}" if param is None else f"@{code}:{param}"


def reason_text(value: str | None) -> str | None:
    """A stored reason in the current language; anything else (a provider's own words, rows written
    before reasons were codes) as it is."""
    if not value or not value.startswith("@"):
        return value
    code, _sep, param = value[1:].partition(":")
    words = REASONS.get(code)
    return words(param or None) if words else value


# --- queueing --------------------------------------------------------------------------------------


def _recipient(client: Client, channel: str) -> tuple[str | None, str | None]:
    """``(address, why not)``: the client's first phone or e-mail if the client consented; for a kind a
    plugin adds, what its channel says (:func:`plugin_recipient`)."""
    if channel not in BUILTIN_KINDS:
        offered = channels().get(channel)
        if offered is None:
            return None, reason("no_channel", channel)
        return plugin_recipient(offered, client)
    if channel == "sms":
        if not client.consent_sms:
            return None, reason("no_consent_sms")
        return (client.phones[0], None) if client.phones else (None, reason("no_phone"))
    if not client.consent_email:
        return None, reason("no_consent_email")
    return (client.emails[0], None) if client.emails else (None, reason("no_email"))


def plugin_recipient(channel, client: Client) -> tuple[str | None, str | None]:
    """The address of ``client`` on a plugin's own kind of channel: ``channel.recipient(client)`` (a
    per-client handle the plugin keeps, e.g. a messenger chat id; None: the client has none, which for
    a messenger also means no consent), else ``channel.client_field`` (``"phone"`` or ``"email"``: the
    client's first one, with the consent ``channel.consent`` names, ``"sms"`` or ``"email"``, by default
    the field's own)."""
    kind = channel.kind
    finder = getattr(channel, "recipient", None)
    if callable(finder):
        address = finder(client)
        return (str(address)[:254], None) if address else (None, reason("no_address", kind))
    field = getattr(channel, "client_field", None)
    if field not in ("phone", "email"):
        return None, reason("no_channel", kind)
    consent = getattr(channel, "consent", None) or ("sms" if field == "phone" else "email")
    if not getattr(client, f"consent_{consent}", False):
        return None, reason("no_consent", kind)
    values = client.phones if field == "phone" else client.emails
    return (values[0], None) if values else (None, reason("no_address", kind))


def context_for(client: Client, vehicle: Vehicle | None, **extra) -> dict:
    return {
        "client": {"id": client.id, "name": client.name},
        "vehicle": {"id": vehicle.id, "plate": vehicle.plate, "make": vehicle.make, "model": vehicle.model,
                    "vin": vehicle.vin} if vehicle else {},
        "shop": settings()["shop_name"],
        **extra,
    }


def queue(template: MessageTemplate, client: Client, vehicle: Vehicle | None, context: dict, key: str,
          user=None) -> Message | None:
    """Queue ``template`` for ``client`` unless ``key`` was queued before (returns None then) or its
    condition does not hold. Without consent or an address the message is kept as ``skipped`` with
    the reason, so the staff see why the client got nothing."""
    key = f"{key}:t{template.id}"
    if db.session.scalar(select(Message.id).where(Message.idempotency_key == key)) is not None:
        return None
    try:
        if not condition_holds(template.condition, context):
            return None
        subject = render(template.subject, context) if template.channel == "email" else None
        body = render(template.body, context)
    except TemplateError as exc:
        subject, body = None, ""
        error = reason("template_error", str(exc))
        status, address = "failed", ""
    else:
        address, error = _recipient(client, template.channel)
        status = "skipped" if address is None else ("draft" if template.mode == "ask" else "queued")
    message = Message(client_id=client.id, vehicle_id=vehicle.id if vehicle else None, template_id=template.id,
                      event=template.event, channel=template.channel, recipient=address or "", subject=subject,
                      body=body, status=status, last_error=error, idempotency_key=key[:200])
    # A savepoint: a concurrent handler that queued the same key first wins; this one is a no-op.
    try:
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except IntegrityError:
        return None
    audit.record("create", message, user=user, changes={"event": [None, message.event], "status": [None, status],
                                                         "channel": [None, message.channel]})
    return message


def queue_for_event(event_key: str, client: Client, vehicle: Vehicle | None, context: dict, key: str,
                    user=None) -> list[Message]:
    templates = db.session.scalars(select(MessageTemplate).where(MessageTemplate.event == event_key,
                                                                 MessageTemplate.active.is_(True))
                                   .order_by(MessageTemplate.id))
    return [m for t in templates if (m := queue(t, client, vehicle, context, key, user=user)) is not None]


def _document_fields(doc) -> dict:
    out = {}
    for column in doc.__table__.columns:
        value = getattr(doc, column.key, None)
        out[column.key] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


def handle_event(event) -> list[Message]:
    """``on_event``: queue the templates of the event's kind for the client it concerns.

    Documents (``workshop.work_order.finish``...) carry only their id: the document is loaded through
    the documents registry, so the CRM does not import the workshop. Other events (a planner booking)
    carry ``client_id``/``vehicle_id`` in their payload.
    """
    event_key = TRIGGERS.get(event.name)
    if event_key is None:
        return []
    payload = dict(event.payload)
    document = {}
    if payload.get("doc_type"):
        from core.documents.service import document_types

        dt = document_types().get(payload["doc_type"])
        doc = db.session.get(dt.model, payload.get("id")) if dt else None
        if doc is None:
            return []
        document = _document_fields(doc)
    client_id = document.get("client_id") or payload.get("client_id")
    vehicle_id = document.get("vehicle_id") or payload.get("vehicle_id")
    client = db.session.get(Client, client_id) if client_id else None
    if client is None:
        return []
    vehicle = db.session.get(Vehicle, vehicle_id) if vehicle_id else None
    context = context_for(client, vehicle, event=payload, document=document)
    key = f"{event.name}:{payload.get('id') or payload.get('booking_id') or ''}"
    return queue_for_event(event_key, client, vehicle, context, key)


# --- sending ---------------------------------------------------------------------------------------


class ChannelError(Exception):
    """A send that failed; the message is retried later (``permanent``: failed at once)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def channels() -> dict:
    """``kind -> channel`` from ``crm_message_channels``: another plugin's channel replaces the CRM's
    built-in one of the same kind (e.g. a different SMS provider)."""
    from .channels import BUILTIN
    from .services import hooks

    offered = [channel for result in hooks().crm_message_channels() or [] for channel in result or []]
    out: dict = {}
    for channel in sorted(offered, key=lambda c: any(c is b for b in BUILTIN)):  # others first
        kind = getattr(channel, "kind", None)
        if isinstance(kind, str) and KIND_RE.match(kind) and callable(getattr(channel, "send", None)):
            out.setdefault(kind, channel)
    return out


def channel_kinds() -> tuple:
    """``sms``, ``email`` and the kinds the tenant's plugins add (raises RuntimeError without an app)."""
    return BUILTIN_KINDS + tuple(sorted(set(channels()) - set(BUILTIN_KINDS)))


def backoff(attempts: int, conf: dict) -> timedelta:
    return timedelta(minutes=conf["retry_minutes"] * 2 ** max(attempts - 1, 0))


def send_due(now: datetime | None = None, batch: int = 100, log_=None) -> dict:
    """Send the queued messages whose time has come. Commits per message (claim, then result)."""
    log_ = log_ or log
    now = now or utcnow()
    conf = settings()
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0, "deferred": 0}
    due = (Message.status == "queued") & ((Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now))
    counts.update(reclaim_stale(now))
    quiet = quiet_until(now, conf)
    if quiet is not None:
        # Quiet hours: nothing goes out; the due messages show when they will.
        result = db.session.execute(update(Message).where(due).values(next_attempt_at=quiet)
                                    .execution_options(synchronize_session=False))
        db.session.commit()
        counts["deferred"] = result.rowcount or 0
        return counts
    by_kind = channels()
    ids = list(db.session.scalars(select(Message.id).where(due).order_by(Message.id).limit(batch)))
    for message_id in ids:
        # The claim: only one runner turns this row from queued to sending; the rest skip it.
        claimed = db.session.execute(
            update(Message).where(Message.id == message_id, Message.status == "queued")
            .values(status="sending", attempts=Message.attempts + 1, next_attempt_at=now + SENDING_LEASE,
                    sent_at=None).execution_options(synchronize_session=False))
        db.session.commit()
        if not claimed.rowcount:
            continue
        message = db.session.get(Message, message_id)
        db.session.refresh(message)
        client = db.session.get(Client, message.client_id)
        address, why_not = _recipient(client, message.channel)
        if address is not None and message.event == "mailing" and _unsubscribed(client.id, message.channel):
            address, why_not = None, _("The client unsubscribed from mailings.")
        channel = by_kind.get(message.channel)
        if address is None:
            message.status, message.last_error = "skipped", why_not
            counts["skipped"] += 1
        elif channel is None:
            message.status, message.last_error = "failed", reason("no_channel", message.channel)
            counts["failed"] += 1
        else:
            message.recipient = address
            # Handed over from here on: committed first, so a crash during the call is never resent.
            message.sent_at = utcnow()
            db.session.commit()
            try:
                message.provider_id = channel.send(message)
            except ChannelError as exc:
                message.sent_at = None  # the provider refused it: nothing went out
                message.last_error = str(exc)
                if exc.permanent or message.attempts >= conf["max_attempts"]:
                    message.status = "failed"
                    counts["failed"] += 1
                else:
                    message.status = "queued"
                    message.next_attempt_at = now + backoff(message.attempts, conf)
                    counts["retry"] += 1
                log_.warning("message %s: attempt %s failed: %s", message.id, message.attempts, exc)
            else:
                message.status, message.sent_at, message.last_error = "sent", utcnow(), None
                counts["sent"] += 1
        audit.record("send", message, changes={"status": ["sending", message.status],
                                               "attempts": [None, message.attempts]})
        db.session.commit()
    return counts


def reclaim_stale(now: datetime) -> dict:
    """Messages whose claim expired (the worker died): see the module's docstring. One transaction,
    audited per message; ``{"reclaimed": n, "unknown": n}``."""
    expired = (Message.status == "sending") & (Message.next_attempt_at.is_(None) | (Message.next_attempt_at <= now))
    counts = {"reclaimed": 0, "unknown": 0}
    for message in db.session.scalars(select(Message).where(expired).order_by(Message.id).with_for_update()):
        # No lease at all: claimed before leases existed, so whether it was handed over is unknown.
        if message.sent_at is None and message.next_attempt_at is not None:
            message.status, message.next_attempt_at = "queued", now
            message.last_error = reason("interrupted_before")
            counts["reclaimed"] += 1
        else:
            message.status = "failed"
            message.last_error = reason("interrupted_after")
            counts["unknown"] += 1
        audit.record("send", message, changes={"status": ["sending", message.status]})
    db.session.commit()
    return counts


def stuck(message: Message, now: datetime | None = None) -> bool:
    """In ``sending`` past its lease: the worker that claimed it is gone."""
    now = now or utcnow()
    return message.status == "sending" and (message.next_attempt_at is None or message.next_attempt_at <= now)


def _unsubscribed(client_id: int, channel: str) -> bool:
    """Opted out of mailings on ``channel`` after the mailing was queued (e.g. during quiet hours)."""
    from .mailings import Unsubscribe

    return db.session.scalar(select(Unsubscribe.id).where(Unsubscribe.client_id == client_id,
                                                          Unsubscribe.channel == channel)) is not None


def send_job(ctx):
    counts = send_due(log_=ctx.log)
    ctx.log.info("messages: %s", counts)
    return counts


def approve(message: Message, user=None) -> Message:
    if message.status != "draft":
        from .services import CrmError

        raise CrmError(_l("Only a draft can be approved."), status=409, field="status")
    message.status = "queued"
    db.session.flush()
    audit.record("transition", message, user=user, changes={"status": ["draft", "queued"]})
    return message


def cancel(message: Message, user=None) -> Message:
    """A draft, a queued message, or one stuck in ``sending`` (its lease expired) can be cancelled; one
    being sent right now cannot (the sender is about to write its result)."""
    if message.status not in ("draft", "queued") and not stuck(message):
        from .services import CrmError

        if message.status == "sending":
            raise CrmError(_l("The message is being sent right now; try again in a few minutes."), status=409,
                           field="status")
        raise CrmError(_l("Only a draft, a queued or a stuck message can be cancelled."), status=409,
                       field="status")
    before = message.status
    message.status = "cancelled"
    db.session.flush()
    audit.record("transition", message, user=user, changes={"status": [before, "cancelled"]})
    return message


def as_dict(m: Message) -> dict:
    return {"id": m.id, "client_id": m.client_id, "vehicle_id": m.vehicle_id, "template_id": m.template_id,
            "event": m.event, "channel": m.channel, "recipient": m.recipient, "subject": m.subject, "body": m.body,
            "status": m.status, "attempts": m.attempts,
            "next_attempt_at": m.next_attempt_at.isoformat() if m.next_attempt_at else None,
            "last_error": reason_text(m.last_error), "provider_id": m.provider_id,
            "created_at": m.created_at.isoformat() if m.created_at else None,
            "sent_at": m.sent_at.isoformat() if m.sent_at else None}
