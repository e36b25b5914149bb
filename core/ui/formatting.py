"""Jinja filters: dates, numbers and money in the user's locale, the tenant's time zone and currency.

    {{ doc.created_at|datetime }}  {{ doc.date|date }}  {{ line.qty|number }}  {{ total|money }}
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import Flask, g
from flask_babel import format_currency, format_date, format_datetime, format_decimal, format_percent
from markupsafe import Markup

from ..db import db
from ..models import Tenant


def tenant_row() -> Tenant | None:
    """The current request's tenant row (settings: currency, time zone...), loaded once per request."""
    if "tenant_row" not in g:
        info = g.get("tenant")
        g.tenant_row = db.session.get(Tenant, info.id) if info is not None else None
    return g.tenant_row


def tenant_currency() -> str:
    row = tenant_row()
    return (row.currency if row is not None else None) or "RUB"


def money(value, currency: str | None = None) -> str:
    if value is None or value == "":
        return ""
    return format_currency(Decimal(value), currency or tenant_currency())


def number(value, digits: str | None = None) -> str:
    if value is None or value == "":
        return ""
    return format_decimal(value, format=digits) if digits else format_decimal(value)


def date(value, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return format_date(value, fmt)


def datetime(value, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        # The database hands back naive UTC on SQLite; mark it so the tenant's zone is applied.
        value = value.replace(tzinfo=dt.timezone.utc)
    return format_datetime(value, fmt)


def percent(value) -> str:
    if value is None:
        return ""
    return format_percent(Decimal(value) / 100, format="#,##0.##%")


def yesno(value) -> Markup:
    from flask_babel import gettext as _

    return Markup(_("Yes") if value else _("No"))


def init_app(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(number)
    app.add_template_filter(date)
    app.add_template_filter(datetime)
    app.add_template_filter(percent)
    app.add_template_filter(yesno)
    # Babel's own functions too, as filters and globals (``{{ day|format_date("full") }}``).
    import flask_babel

    for name in ("format_date", "format_datetime", "format_time", "format_decimal", "format_currency",
                 "format_percent", "format_timedelta"):
        fn = getattr(flask_babel, name)
        app.add_template_filter(fn, name)
        app.add_template_global(fn, name)
