"""Every hook a Garage ERP plugin can implement, grouped by the phase in which the core calls it.

Implement a hook with ``@hookimpl`` from :mod:`core.plugins` using exactly the name and argument
names below (pluggy matches by name; you may accept a subset of the arguments).

Assembly hooks are called once on the whole plugin manager while ``create_app()`` builds the app.
Tenant-facing hooks (tenant lifecycle, per-request UI, document lifecycle, events) are called through
a per-tenant proxy: a plugin the tenant does not have is never called for that tenant.

pluggy calls implementations last-registered-first; nothing here depends on that order. Results that
need an order (menus, reports, widgets) carry an explicit ``order`` key.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("garage")

# --- Assembly (called once at startup, on every loaded plugin) -------------------------------------


@hookspec
def register_models():
    """Return the SQLAlchemy model classes the plugin owns.

    Every table name must start with the plugin's slug and an underscore (``crm_client``); two plugins
    may not claim one table. Tenant-owned models inherit :class:`core.db.TenantScoped`.
    """


@hookspec
def register_permissions():
    """Return a list of :class:`core.registry.Permission` (``<slug>.<object>.<verb>``) with the default
    roles that get each one."""


@hookspec
def register_entities():
    """Return a list of :class:`core.registry.EntityType`: models with a schema that get generic API
    endpoints and UI pages."""


@hookspec
def register_document_types():
    """Return a list of :class:`core.documents.DocumentType`: numbered documents with a workflow."""


@hookspec
def extend_workflow(document_type):
    """Called for every registered document type (including other plugins'). Return a list of
    :class:`core.documents.State` and :class:`core.documents.Transition` to add to its workflow, or
    None. Extend, never replace: a name that already exists is a startup error."""


@hookspec
def register_reports():
    """Return a list of :class:`core.registry.Report`."""


@hookspec
def register_blueprints():
    """Return a list of Flask blueprints. Their ``url_prefix`` must be ``/<slug>`` (UI) or
    ``/api/v1/<slug>`` (API); the core gates them per tenant (404 or upgrade page when disabled)."""


@hookspec
def register_cli_commands(cli):
    """Add click commands or groups to the ``garage`` CLI group ``cli``. Name a group after the slug."""


@hookspec
def register_jobs():
    """Return a list of :class:`core.jobs.Job`: background or scheduled work, run per tenant that has
    the job's feature."""


# --- Tenant lifecycle (through the tenant's proxy, inside the operator's transaction) --------------


@hookspec
def tenant_plugin_enabled(tenant, slug):
    """Plugin ``slug`` has just become active for ``tenant`` (a :class:`core.models.Tenant`), by a new
    tenant, an upgrade or a grant. Seed the tenant's data here: idempotent, never DDL. Called for the
    plugins active after the change, with the tenant context pushed."""


@hookspec
def tenant_plugin_disabled(tenant, slug):
    """Plugin ``slug`` has just been deactivated for ``tenant``. Its data stays (hidden and frozen):
    never delete here. Called for the plugins active before the change."""


@hookspec
def demo_data(tenant):
    """Add realistic demo data for ``tenant`` (a :class:`core.models.Tenant`). Called by ``garage demo``
    through the tenant's proxy with the tenant context pushed, inside one transaction per tenant; must
    be idempotent (running ``garage demo`` twice adds nothing the second time)."""


# --- Per-request UI (through the tenant's proxy; a failing implementation is logged and dropped) -----


@hookspec
def menu_items(ctx):
    """Return a list of :class:`core.registry.MenuItem` for the request context ``ctx``
    (:class:`core.registry.UIContext`). Items are filtered by feature and permission and sorted by
    ``order``."""


@hookspec
def dashboard_widgets(ctx):
    """Return a list of :class:`core.registry.Widget` for the dashboard."""


@hookspec
def document_actions(document, ctx):
    """Return a list of :class:`core.registry.Action` (buttons) for ``document``'s page."""


@hookspec
def document_panels(document, ctx):
    """Return a list of :class:`core.registry.Panel` (extra blocks) for ``document``'s page."""


# --- Document lifecycle (through the tenant's proxy, inside the transition's transaction) ----------


@hookspec
def validate_transition(document, transition, actor):
    """Return a veto (a translatable message, or a list of them) to forbid ``transition`` of
    ``document`` by ``actor``, or None to allow it. All vetoes are collected before anything runs."""


@hookspec
def before_transition(document, transition, actor):
    """Runs after all validations passed, before the state changes. Raising rolls everything back."""


@hookspec
def after_transition(document, transition, actor):
    """Runs after the state and the history row are written, before commit. Raising rolls back."""


# --- Events after commit (through the tenant's proxy) ----------------------------------------------


@hookspec
def on_event(event):
    """React to a committed :class:`core.events.Event`. Documents emit ``<type key>.created``,
    ``<type key>.<transition>`` and ``<type key>.state.<state>`` (e.g. ``workshop.work_order.close``,
    ``workshop.work_order.state.closed``). Runs after the commit in a fresh transaction of its own; a
    failure is logged and does not undo the event's transaction."""


# --- Request (first result wins) -------------------------------------------------------------------


@hookspec(firstresult=True)
def resolve_tenant(request):
    """Return the slug of the tenant for ``request``, or None to let the next resolver try."""
