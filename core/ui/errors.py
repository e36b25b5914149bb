"""Friendly error pages: HTML for the UI, JSON for ``/api/`` (same status codes)."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ..web import is_api_request

log = logging.getLogger(__name__)


def _messages(code: int) -> tuple[str, str]:
    titles = {
        400: (_("Bad request"), _("The request could not be understood.")),
        401: (_("Please sign in"), _("You need to sign in to see this page.")),
        403: (_("Access denied"), _("Your role does not allow this. Ask the shop owner or an administrator.")),
        404: (_("Page not found"), _("There is nothing here. The address may be mistyped, or the record was removed.")),
        405: (_("Not allowed"), _("This address does not accept that kind of request.")),
        409: (_("Conflict"), _("Someone else changed this in the meantime. Reload and try again.")),
        422: (_("Invalid data"), _("Some fields are not filled in correctly.")),
        429: (_("Too many requests"), _("Please wait a moment and try again.")),
        500: (_("Something went wrong"), _("An unexpected error happened on our side. It has been logged; please try again.")),
    }
    return titles.get(code, (_("Error"), ""))


_API_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 422: "invalid", 429: "too_many_requests",
              500: "server_error"}


def render_error(code: int, message: str | None = None):
    title, text = _messages(code)
    if is_api_request():
        return jsonify(error=_API_CODES.get(code, "error"), message=message or title), code
    return render_template("core/error.html", code=code, title=title, text=message or text), code


def _http_error(exc: HTTPException):
    if exc.code is None or exc.code < 400:
        return exc
    description = None
    # An explicit message from the code (abort(403, description=_("..."))) is shown; werkzeug's
    # English defaults are replaced by ours.
    if exc.description and exc.description != type(exc).description:
        description = exc.description
    return render_error(exc.code, description)


def _server_error(exc: Exception):
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unhandled error", exc_info=exc)
    from ..db import db

    db.session.rollback()
    return render_error(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    if not app.testing or app.config.get("GARAGE_ERROR_PAGES_IN_TESTS"):
        app.register_error_handler(Exception, _server_error)
    else:
        app.register_error_handler(500, lambda exc: render_error(500))
