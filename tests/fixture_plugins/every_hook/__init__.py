"""Test-only plugin that implements every hookspec of ``core.hookspecs`` (checked by
tests/test_hooks_meta.py) and records each tenant-facing call in :data:`CALLS`, keyed by tenant id, so
tests can prove a tenant without the plugin's feature never reaches it.

Loaded with ``garage_config = {"GARAGE_EXTRA_PLUGINS": {"every_hook": "tests.fixture_plugins.every_hook"}}``.
Migration: ``.venv/bin/python tools/reset_migrations.py every_hook=tests.fixture_plugins.every_hook``.
"""
from __future__ import annotations

from collections import defaultdict

import click
from flask import Blueprint, jsonify
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.plugins import Manifest, hookimpl
from core.registry import Action, EntityType, MenuItem, Panel, Permission, Report, Widget

SLUG = "every_hook"
FEATURE = "every_hook.basic"
EXTRA_FEATURE = "every_hook.extra"
TICKET = "every_hook.ticket"

manifest = Manifest(
    slug=SLUG,
    version="1.0.0",
    title=_l("Every hook"),
    features={FEATURE: _l("Everything of the every_hook plugin"), EXTRA_FEATURE: _l("A second feature")},
    core_api=">=1.0,<2",
)

# hook name -> list of tenant ids it was called for (None where a hook has no tenant).
CALLS: dict[str, list] = defaultdict(list)
# Switches tests flip to make a hook misbehave: {"menu_items": "crash", "veto": "message"}.
BEHAVIOUR: dict[str, str] = {}


def calls_for(tenant_id: int) -> set[str]:
    """The hooks that reached this plugin on behalf of ``tenant_id``."""
    return {hook for hook, ids in CALLS.items() if tenant_id in ids}


def _record(hook: str, tenant_id) -> None:
    CALLS[hook].append(tenant_id)


# --- assembly -------------------------------------------------------------------------------------------

@hookimpl
def register_models():
    from .models import Thing, Ticket

    return [Thing, Ticket]


@hookimpl
def register_permissions():
    return [
        Permission("every_hook.thing.read", _l("See things"), ("admin", "service_advisor")),
        Permission("every_hook.thing.create", _l("Add things"), ("admin",)),
        Permission("every_hook.thing.update", _l("Edit things"), ("admin",)),
        Permission("every_hook.thing.delete", _l("Delete things"), ("admin",)),
        Permission("every_hook.ticket.read", _l("See tickets"), ("admin", "service_advisor")),
        Permission("every_hook.ticket.create", _l("Open tickets"), ("admin", "service_advisor")),
        Permission("every_hook.ticket.update", _l("Edit tickets"), ("admin",)),
        Permission("every_hook.ticket.void", _l("Void tickets"), ("admin",)),
        Permission("every_hook.report.read", _l("Read the things report"), ("admin",)),
    ]


@hookimpl
def register_entities():
    from .models import Thing, ThingSchema

    return [EntityType(plugin=SLUG, resource="things", model=Thing, schema=ThingSchema, title=_l("Things"),
                       feature=FEATURE, permission_prefix="every_hook.thing", search_fields=("name",),
                       list_columns=("name",))]


@hookimpl
def register_document_types():
    from core.documents import DocumentType, State, Transition, Workflow

    from .models import Ticket, TicketSchema

    workflow = Workflow(
        initial="open",
        states={"open": State("open", _l("Open")), "done": State("done", _l("Done"), immutable=True)},
        transitions={"finish": Transition("finish", _l("Finish"), ("open",), "done", order=10)},
    )
    return [DocumentType(key=TICKET, plugin=SLUG, resource="tickets", model=Ticket, schema=TicketSchema,
                         title=_l("Tickets"), workflow=workflow, number_prefix="T", feature=FEATURE,
                         permission_prefix="every_hook.ticket")]


@hookimpl
def extend_workflow(document_type):
    from core.documents import Transition

    if document_type.key != TICKET:
        return None
    # Extends its own type only: a test plugin must not change what the real plugins' tests expect.
    return [Transition("reopen", _l("Reopen"), ("done",), "open", order=20)]


