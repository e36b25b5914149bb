"""HTML forms generated from marshmallow schemas (entity forms and plugin settings forms).

A schema field becomes one form control; its label comes from ``metadata={"label": _l("...")}``
(falling back to the field name), an optional ``metadata={"help": _l("...")}`` is shown under it.
The schema stays the only validator: the form posts strings, :func:`form_to_payload` turns them into
what marshmallow expects (empty -> None/missing, checkbox -> bool), and marshmallow's per-field errors
are shown next to the control while everything the user typed is put back.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, validate
from marshmallow.utils import missing as missing_



@dataclass
class FormField:
    name: str
    label: Any
    widget: str  # text, number, checkbox, select, date, datetime-local, email, textarea, url, time
    required: bool = False
    choices: list[tuple[str, Any]] = field(default_factory=list)
    step: str | None = None
    help: Any = None
    maxlength: int | None = None
    allow_none: bool = True
    default: Any = None  # the schema's load_default, pre-filled in a new form
    load_only: bool = False  # an instruction to the save (e.g. "allow a duplicate"), not shown on the card


def _label(name: str, f: fields.Field) -> Any:
    return f.metadata.get("label") or f.metadata.get("title") or name.replace("_", " ").capitalize()


def _choices(f: fields.Field) -> list[tuple[str, Any]] | None:
    labels = f.metadata.get("choices")  # optional {value: label}
    validators = f.validators if isinstance(f.validators, (list, tuple)) else [f.validators]
    for v in validators:
        if isinstance(v, validate.OneOf):
            out = []
            for i, choice in enumerate(v.choices):
                label = (labels or {}).get(choice)
                if label is None:
                    label = v.labels[i] if i < len(v.labels or ()) else choice
                out.append((str(choice), label))
            return out
    if isinstance(f, fields.Enum):
        return [(m.name if not f.by_value else str(m.value), (labels or {}).get(m.name, m.name)) for m in f.enum]
    return None


def _maxlength(f: fields.Field) -> int | None:
    validators = f.validators if isinstance(f.validators, (list, tuple)) else [f.validators]
    for v in validators:
        if isinstance(v, validate.Length) and v.max is not None:
            return v.max
    return None


def schema_fields(schema: Schema | type[Schema]) -> list[FormField]:
    """The editable fields of ``schema``, in declaration order (dump-only fields are left out)."""
    schema = schema() if isinstance(schema, type) else schema
    out = []
    for name, f in schema.fields.items():
        if f.dump_only or f.metadata.get("form") is False:
            continue
        key = f.data_key or name
        choices = _choices(f)
        step = None
        if choices is not None:
            widget = "select"
        elif isinstance(f, fields.Boolean):
            widget = "checkbox"
        elif isinstance(f, (fields.Integer,)):
            widget, step = "number", "1"
        elif isinstance(f, (fields.Decimal, fields.Float, fields.Number)):
            places = getattr(f, "places", None)  # marshmallow keeps it as a quantizer: Decimal("0.01")
            widget, step = "number", (str(places) if places is not None else "any")
        elif isinstance(f, fields.DateTime):
            widget = "datetime-local"
        elif isinstance(f, fields.Date):
            widget = "date"
        elif isinstance(f, fields.Time):
            widget = "time"
        elif isinstance(f, fields.Email):
            widget = "email"
        elif isinstance(f, fields.Url):
            widget = "url"
        elif isinstance(f, (fields.Nested, fields.List, fields.Dict)):
            continue  # structured values have pages of their own, not a flat form control
        elif f.metadata.get("multiline"):
            widget = "textarea"
        else:
            widget = "text"
        default = f.load_default
        if default is missing_ or callable(default):
            default = None
        out.append(FormField(name=key, label=_label(name, f), widget=widget, required=f.required,
                             choices=choices or [], step=step, help=f.metadata.get("help"),
                             maxlength=_maxlength(f), allow_none=bool(f.allow_none), default=default,
                             load_only=bool(f.load_only)))
    return out


def defaults(form_fields: list[FormField]) -> dict:
    """Initial values of a new form: the schema's ``load_default`` of each field."""
    return {ff.name: ff.default for ff in form_fields if ff.default is not None}


