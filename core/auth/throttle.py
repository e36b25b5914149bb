"""Login throttling with Flask-Limiter's storage: failed attempts are counted per client IP and per
account (shop code + e-mail). While either limit is used up, every attempt is refused, even with the
right password, until the window ends. In-memory storage by default; ``RATELIMIT_STORAGE_URI``
(e.g. ``redis://...``) shares the counters between processes in production. The client IP is
``request.remote_addr``: behind a reverse proxy, wrap the app in Werkzeug's ``ProxyFix`` or every
client shares the proxy's address (and its per-IP budget)."""
from __future__ import annotations

import math
import os
import time

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse

EXTENSION = "garage_limiter"


def init_limiter(app: Flask) -> Limiter:
    app.config.setdefault("RATELIMIT_STORAGE_URI", os.environ.get("RATELIMIT_STORAGE_URI", "memory://"))
    app.config.setdefault("RATELIMIT_ENABLED", os.environ.get("RATELIMIT_ENABLED", "true").lower() != "false")
    app.config.setdefault("GARAGE_LOGIN_LIMIT_IP", "30 per 15 minutes")
    app.config.setdefault("GARAGE_LOGIN_LIMIT_ACCOUNT", "5 per 15 minutes")
    limiter = Limiter(get_remote_address, default_limits=[], key_prefix="garage")
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    return limiter


def get_limiter() -> Limiter:
    """The app's Flask-Limiter instance, for other modules that want their own limits."""
    return current_app.extensions[EXTENSION]


def _checks(ip: str, account: str):
    cfg = current_app.config
    return ((parse(cfg["GARAGE_LOGIN_LIMIT_IP"]), ("login-ip", ip)),
            (parse(cfg["GARAGE_LOGIN_LIMIT_ACCOUNT"]), ("login-account", account)))


def locked_for(ip: str, account: str) -> int | None:
    """Seconds until the next attempt is allowed, or None when attempts are allowed now."""
    limiter = get_limiter()
    if not limiter.enabled:
        return None
    wait = 0.0
    for item, key in _checks(ip, account):
        if not limiter.limiter.test(item, *key):
            reset = limiter.limiter.get_window_stats(item, *key).reset_time
            wait = max(wait, reset - time.time())
    return max(1, math.ceil(wait)) if wait > 0 else None


def count_failure(ip: str, account: str) -> None:
    limiter = get_limiter()
    if not limiter.enabled:
        return
    for item, key in _checks(ip, account):
        limiter.limiter.hit(item, *key)
