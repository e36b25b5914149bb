"""API errors as JSON, and marshmallow's English messages in the user's language.

Every API error body is ``{"error": <code>, "message": <text>}`` plus details: ``fields`` (per-field
messages, validation), ``current_version``/``changed_fields`` (409 on a stale version).

Marshmallow formats its messages in English before we see them, so they are translated on output:
each built-in message is listed below as a gettext msgid (extracted into the ``core`` catalog like any
other string); a message matching one of them, placeholders included, is replaced by its translation.
Messages a plugin wrote itself (lazy strings of its own domain) pass through as they are.
"""
from __future__ import annotations

import re
from functools import lru_cache

from flask import jsonify
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

# Built-in marshmallow messages (fields, validators, Schema) and core.api.fields.Money's. A test checks
# that every default message marshmallow ships is covered, so an upgrade cannot slip English through.
MARSHMALLOW_MESSAGES = (
    _l("Missing data for required field."),
    _l("Field may not be null."),
    _l("Invalid value."),
    _l("Invalid type."),
    _l("Invalid input type."),
    _l("Unknown field."),
    _l("Not a valid list."),
    _l("Not a valid tuple."),
    _l("Not a valid string."),
    _l("Not a valid utf-8 string."),
    _l("Not a valid UUID."),
    _l("Not a valid number."),
    _l("Number too large."),
    _l("Not a valid integer."),
    _l("Special numeric values (nan or infinity) are not permitted."),
    _l("Not a valid boolean."),
    _l("Not a valid datetime."),
    _l("Not a valid date."),
    _l("Not a valid time."),
    _l("Not a valid naive datetime."),
    _l("Not a valid aware datetime."),
    _l("Not a valid naive time."),
    _l("Not a valid aware time."),
    _l("\"%(input)s\" cannot be formatted as a datetime."),
    _l("\"%(input)s\" cannot be formatted as a date."),
    _l("\"%(input)s\" cannot be formatted as a time."),
    _l("Not a valid period of time."),
    _l("%(input)s cannot be formatted as a timedelta."),
    _l("Not a valid mapping type."),
    _l("Not a valid URL."),
    _l("Not a valid email address."),
    _l("Not a valid IP address."),
    _l("Not a valid IPv4 address."),
    _l("Not a valid IPv6 address."),
    _l("Not a valid IP interface."),
    _l("Not a valid IPv4 interface."),
    _l("Not a valid IPv6 interface."),
    _l("Must be one of: %(choices)s."),
    _l("Must be greater than or equal to %(min)s."),
    _l("Must be greater than %(min)s."),
    _l("Must be less than or equal to %(max)s."),
    _l("Must be less than %(max)s."),
    _l("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    _l("Must be greater than or equal to %(min)s and less than %(max)s."),
    _l("Must be greater than %(min)s and less than or equal to %(max)s."),
    _l("Must be greater than %(min)s and less than %(max)s."),
    _l("Shorter than minimum length %(min)s."),
    _l("Longer than maximum length %(max)s."),
    _l("Length must be between %(min)s and %(max)s."),
    _l("Length must be %(equal)s."),
    _l("Must be equal to %(other)s."),
    _l("String does not match expected pattern."),
    _l("Invalid input."),
    _l("One or more of the choices you made was not in: %(choices)s."),
    _l("One or more of the choices you made was in: %(values)s."),
    # core.api.fields.Money
    _l("Not a valid amount of money."),
    _l("At most two decimal places."),
    _l("Amount too large."),
)

_PLACEHOLDER = re.compile(r"%\\\((\w+)\\\)s")


def _msgid(lazy) -> str:
    return lazy._args[0]  # flask_babel's LazyString keeps gettext's arguments


@lru_cache(maxsize=1)
def _table():
    """(exact msgid -> msgid, [(regex, msgid)]) built once from MARSHMALLOW_MESSAGES."""
    exact, patterns = {}, []
    for lazy in MARSHMALLOW_MESSAGES:
        msgid = _msgid(lazy)
        if "%(" not in msgid:
            exact[msgid] = msgid
            continue
        pattern = _PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>.+?)", re.escape(msgid))
        patterns.append((re.compile(f"^{pattern}$", re.S), msgid))
    # Longest first, so "Must be … and …" wins over its single-bound prefix.
    patterns.sort(key=lambda p: -len(p[1]))
    return exact, patterns


def english_template(message: str) -> str | None:
    """The msgid a formatted marshmallow message came from (None when it is not a built-in one)."""
    exact, patterns = _table()
    if message in exact:
        return message
    for regex, msgid in patterns:
        if regex.match(message):
            return msgid
    return None


def translate_message(message) -> str:
    if not isinstance(message, str):
        return str(message)  # a plugin's lazy string: translated in its own domain
    exact, patterns = _table()
    if message in exact:
        return _(message)
    for regex, msgid in patterns:
        m = regex.match(message)
        if m:
            return _(msgid, **m.groupdict())
    return message


def translate_errors(messages):
    """marshmallow's ``err.messages`` (nested dicts/lists) with every leaf message translated."""
    if isinstance(messages, dict):
        return {str(k): translate_errors(v) for k, v in messages.items()}
    if isinstance(messages, (list, tuple)):
        return [translate_errors(m) if isinstance(m, (dict, list, tuple)) else translate_message(m) for m in messages]
    # marshmallow keeps a lone non-str message (a plugin's lazy string) without wrapping it in a list.
    return [translate_message(messages)]


class ApiError(Exception):
    """Raise from any API view (core or plugin) to answer ``{"error": code, "message": ..., **extra}``."""

    def __init__(self, status: int, error: str, message=None, **extra):
        super().__init__(error)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra

    def response(self):
        body = {"error": self.error, "message": str(self.message or default_message(self.status))}
        body.update(self.extra)
        return jsonify(body), self.status


def validation_error(fields: dict, message=None) -> ApiError:
    """422 with per-field messages (``fields`` is marshmallow's ``err.messages`` or the same shape)."""
    normalised = translate_errors(fields) if isinstance(fields, dict) else {"_schema": translate_errors(fields)}
    return ApiError(422, "validation", message or _("Some fields are not valid."), fields=normalised)


def not_found() -> ApiError:
    return ApiError(404, "not_found", _("Not found"))


def default_message(status: int) -> str:
    return {
        400: _("Bad request"),
        401: _("Authentication required"),
        403: _("You do not have permission to do this."),
        404: _("Not found"),
        405: _("Method not allowed"),
        409: _("Conflict"),
        413: _("Request too large"),
        415: _("Unsupported media type"),
        422: _("Some fields are not valid."),
        429: _("Too many requests"),
    }.get(status, _("Server error") if status >= 500 else _("Error"))


ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
               422: "validation", 429: "too_many_requests"}


def http_error_response(exc):
    status = exc.code or 500
    return ApiError(status, ERROR_CODES.get(status, "error" if status < 500 else "server_error")).response()
