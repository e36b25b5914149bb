"""What the print templates (``templates/workshop/print/``) need besides the document: names of the
client and the car, dates in the shop's time zone, totals per payer, translated labels.

Registered as Jinja globals (``_w``: the workshop's gettext; ``ws_print_info(doc)``) when the API
blueprint is registered, so the documents engine's print environment sees them too.
"""
from __future__ import annotations

from datetime import timezone
from decimal import Decimal

from core.db import db
from core.documents import tenant_now
from core.i18n import domain

_w = domain("workshop").gettext
_l = domain("workshop").lazy_gettext


def _locale():
    """The language being rendered: the shop's own while printing (the core prints inside
    ``shop_language()``), the user's on a page."""
    from babel import Locale
    from flask_babel import get_locale

    return get_locale() or Locale.parse("ru")


def print_date(value) -> str:
    """A date (or the shop-local date of an instant) in the locale's short form with a four-digit year:
    ru 05.12.2026, en 12/5/2026, zh 2026/12/5."""
    import re
    from datetime import datetime

    from babel.dates import format_date

    if value is None:
        return ""
    if isinstance(value, datetime):
        value = tenant_now(value if value.tzinfo else value.replace(tzinfo=timezone.utc)).date()
    locale = _locale()
    pattern = re.sub(r"(?<!y)yy(?!y)", "y", locale.date_formats["short"].pattern)  # never a two-digit year
    return format_date(value, pattern, locale=locale)


def _when(value) -> str | None:
    """An instant in the shop's time zone: its date and short time in the locale (ru 05.12.2026 09:05)."""
    from babel.dates import format_time

    if not value:
        return None
    local = tenant_now(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    return f"{print_date(local.date())} {format_time(local.time(), 'short', locale=_locale())}"


def _qty(value) -> str:
    """Hours or a quantity in the locale, without trailing zeros: ru 1,4 · en 1.4 · 1 250,5."""
    from babel.numbers import format_decimal

    return format_decimal(Decimal(value or 0), "#,##0.###", locale=_locale())


def money_text(value) -> str:
    """An amount in the locale with two decimals (ru 1 250,50 · en 1,250.50); the currency is printed
    once beside the totals, so not on every figure."""
    from babel.numbers import format_decimal

    if value is None or value == "":
        return ""
    return format_decimal(Decimal(value), "#,##0.00", locale=_locale())


def print_info(doc) -> dict:
    from plugins.crm.models import Client, Vehicle

    from .models import Estimate, ServiceOrder, WorkOrder
    from .services import estimate_items, totals

    client = db.session.get(Client, doc.client_id)
    vehicle = db.session.get(Vehicle, doc.vehicle_id)
    car = " ".join(x for x in (vehicle.make, vehicle.model, str(vehicle.year or "")) if x) if vehicle else ""
    if vehicle and vehicle.plate:
        car += f", {vehicle.plate}"
    if vehicle and vehicle.vin:
        car += f", VIN {vehicle.vin}"
    info = {
        "client_name": client.name if client else "",
        "client_phone": (client.phones or [None])[0] if client else None,
        "vehicle": car,
        "qty": _qty,
        "plain": lambda value: format(Decimal(value or 0).normalize(), "f"),  # for form inputs
        "money": money_text,
        "decisions": {"declined": _w("declined"), "deferred": _w("deferred")},
        "decision_titles": {"pending": _w("waiting for the client"), "approved": _w("approved"),
                            "declined": _w("declined"), "deferred": _w("deferred")},
        "payer_kinds": {"client": _w("Client"), "insurer": _w("Insurer"), "fleet": _w("Fleet"),
                        "warranty": _w("Warranty")},
    }
    info["finding_statuses"] = {"ok": _w("OK"), "attention": _w("Needs attention"), "urgent": _w("Urgent")}
    if isinstance(doc, Estimate):
        info["items"] = estimate_items(doc.items)
    if isinstance(doc, ServiceOrder):
        from .photos import data_url, kind_titles, photos_of

        titles = kind_titles()
        info.update(received=_when(doc.received_at), promised=_when(doc.promised_at),
                    photos=[{"kind": titles.get(p.kind, p.kind), "caption": p.caption, "src": data_url(p)}
                            for p in photos_of(service_order_id=doc.id)])
    if isinstance(doc, WorkOrder):
        so = db.session.get(ServiceOrder, doc.service_order_id) if doc.service_order_id else None
        info.update(totals=totals(doc), closed=_when(doc.closed_at), service_order=so.number if so else None)
    return info


def install(app) -> None:
    app.add_template_global(_w, "_w")
    app.add_template_global(print_info, "ws_print_info")
    app.add_template_global(print_date, "ws_date")


def _employee_choices() -> list:
    """The technician picker: the shop's active employees, with a login or not (``workshop.staff``)."""
    from flask import g
    from sqlalchemy import select

    from .staff import Employee

    if not g.tenant.has("workshop.staff"):
        return []
    return list(db.session.scalars(select(Employee).where(Employee.active.is_(True))
                                   .order_by(Employee.name, Employee.id).limit(500)))


def work_order_panel(doc, user=None) -> str:
    from flask import render_template

    from core.documents import get_document_type

    state = get_document_type(doc).workflow.states.get(doc.state)
    editable = bool(user is not None and user.can("workshop.work_order.update") and not (state and state.immutable))
    info = print_info(doc)
    from .services import unpriced_lines

    info["unpriced"] = unpriced_lines(doc)
    from sqlalchemy import select

    from .models import Job, WorkOrder

    origins = {line.comeback_of_order_id for line in doc.labor_lines if line.comeback_of_order_id}
    info["comeback_orders"] = dict(db.session.execute(select(WorkOrder.id, WorkOrder.number).where(
        WorkOrder.id.in_(origins))).all()) if origins else {}
    if editable:
        from sqlalchemy import or_

        from plugins.crm.models import Client

        info["jobs"] = db.session.scalars(select(Job).where(Job.active.is_(True)).order_by(Job.name).limit(200)).all()
        from .norms_views import job_hints

        info["job_hints"] = job_hints(doc)  # the norm for this car and the shop's average, per job

        info["employees"] = _employee_choices()
        info["companies"] = db.session.scalars(select(Client).where(
            or_(Client.is_insurer.is_(True), Client.kind == "company")).order_by(Client.name).limit(200)).all()
    return render_template("workshop/panels/work_order.html", doc=doc, info=info, editable=editable)
