"""Core subsystem: the documents engine.

A document type (:class:`DocumentType`) is a model using :class:`DocumentMixin`, a marshmallow
schema, a :class:`Workflow` of :class:`State` and :class:`Transition`, numbering per tenant and type
(``WO-2026-00042``, gapless) and print templates. A plugin returns its document types from the
``register_document_types`` hook; any plugin may add states and transitions to any document type
through ``extend_workflow(document_type)`` (extend, never replace: a name that exists already stops
the startup with a :class:`core.plugins.PluginError` naming the plugin).

Services (all for the current tenant context; see :mod:`core.documents.service`):

- :func:`create_document` - number + initial state + history + audit, one transaction;
- :func:`transition` - the only way a state changes (permission, vetoes, hooks, history, audit,
  events after commit);
- :func:`void` - documents are voided, never deleted (an ORM delete raises);
- :func:`update_document` - edit fields with optimistic locking; immutable states refuse;
- :func:`available_transitions`, :func:`history`, :func:`render_print`, :func:`next_number`.

The services commit by default (then dispatch the events, see :mod:`core.events`); pass
``commit=False`` to make them part of a larger unit of work that ends with
:func:`core.events.commit`. On any failure they roll the whole session back. Errors are
:class:`DocumentError` subclasses carrying ``status`` (HTTP) and translated ``messages``.

Transition hooks (``validate_transition``, ``before_transition``, ``after_transition``) are called
through the tenant's hook proxy in plugin dependency order; change the document's own fields in
``before_transition`` (after the state change an immutable target state forbids it). Child rows
(lines) are the plugin's: call :func:`ensure_editable` before changing them.

At startup (:func:`init_app`) the registered types are validated and stored, with extensions merged,
in ``app.extensions["garage"].document_types`` (key -> DocumentType). Every workflow gets the
engine's final state ``void`` and transition ``void`` (from every non-final state, permission
``<prefix>.void``) unless it defines them. A transition added through ``extend_workflow`` exists only
for tenants that have the extending plugin.
"""
from __future__ import annotations

from dataclasses import replace

from flask import Flask

from ..plugins import PluginError, flatten, hookimpl, is_core
from .models import DocumentHistory, DocumentMixin, DocumentSequence
from .service import (
    DocumentDeleteForbidden,
    DocumentError,
    DocumentImmutable,
    DocumentTypeUnavailable,
    StaleDocument,
    TransitionFailed,
    TransitionForbidden,
    TransitionNotAllowed,
    TransitionVetoed,
    available_transitions,
    create_document,
    document_types,
    ensure_editable,
    get_document_type,
    history,
    next_number,
    render_print,
    tenant_now,
    transition,
    update_document,
    void,
)
from .types import RESERVED_TRANSITIONS, VOID, DocumentType, State, Transition, Workflow, void_state

__all__ = [
    "DocumentType", "State", "Transition", "Workflow", "DocumentMixin", "DocumentHistory", "DocumentSequence",
    "DocumentError", "DocumentTypeUnavailable", "TransitionForbidden", "TransitionNotAllowed",
    "TransitionVetoed", "TransitionFailed", "StaleDocument", "DocumentImmutable", "DocumentDeleteForbidden",
    "create_document", "transition", "void", "update_document", "available_transitions", "history",
    "render_print", "next_number", "tenant_now", "document_types", "get_document_type", "ensure_editable",
    "VOID",
]

PERMISSION_VERBS = ("read", "create", "update", "void")


@hookimpl
def register_models():
    return [DocumentSequence, DocumentHistory]


def init_app(app: Flask) -> None:
    """Collect the document types, merge workflow extensions, validate, and set up events."""
    from .. import events

    host = app.extensions["garage"]
    registered: dict[str, DocumentType] = {}
    for plugin, dt in flatten(host.call_all("register_document_types")):
        _validate_type(host, plugin, dt, registered)
        registered[dt.key] = dt
    host.document_types = {}
    for key, dt in registered.items():
        host.document_types[key] = _with_extensions(host, dt)
    host.document_types_by_model = {dt.model: dt for dt in host.document_types.values()}
    app.extensions.pop("garage_print_env", None)
    events.init_app(app)


