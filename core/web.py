"""Per-request plumbing: resolve the tenant, push its context and hook proxy, gate plugin routes."""
from __future__ import annotations

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import LoginManager, current_user
from sqlalchemy import select

from .db import db
from .features import request_tenant_info
from .models import Tenant
from .plugins import flatten, is_core
from .registry import UIContext
from .tenancy import reset_tenant, set_tenant

# Its loaders (session user, bearer token) and unauthorized handler are set by core.auth.init_app.
login_manager = LoginManager()


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.before_request(_push_tenant)
    app.before_request(_gate_plugin_routes)
    app.teardown_request(_pop_tenant)


def host():
    return current_app.extensions["garage"]


def _push_tenant():
    g.tenant = None
    g.hooks = None
    slug = url_tenant_slug() or host().pm.hook.resolve_tenant(request=request)
    if not slug:
        return None
    # The signed-in user's own tenant was loaded a moment ago, in this request and session, by the
    # session or token loader (which refuses an inactive tenant): when the slug names it, use that row
    # rather than reading it again. Only a user already loaded counts (g._login_user, Flask-Login's),
    # so a public page whose URL names the shop does not load the user for this.
    user = g.get("_login_user")
    tenant = None
    if user is not None and getattr(user, "is_authenticated", False):
        own = user.tenant
        if own.slug == slug and own.active:
            tenant = own
    if tenant is None:
        tenant = db.session.execute(
            select(Tenant).where(Tenant.slug == slug, Tenant.active.is_(True))).scalar_one_or_none()
    if tenant is None:
        return None
    info = request_tenant_info(tenant)  # features read now: a tier change applies on the next request
    g.tenant = info
    g.hooks = host().hooks_for(info.plugins)
    g._tenant_token = set_tenant(info)
    return None


# --- public pages whose URL names the shop ---------------------------------------------------------
# A page for people who are not signed in (a shop's online booking page, a calendar feed) cannot take
# the tenant from the user. Such a view declares it explicitly with ``@tenant_from_url("station")``:
# on that endpoint only, the tenant is the active tenant whose slug is the URL argument, whoever is
# signed in. Everything else still applies: the plugin gate (404 when the shop lacks the plugin), and
# the view itself must check its feature and must not rely on ``current_user``.
TENANT_FROM_URL_ATTR = "garage_tenant_from_url"


def tenant_from_url(view_arg: str = "station"):
    """Decorator for a public view: resolve the tenant from the URL argument ``view_arg``."""

    def decorate(fn):
        setattr(fn, TENANT_FROM_URL_ATTR, view_arg)
        return fn

    return decorate


def url_tenant_slug() -> str | None:
    if request.endpoint is None:
        return None
    view_arg = getattr(current_app.view_functions.get(request.endpoint), TENANT_FROM_URL_ATTR, None)
    if view_arg is None:
        return None
    slug = (request.view_args or {}).get(view_arg)
    return slug if isinstance(slug, str) else None


def _pop_tenant(exc=None):
    token = g.pop("_tenant_token", None)
    if token is not None:
        reset_tenant(token)


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def _gate_plugin_routes():
    """A plugin's routes exist only for tenants that have the plugin: 404 otherwise (never 403, so a
    tier never reveals what another tenant has)."""
    if request.blueprint is None:
        return None
    plugin = host().blueprint_owner.get(request.blueprint.split(".")[0])
    if plugin is None or is_core(plugin):
        return None
    if g.tenant is not None and plugin in g.tenant.plugins:
        return None
    return feature_unavailable(plugin)


def feature_unavailable(plugin: str, feature: str | None = None):
    if is_api_request() or g.tenant is None:
        return jsonify(error="not_found", message=_("Not found")), 404
    manifest = host().plugins[plugin].manifest
    return render_template("core/upgrade.html", manifest=manifest, feature=feature), 404


def ui_context() -> UIContext:
    user = current_user if current_user and current_user.is_authenticated else None
    return UIContext(tenant=g.get("tenant"), user=user, path=request.path)


def collect_ui(hook: str, ctx: UIContext, **kwargs) -> list:
    """Call a per-request UI hook for the tenant; filter by feature and permission; sort by order."""
    hooks = g.get("hooks")
    if hooks is None or ctx.tenant is None:
        return []
    items = []
    for _plugin, item in flatten(hooks.collect(hook, ctx=ctx, **kwargs)):
        if not ctx.tenant.has(getattr(item, "feature", None)):
            continue
        if not ctx.can(getattr(item, "permission", None)):
            continue
        items.append(item)
    items.sort(key=lambda i: (i.order, i.key))
    return items
