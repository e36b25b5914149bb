"""Languages: Flask-Babel with one gettext domain per plugin plus ``core``.

Catalogs live in ``locales/<lang>/LC_MESSAGES/<domain>.po`` (built-in plugins share the repository's
``locales/``; a third-party plugin ships its own ``locales/`` folder and passes it to :func:`domain`).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g, request
from flask_babel import Babel, Domain, force_locale

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("en", "ru", "zh")

babel = Babel()
_domains: dict[tuple[str, str], Domain] = {}


def domain(slug: str, directory: str | Path | None = None) -> Domain:
    """The gettext domain of a plugin: ``_ = domain("crm").gettext``; ``_l = domain("crm").lazy_gettext``."""
    key = (slug, str(directory or LOCALES_DIR))
    if key not in _domains:
        _domains[key] = Domain(translation_directories=key[1], domain=slug)
    return _domains[key]


def select_locale() -> str:
    """The user's profile language, else the browser's Accept-Language, else the tenant's default."""
    languages = current_app.config.get("LANGUAGES", LANGUAGES)
    from flask_login import current_user

    if current_user and getattr(current_user, "is_authenticated", False) and current_user.language in languages:
        return current_user.language
    best = request.accept_languages.best_match(languages) if request else None
    if best:
        return best
    row = _tenant_row()
    language = getattr(row, "language", None)
    return language if language in languages else current_app.config.get("BABEL_DEFAULT_LOCALE", "en")


def _tenant_row():
    if g.get("tenant") is None:
        return None
    from .ui.formatting import tenant_row

    return tenant_row()


@contextmanager
def shop_language():
    """Translate in the current tenant's own language for the block, whoever triggers it (an operator's
    request, the CLI, a job): for strings that become the shop's data, such as a seeded catalog or a
    default message template, which must not come out in the operator's or the server's language."""
    from .db import db
    from .models import Tenant
    from .tenancy import get_tenant

    info = get_tenant()
    row = db.session.get(Tenant, info.id) if info is not None else None
    languages = current_app.config.get("LANGUAGES", LANGUAGES)
    language = getattr(row, "language", None)
    with force_locale(language if language in languages else current_app.config.get("BABEL_DEFAULT_LOCALE", "en")):
        yield


def select_timezone() -> str | None:
    """Dates and times are shown in the shop's time zone (the tenant setting)."""
    row = _tenant_row() if request else None
    return getattr(row, "timezone", None) or None


def init_app(app: Flask) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_domain="core",
        default_translation_directories=str(LOCALES_DIR),
    )
