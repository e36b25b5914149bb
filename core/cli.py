"""The ``garage`` command line: a Flask CLI group around create_app.

Bad arguments print one line naming what is wrong and exit with code 2; nothing is written.
"""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from .db import db


def _create_app():
    from .app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def cli():
    """Garage ERP: operate tenants, tiers, plugins and the database."""


def main() -> None:
    """Entry point of ``garage``. Click's own usage errors (a missing option, an unknown command) are
    printed as one ``error:`` line with exit code 2, like the commands' own bad-argument errors,
    instead of click's multi-line usage block."""
    try:
        code = cli.main(prog_name="garage", standalone_mode=False)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "garage"
        click.echo(f"error: {exc.format_message()} (see: {where} --help)", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _add_static_commands() -> None:
    # Catalog work needs no app (and must run while a plugin under construction cannot even import).
    from .ui.i18n_tools import i18n_group

    cli.add_command(i18n_group)


_add_static_commands()


def fail(message: str) -> None:
    """One line, exit code 2; the caller's transaction is rolled back."""
    db.session.rollback()
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def emit(rows: list[dict], as_json: bool, columns: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    widths = {c: max([len(c)] + [len(_cell(r.get(c))) for r in rows]) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        click.echo("  ".join(_cell(r.get(c)).ljust(widths[c]) for c in columns).rstrip())


def _cell(value) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def operator_errors(fn):
    """Turn an OperatorError into the one-line, exit-2 failure."""
    from functools import wraps

    from .tenants import OperatorError

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OperatorError as exc:
            fail(str(exc))

    return wrapper


# --- db ----------------------------------------------------------------------------------------------

@click.group("db")
def db_group():
    """Database schema (Alembic: one branch per plugin plus core)."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade():
    """Upgrade every branch to its head and seed the default tier catalog."""
    from . import migrate
    from .features import ensure_default_tiers

    migrate.upgrade(current_app)
    created = ensure_default_tiers()
    db.session.commit()
    click.echo("database is at heads" + (f"; created tiers: {', '.join(created)}" if created else ""))


@db_group.command("check")
@with_appcontext
def db_check():
    """Fail when the database is not at heads or the models differ from the migrations."""
    from . import migrate

    problem = migrate.check(current_app)
    if problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    click.echo("models and migrations match")


@db_group.command("revision")
@click.option("--plugin", "plugin", required=True, help="slug of the plugin (or 'core') whose branch gets it")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(plugin, message):
    """Autogenerate a migration for one plugin's tables (the database must be at heads)."""
    from . import migrate

    try:
        path = migrate.revision(current_app, plugin, message)
    except ValueError as exc:
        fail(str(exc))
    click.echo(path)


# --- tiers and tenants --------------------------------------------------------------------------------

@click.group("tier")
def tier_group():
    """The tier catalog."""


@tier_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def tier_list(as_json):
    from .models import Tier

    rows = [{"key": t.key, "title": t.title, "features": sorted(t.feature_keys)}
            for t in db.session.scalars(select(Tier).order_by(Tier.position, Tier.key))]
    emit(rows, as_json, ["key", "title", "features"])


@tier_group.command("create")
@click.argument("key")
@click.option("--title", required=True)
@click.option("--feature", "features", multiple=True)
@with_appcontext
@operator_errors
def tier_create(key, title, features):
    """Create a tier with the given features."""
    from .models import Tier
    from .tenants import OperatorError, set_tier_features

    if db.session.execute(select(Tier.id).where(Tier.key == key)).first():
        raise OperatorError(f"tier {key!r} already exists")
    tier = Tier(key=key, title=title, position=100)
    db.session.add(tier)
    set_tier_features(tier, set(features))
    db.session.commit()
    click.echo(f"tier {key} created")


@tier_group.command("add-feature")
@click.argument("key")
@click.argument("feature")
@with_appcontext
@operator_errors
def tier_add_feature(key, feature):
    from .tenants import get_tier, set_tier_features

    tier = get_tier(key)
    set_tier_features(tier, set(tier.feature_keys) | {feature})
    db.session.commit()
    click.echo(f"tier {key}: {feature} added")


@tier_group.command("remove-feature")
@click.argument("key")
@click.argument("feature")
@with_appcontext
@operator_errors
def tier_remove_feature(key, feature):
    from .tenants import OperatorError, get_tier, set_tier_features

    tier = get_tier(key)
    if feature not in tier.feature_keys:
        raise OperatorError(f"tier {key!r} does not have {feature!r}")
    set_tier_features(tier, set(tier.feature_keys) - {feature})
    db.session.commit()
    click.echo(f"tier {key}: {feature} removed")


@click.group("tenant")
def tenant_group():
    """Tenants (shops)."""


@tenant_group.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--tier", "tier_key", required=True)
@with_appcontext
@operator_errors
def tenant_create(slug, name, tier_key):
    from .tenants import create_tenant

    create_tenant(slug, name, tier_key)
    db.session.commit()
    click.echo(f"tenant {slug} created on tier {tier_key}")


@tenant_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def tenant_list(as_json):
    from .features import tenant_info
    from .models import Tenant

    rows = []
    for t in db.session.scalars(select(Tenant).order_by(Tenant.slug)):
        info = tenant_info(t)
        rows.append({"slug": t.slug, "name": t.name, "tier": t.tier.key, "active": t.active,
                     "plugins": sorted(info.plugins), "features": sorted(info.features)})
    emit(rows, as_json, ["slug", "name", "tier", "plugins"])


@tenant_group.command("set-tier")
@click.argument("slug")
@click.argument("tier_key")
@with_appcontext
@operator_errors
def tenant_set_tier(slug, tier_key):
    from .tenants import get_tenant, set_tier

    set_tier(get_tenant(slug), tier_key)
    db.session.commit()
    click.echo(f"tenant {slug} is on tier {tier_key}")


@tenant_group.command("grant")
@click.argument("slug")
@click.argument("feature")
@with_appcontext
@operator_errors
def tenant_grant(slug, feature):
    from .tenants import get_tenant, set_feature

    set_feature(get_tenant(slug), feature, True)
    db.session.commit()
    click.echo(f"tenant {slug}: {feature} granted")


@tenant_group.command("revoke")
@click.argument("slug")
@click.argument("feature")
@with_appcontext
@operator_errors
def tenant_revoke(slug, feature):
    from .tenants import get_tenant, set_feature

    set_feature(get_tenant(slug), feature, False)
    db.session.commit()
    click.echo(f"tenant {slug}: {feature} revoked")


# --- plugins ---------------------------------------------------------------------------------------------

@click.group("plugin")
def plugin_group():
    """Installed plugins."""


@plugin_group.command("list")
@click.option("--tenant", "tenant_slug", default=None, help="show whether each plugin is enabled for this tenant")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
@operator_errors
def plugin_list(tenant_slug, as_json):
    from .features import tenant_info
    from .tenants import get_tenant

    host = current_app.extensions["garage"]
    info = tenant_info(get_tenant(tenant_slug)) if tenant_slug else None
    rows = []
    for slug in host.order:
        m = host.plugins[slug].manifest
        row = {"slug": slug, "version": m.version, "title": str(m.title), "requires": list(m.requires),
               "features": sorted(m.features)}
        if info is not None:
            row["enabled"] = slug in info.plugins
            row["enabled_features"] = sorted(f for f in m.features if f in info.features)
        rows.append(row)
    emit(rows, as_json, ["slug", "version", "features"] + (["enabled"] if info else []))


@plugin_group.command("new")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="folder in which the project folder garage-NAME is created")
@with_appcontext
def plugin_new(name, directory):
    """Write a working third-party plugin package (entry point, manifest, entity, menu item, migration
    branch, test on the core's fixtures, locales)."""
    from .scaffold import ScaffoldError, generate

    try:
        project = generate(name, directory, taken=set(current_app.extensions["garage"].plugins))
    except (ScaffoldError, OSError) as exc:
        fail(str(exc))
    click.echo(f"plugin {name} written to {project}")
    click.echo(f"next: pip install -e {project} && garage db upgrade && garage tenant grant <tenant> {name}.basic")


# --- demo ------------------------------------------------------------------------------------------------

@click.command("demo")
@with_appcontext
@operator_errors
def demo():
    """Create (idempotently) one demo shop per default tier with staff, and let plugins add demo data."""
    from .demo import DEMO_PASSWORD, DemoError, run

    try:
        logins = run()
    except DemoError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    emit([{"tenant": x.tenant, "tier": x.tier, "email": x.email, "role": x.role,
           "new": "yes" if x.created else ""} for x in logins], False, ["tenant", "tier", "email", "role", "new"])
    click.echo(f"demo password for every user above: {DEMO_PASSWORD}")


# --- users -----------------------------------------------------------------------------------------------

@click.group("user")
def user_group():
    """Users of a tenant."""


@user_group.command("create")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--email", required=True)
@click.option("--role", "role_key", required=True)
@click.option("--password", default=None, help="omit to be asked (input hidden)")
@click.option("--name", default="")
@with_appcontext
@operator_errors
def user_create(tenant_slug, email, role_key, password, name):
    from .tenants import create_user, get_tenant

    tenant = get_tenant(tenant_slug)
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    create_user(tenant, email, role_key, password, name)
    db.session.commit()
    click.echo(f"user {email} created in {tenant_slug} with role {role_key}")


# --- serving -----------------------------------------------------------------------------------------------

@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@click.option("--threads", default=8, type=int, show_default=True)
@with_appcontext
def serve(host, port, threads):
    """Serve the app with waitress (a production WSGI server)."""
    from waitress import serve as waitress_serve

    app = current_app._get_current_object()
    if app.config["GARAGE_JOBS"] == "eager":
        # Embedded mode has no beat: periodic jobs run from a daemon thread of this server.
        from .jobs.scheduler import start_scheduler

        start_scheduler(app)
    click.echo(f"Garage ERP on http://{host}:{port}")
    waitress_serve(app, host=host, port=port, threads=threads, ident="garage")


def core_commands() -> list[click.Command]:
    """Registered on ``app.cli`` through the core's own ``register_cli_commands`` hook."""
    return [db_group, tier_group, tenant_group, plugin_group, user_group, serve, demo]
