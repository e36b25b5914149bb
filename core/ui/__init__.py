"""Core subsystem: the web UI shell (server-rendered Jinja pages) and languages.

* the shell: ``core/base.html`` (blocks ``title``, ``content``, ``scripts``; flash messages; the menu
  from the ``menu_items`` hook), dashboard (``dashboard_widgets`` hook), profile, tenant settings;
* generic list / detail / create / edit pages for every registered entity and document type at
  ``/<slug>/<resource>`` (:mod:`core.ui.generic`), overridable per type by a plugin template;
* friendly error pages (HTML for the UI, JSON under ``/api/``) and the upgrade page;
* Jinja filters formatting dates, numbers and money per locale and tenant currency;
* the ``garage i18n extract|update|compile`` command (:mod:`core.ui.i18n_tools`, registered on the
  ``garage`` group itself so it works without building the app).
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_babel import lazy_gettext as _l
from jinja2 import ChoiceLoader, FileSystemLoader

from ..plugins import hookimpl
from ..registry import MenuItem, Widget


def init_app(app: Flask) -> None:
    from . import errors, formatting, generic, shell

    app.register_blueprint(shell.bp)
    app.register_blueprint(generic.bp)
    errors.init_app(app)
    from .forms import value_for_input

    # A global, not a context variable: imported macros (core/macros.html) see globals only.
    app.add_template_global(value_for_input)
    from flask_babel import get_locale

    app.add_template_global(get_locale)  # <html lang="{{ get_locale() }}">
    from ..branding import logo_data_uri

    app.add_template_global(logo_data_uri, "shop_logo")  # {% set logo = shop_logo(tenant) %} on public pages
    formatting.init_app(app)
    _plugin_templates(app)


def _plugin_templates(app: Flask) -> None:
    """Plugins may ship ``templates/<slug>/...`` without a blueprint (e.g. to override a generic
    page): their folders are searched after the core's, so ``<slug>/<resource>_list.html`` is found."""
    host = app.extensions["garage"]
    loaders = [app.jinja_loader]
    for plugin in host.plugins.values():
        folder = Path(plugin.path) / "templates"
        if folder.is_dir():
            loaders.append(FileSystemLoader(str(folder)))
    if len(loaders) > 1:
        app.jinja_loader = ChoiceLoader(loaders)


@hookimpl
def menu_items(ctx):
    return [
        MenuItem("core.settings", _l("Settings"), "/settings", order=900, permission="core.settings.manage",
                 section="admin"),
    ]


def _plan_widget(ctx) -> str:
    """The shop's plan and the modules it includes: what the menu is made of."""
    from flask import current_app
    from markupsafe import escape
    from sqlalchemy import select

    from ..db import db
    from ..models import Tier

    from flask_babel import gettext

    from .shell import menu

    host = current_app.extensions["garage"]
    tier = db.session.execute(select(Tier).where(Tier.key == ctx.tenant.tier)).scalar_one_or_none()
    # A module the plan includes but that offers nothing to open yet (no menu entry: a plugin still being
    # built) is named as such, not advertised as if it were there.
    in_menu = {str(item.key).split(".", 1)[0] for item in menu()}
    ready = [s for s in host.order if s in ctx.tenant.plugins and s in in_menu]
    later = [s for s in host.order if s in ctx.tenant.plugins and s not in in_menu]

    def items(slugs):
        return "".join(f"<li>{escape(str(host.plugins[s].manifest.title))}</li>" for s in slugs)

    return (f"<p class='big'>{escape(tier.title if tier else ctx.tenant.tier)}</p>"
            + (f"<ul class='plain'>{items(ready)}</ul>" if ready else "")
            + (f"<p class='muted'>{escape(gettext('In your plan, not available yet:'))}</p>"
               f"<ul class='plain muted'>{items(later)}</ul>" if later else ""))


@hookimpl
def dashboard_widgets(ctx):
    return [Widget("core.plan", _l("Your plan"), _plan_widget, order=900, permission="core.settings.manage")]