def initial_values(form_fields: list[FormField], args) -> dict:
    """A new form's values: the schema's defaults, overridden by query arguments named like its fields
    (``/crm/vehicles/new?client_id=5`` from the client card). Only pre-filled: the save validates them
    like anything typed."""
    values = defaults(form_fields)
    values.update({ff.name: args.get(ff.name) for ff in form_fields if args.get(ff.name) not in (None, "")})
    return values


def form_to_payload(form, form_fields: list[FormField]) -> dict:
    """Posted strings -> the dict marshmallow loads. An empty input means "no value" (None), so an
    optional field can be cleared; an empty required input stays missing for a "required" error."""
    payload: dict = {}
    for ff in form_fields:
        if ff.widget == "checkbox":
            payload[ff.name] = ff.name in form
            continue
        if ff.name not in form:
            continue
        value = form.get(ff.name, "").strip() if ff.widget != "textarea" else form.get(ff.name, "")
        if value == "":
            # Cleared: None where the schema allows it; otherwise leave it out, so the schema's default
            # or its "required" message applies.
            if ff.allow_none and not ff.required:
                payload[ff.name] = None
            elif not ff.required and ff.widget in ("text", "textarea", "email", "url"):
                payload[ff.name] = ""  # an emptied text is an empty string, so clearing it sticks
            continue
        if ff.widget == "number":
            # People type "1 234,50" in ru/zh habits; the schema wants "1234.50".
            value = value.replace("\u00a0", "").replace(" ", "").replace(",", ".")
        payload[ff.name] = value
    return payload


def value_for_input(value: Any, widget: str) -> str:
    """A Python value as the ``value`` attribute of its control (ISO dates, plain decimals)."""
    if value is None:
        return ""
    if widget == "datetime-local" and isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            # Shown in the shop's time zone, as the user thinks of it.
            from flask_babel import to_user_timezone

            value = to_user_timezone(value).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "value") and hasattr(value, "name"):  # Enum
        return str(value.name)
    if isinstance(value, (list, tuple)):  # a list a form carries as text: one item per line in a textarea
        return ("\n" if widget == "textarea" else ", ").join(str(v) for v in value)
    return str(value)


def localise_datetimes(data: dict, form_fields: list[FormField]) -> dict:
    """A ``datetime-local`` input has no zone: it is the shop's local time. Make it aware (UTC), so
    a booking at 09:00 in Vladivostok is stored as 23:00 UTC the day before, not as 09:00 UTC."""
    from flask_babel import get_timezone

    if not isinstance(data, dict):
        return data
    from zoneinfo import ZoneInfo

    # By name: Flask-Babel may hand a pytz zone, which must never be used with replace(tzinfo=...).
    zone = ZoneInfo(str(get_timezone()))
    out = dict(data)
    for ff in form_fields:
        value = out.get(ff.name)
        if ff.widget == "datetime-local" and isinstance(value, dt.datetime) and value.tzinfo is None:
            out[ff.name] = value.replace(tzinfo=zone).astimezone(dt.timezone.utc)
    return out


def errors_for(messages: dict) -> dict[str, str]:
    """marshmallow's ``{field: [msg, ...]}`` -> ``{field: "msg msg"}`` for display next to controls,
    translated by the same table the REST API uses (core.api.errors)."""
    from ..api.errors import translate_message

    out = {}
    for key, value in (messages or {}).items():
        if isinstance(value, dict):
            value = [m for v in value.values() for m in (v if isinstance(v, list) else [v])]
        out[key] = " ".join(translate_message(m) for m in (value if isinstance(value, list) else [value]))
    return out
