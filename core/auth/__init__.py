"""Core subsystem: accounts, access and the audit log browser (plugin name ``core.auth``).

What other modules use:

- :func:`permission_required` (``@permission_required("crm.client.read")``, optionally ``feature=``)
  and :func:`login_required`: 401 JSON with ``WWW-Authenticate: Bearer`` / 403 JSON on ``/api/``,
  the login page / the 403 page in the UI.
- :func:`get_limiter`: the app's Flask-Limiter (``RATELIMIT_STORAGE_URI``, in memory by default).
- :func:`host_tenant_slug`: the tenant named by the host when ``GARAGE_TENANT_SUBDOMAINS`` is on.
- The CSRF policy is described in :mod:`core.auth.access`.
- Pages: ``/login``, ``POST /logout``, ``/profile/password``, ``/profile/tokens`` (the profile page
  includes ``core/auth/_tokens.html``, which calls the template global ``current_user_api_tokens()``),
  ``/users``, ``/roles``, ``/audit``; API ``GET /api/v1/audit``, ``GET /api/v1/users``, ``GET /api/v1/roles``.
- CLI: ``garage user token --tenant SLUG --email EMAIL [--name NAME]`` prints a new API token;
  ``garage user tokens --tenant SLUG --email EMAIL [--json]`` lists them;
  ``garage user revoke-token --tenant SLUG ID`` revokes one.

Subdomain tenants (SaaS): ``GARAGE_TENANT_SUBDOMAINS=True`` and ``GARAGE_BASE_DOMAIN`` (or
``SERVER_NAME``) ``garage.example``: ``shop-1.garage.example`` is tenant ``shop-1``; its login form
has no shop field, and a session or token of another tenant is anonymous there.
"""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l

from ..plugins import hookimpl
from . import audit_guard  # noqa: F401 (installs the bulk-statement guard)
from ..registry import MenuItem
from .access import host_tenant_slug, login_required, permission_required  # noqa: F401 (public API)
from .models import ApiToken
from .throttle import get_limiter  # noqa: F401 (public API)


def init_app(app: Flask) -> None:
    from ..web import login_manager
    from . import access, admin, audit_views, throttle, views

    login_manager.user_loader(access.load_session_user)
    login_manager.request_loader(access.load_token_user)
    login_manager.unauthorized_handler(access.unauthorized)
    access.init_security(app)
    throttle.init_limiter(app)
    host = app.extensions["garage"]
    for bp in (views.bp, admin.bp, admin.api_bp, audit_views.bp, audit_views.api_bp):
        # Registered here rather than through register_blueprints: these share the root URL space
        # with the UI shell's blueprint, which the per-prefix claim check would refuse.
        app.register_blueprint(bp)
        host.blueprint_owner[bp.name] = "core"
    app.add_template_global(views.current_user_api_tokens, "current_user_api_tokens")
    app.add_template_filter(admin.role_title, "role_title")


@hookimpl
def register_models():
    return [ApiToken]


@hookimpl(tryfirst=True)
def resolve_tenant(request):
    """SaaS deployments: the host names the tenant (``shop-1.garage.example``); None otherwise."""
    return host_tenant_slug()


@hookimpl
def menu_items(ctx):
    return [
        MenuItem("core.users", _l("Users"), "/users", order=900, section="settings",
                 feature="core.access_rights", permission="core.user.manage"),
        MenuItem("core.roles", _l("Roles"), "/roles", order=910, section="settings",
                 feature="core.access_rights", permission="core.user.manage"),
        MenuItem("core.audit", _l("Audit log"), "/audit", order=920, section="settings",
                 permission="core.audit.read"),
    ]


@hookimpl
def register_cli_commands(cli):
    from ..cli import user_group

    user_group.add_command(user_token)
    user_group.add_command(user_tokens_list)
    user_group.add_command(user_token_revoke)


@click.command("token")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--email", required=True)
@click.option("--name", default="cli", show_default=True, help="what the token is for")
@with_appcontext
def user_token(tenant_slug, email, name):
    """Create an API token for a user and print it (it is shown only this once)."""
    from sqlalchemy import select

    from ..cli import fail, operator_errors
    from ..db import db
    from ..features import tenant_info
    from ..models import User
    from ..tenancy import tenant_context
    from ..tenants import get_tenant
    from .tokens import create_token

    @operator_errors
    def run():
        tenant = get_tenant(tenant_slug)
        with tenant_context(tenant_info(tenant)):
            user = db.session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
            if user is None or not user.active:
                fail(f"no active user {email!r} in tenant {tenant_slug!r}")
            _row, text = create_token(user, name, actor="operator")
            db.session.commit()
        click.echo(text)

    run()


def _cli_user(tenant_slug: str, email: str):
    """(tenant info, user) for the CLI; fails with one line when either does not exist."""
    from sqlalchemy import select

    from ..cli import fail
    from ..db import db
    from ..features import tenant_info
    from ..models import User
    from ..tenancy import tenant_context
    from ..tenants import get_tenant

    info = tenant_info(get_tenant(tenant_slug))
    with tenant_context(info):
        user = db.session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
    if user is None:
        fail(f"no user {email!r} in tenant {tenant_slug!r}")
    return info, user


@click.command("tokens")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--email", required=True)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def user_tokens_list(tenant_slug, email, as_json):
    """List a user's API tokens (never their secrets)."""
    from ..cli import emit, operator_errors
    from ..tenancy import tenant_context
    from .tokens import user_tokens

    @operator_errors
    def run():
        info, user = _cli_user(tenant_slug, email)
        with tenant_context(info):
            rows = [{"id": t.id, "name": t.name, "ends_with": t.hint, "created_at": t.created_at.isoformat(),
                     "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None} for t in user_tokens(user)]
        emit(rows, as_json, ["id", "name", "ends_with", "created_at", "revoked_at"])

    run()


@click.command("revoke-token")
@click.option("--tenant", "tenant_slug", required=True)
@click.argument("token_id", type=int)
@with_appcontext
def user_token_revoke(tenant_slug, token_id):
    """Revoke an API token of the tenant (it stops working at once)."""
    from sqlalchemy import select

    from ..cli import fail, operator_errors
    from ..db import db
    from ..features import tenant_info
    from ..tenancy import tenant_context
    from ..tenants import get_tenant
    from .tokens import revoke_token

    @operator_errors
    def run():
        with tenant_context(tenant_info(get_tenant(tenant_slug))):
            token = db.session.execute(select(ApiToken).where(ApiToken.id == token_id)).scalar_one_or_none()
            if token is None:
                fail(f"no API token {token_id} in tenant {tenant_slug!r}")
            revoke_token(token, actor="operator")
            db.session.commit()
        click.echo(f"token {token_id} revoked")

    run()