def _validate_type(host, plugin: str, dt, registered: dict) -> None:
    def fail(msg: str):
        raise PluginError(f"plugin {plugin!r}: document type {getattr(dt, 'key', dt)!r}: {msg}")

    if not isinstance(dt, DocumentType):
        fail("register_document_types must return core.documents.DocumentType objects")
    if dt.plugin != plugin:
        fail(f"claims plugin {dt.plugin!r}")
    if not is_core(plugin) and not dt.key.startswith(f"{plugin}."):
        fail(f"key must start with '{plugin}.'")
    if dt.key in registered:
        fail("is registered twice")
    if any(o.plugin == plugin and o.resource == dt.resource for o in registered.values()) or \
            (plugin, dt.resource) in getattr(host, "entities", {}):
        fail(f"resource {dt.resource!r} is registered twice")
    if not (isinstance(dt.model, type) and issubclass(dt.model, DocumentMixin)):
        fail("model must inherit core.documents.DocumentMixin")
    table = dt.model.__table__
    owner = "core" if is_core(plugin) else plugin
    if host.tables.get(table.name) != owner:
        fail(f"table {table.name!r} is not one of the plugin's models (register it in register_models)")
    if not any(
        [c.name for c in con.columns] == ["tenant_id", "number"]
        for con in table.constraints if con.__class__.__name__ == "UniqueConstraint"
    ):
        fail(f"table {table.name!r} lacks the unique (tenant_id, number) key: use __document_table_args__ "
             "instead of overriding __table_args__")
    if dt.feature is not None and not is_core(plugin) and dt.feature not in host.plugins[plugin].manifest.features:
        fail(f"feature {dt.feature!r} is not one of the plugin's features (manifest.features)")
    if "{seq" not in dt.number_format:
        fail("number_format must contain {seq}")
    try:
        dt.number_format.format(prefix=dt.number_prefix, year=2026, month=1, seq=1)
    except (KeyError, IndexError, ValueError) as exc:
        fail(f"number_format {dt.number_format!r} is invalid: {exc}")


def _with_extensions(host, dt: DocumentType) -> DocumentType:
    """A copy of ``dt`` whose workflow includes every plugin's extension and the engine's ``void``.

    Copies, never mutates: a plugin may return the same module-level DocumentType to many apps.
    """
    states = dict(dt.workflow.states)
    transitions = dict(dt.workflow.transitions)
    # (kind, name) -> the plugin that defined it, for error messages and per-tenant availability.
    owners = {("state", name): dt.plugin for name in states}
    owners.update({("transition", name): dt.plugin for name in transitions})
    for plugin, item in flatten(host.call_all("extend_workflow", document_type=dt)):
        if isinstance(item, State):
            kind, target = "state", states
        elif isinstance(item, Transition):
            kind, target = "transition", transitions
        else:
            raise PluginError(f"plugin {plugin!r}: extend_workflow({dt.key}) must return State or Transition "
                              f"objects, not {type(item).__name__}")
        if item.name in target:
            raise PluginError(f"plugin {plugin!r}: extend_workflow({dt.key}) adds {kind} {item.name!r}, which "
                              f"{owners.get((kind, item.name), dt.plugin)!r} already defines (extend, never replace)")
        target[item.name] = item
        owners[(kind, item.name)] = plugin
    if VOID not in states:
        states[VOID] = void_state()
    if VOID not in transitions:
        from flask_babel import lazy_gettext as _l

        sources = tuple(name for name, s in states.items() if not s.final)
        transitions[VOID] = Transition(VOID, _l("Void"), sources, VOID, permission=dt.permission("void"), order=900)
    extended_by = {name: owners[("transition", name)] for name in transitions
                   if owners.get(("transition", name), dt.plugin) != dt.plugin}
    workflow = Workflow(dt.workflow.initial, states, transitions, extended_by)
    _validate_workflow(host, dt, workflow, owners)
    return replace(dt, workflow=workflow)


def _validate_workflow(host, dt: DocumentType, wf: Workflow, owners: dict[tuple[str, str], str]) -> None:
    def fail(plugin: str, msg: str):
        raise PluginError(f"plugin {plugin!r}: document type {dt.key!r}: {msg}")

    if wf.initial not in wf.states:
        fail(dt.plugin, f"initial state {wf.initial!r} is not one of its states")
    for name, state in wf.states.items():
        if state.name != name:
            fail(owners.get(("state", name), dt.plugin), f"state {state.name!r} is filed under {name!r}")
    for name, tr in wf.transitions.items():
        owner = owners.get(("transition", name), dt.plugin)
        if tr.name != name:
            fail(owner, f"transition {tr.name!r} is filed under {name!r}")
        if name in RESERVED_TRANSITIONS:
            fail(owner, f"transition name {name!r} is reserved for events")
        if isinstance(tr.source, str):
            fail(owner, f"transition {name!r}: source must be a tuple of state names, not a string")
        for state in (*tr.source, tr.target):
            if state not in wf.states:
                fail(owner, f"transition {name!r} refers to unknown state {state!r}")
        for state in tr.source:
            if wf.states[state].final and name != VOID:
                fail(owner, f"transition {name!r} leaves final state {state!r}")
        if tr.permission and tr.permission not in host.permissions:
            fail(owner, f"transition {name!r} needs permission {tr.permission!r}, which no plugin registers")
    for verb in PERMISSION_VERBS:
        if dt.permission(verb) not in host.permissions:
            fail(dt.plugin, f"permission {dt.permission(verb)!r} is not registered (register_permissions)")