@hookimpl
def register_reports():
    def run(**params):
        from .models import Thing
        from core.db import db

        return {"things": len(db.session.scalars(select(Thing)).all())}

    return [Report("every_hook.things", _l("Things count"), run, order=900, feature=FEATURE,
                   permission="every_hook.report.read")]


ui = Blueprint("every_hook", __name__, url_prefix="/every_hook")
api = Blueprint("every_hook_api", __name__, url_prefix="/api/v1/every_hook")


@ui.get("/hello")
def hello():
    return "every_hook page"


@api.get("/ping")
def ping():
    return jsonify(pong=True)


@hookimpl
def register_blueprints():
    return [ui, api]


@click.group("every_hook")
def cli_group():
    """Commands of the every_hook test plugin."""


@cli_group.command("tenants")
@with_appcontext
def cli_tenants():
    """Print the tenants that have this plugin (the loop every plugin command does)."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant

    for tenant in db.session.scalars(select(Tenant).order_by(Tenant.slug)):
        if SLUG in tenant_info(tenant).plugins:
            click.echo(tenant.slug)


@hookimpl
def register_cli_commands(cli):
    cli.add_command(cli_group)


def _count_job(ctx):
    _record("job", ctx.tenant.id)


@hookimpl
def register_jobs():
    from core.jobs import Job

    return [Job("every_hook.count", _count_job, feature=FEATURE, title=_l("Count things"))]


# --- tenant lifecycle ----------------------------------------------------------------------------------

@hookimpl
def tenant_plugin_enabled(tenant, slug):
    _record("tenant_plugin_enabled", tenant.id)


@hookimpl
def tenant_plugin_disabled(tenant, slug):
    _record("tenant_plugin_disabled", tenant.id)


@hookimpl
def demo_data(tenant):
    from core.db import db

    from .models import Thing

    _record("demo_data", tenant.id)
    if BEHAVIOUR.get("demo_data") == "crash":
        db.session.add(Thing(name="half-written"))
        raise RuntimeError("every_hook demo data is broken")
    if db.session.scalars(select(Thing).where(Thing.name == "Demo thing")).first() is None:
        db.session.add(Thing(name="Demo thing"))


# --- per-request UI ------------------------------------------------------------------------------------

@hookimpl
def menu_items(ctx):
    _record("menu_items", ctx.tenant.id)
    if BEHAVIOUR.get("menu_items") == "crash":
        raise RuntimeError("every_hook menu is broken")
    return [MenuItem("every_hook.things", _l("Things"), "/every_hook/hello", order=990, feature=FEATURE)]


@hookimpl
def dashboard_widgets(ctx):
    _record("dashboard_widgets", ctx.tenant.id)
    return [Widget("every_hook.widget", _l("Things widget"), lambda c: "<p>every_hook widget</p>", order=990,
                   feature=FEATURE)]


@hookimpl
def document_actions(document, ctx):
    _record("document_actions", ctx.tenant.id)
    return [Action("every_hook.poke", _l("Poke"), "/every_hook/hello", order=990)]


@hookimpl
def document_panels(document, ctx):
    _record("document_panels", ctx.tenant.id)
    return [Panel("every_hook.panel", _l("Every hook panel"), "<p>every_hook panel</p>", order=990)]


# --- document lifecycle --------------------------------------------------------------------------------

@hookimpl
def validate_transition(document, transition, actor):
    _record("validate_transition", document.tenant_id)
    return BEHAVIOUR.get("veto")


@hookimpl
def before_transition(document, transition, actor):
    _record("before_transition", document.tenant_id)


@hookimpl
def after_transition(document, transition, actor):
    _record("after_transition", document.tenant_id)


# --- events and requests ---------------------------------------------------------------------------------

@hookimpl
def on_event(event):
    _record("on_event", event.tenant_id)


@hookimpl
def resolve_tenant(request):
    # Never decides: the next resolver (the core's: the signed-in user's tenant) answers.
    _record("resolve_tenant", None)
    return None
