"""Absolute links for messages (the review page, the unsubscribe page): a client opens them from an SMS
or an e-mail, so a bare path is useless. The base is, in order: the configured public address
(``GARAGE_PUBLIC_URL``, e.g. ``https://garage.example``), the host of the request the message was queued
in (remembered on ``g``: events are dispatched when the app context ends, after the request context is
gone), Flask's ``SERVER_NAME``; with none of them, the path alone (and a warning in the log)."""
from __future__ import annotations

import logging

from flask import current_app, g, has_request_context, request, url_for

log = logging.getLogger(__name__)


def remember_request_host() -> None:
    """``before_app_request``: keep the request's host URL for links built after the request ends."""
    g.crm_host_url = request.host_url


def absolute_url(endpoint: str, **values) -> str:
    base = (current_app.config.get("GARAGE_PUBLIC_URL") or "").strip().rstrip("/")
    if not base and has_request_context():
        base = request.host_url.rstrip("/")
    if not base:
        base = (g.get("crm_host_url") or "").rstrip("/")
    if base:
        path = current_app.url_map.bind("localhost", script_name="/").build(endpoint, values)
        return base + path
    try:
        return url_for(endpoint, _external=True, **values)  # SERVER_NAME
    except RuntimeError:
        log.warning("GARAGE_PUBLIC_URL is not set: %s links in messages are bare paths", endpoint)
        return current_app.url_map.bind("localhost", script_name="/").build(endpoint, values)
