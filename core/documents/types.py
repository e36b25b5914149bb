"""Value types of the documents engine: states, transitions, workflows and document types."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from flask_babel import lazy_gettext as _l

# Every workflow gets these from the engine (unless it defines them itself): numbered documents are
# voided, never deleted.
VOID = "void"
# Event names are "<doc type key>.<transition>" and "<doc type key>.state.<state>", plus
# "<doc type key>.created": a transition may not be called "state" or "created".
RESERVED_TRANSITIONS = frozenset({"state", "created", "create"})


@dataclass(frozen=True)
class State:
    """A state of a document.

    ``immutable``: the document cannot be edited while in this state (posted documents); only a
    transition may take it out. ``final``: no transition leaves it (the engine's ``void`` neither).
    """

    name: str
    title: Any
    immutable: bool = False
    final: bool = False


Guard = Callable[[Any, Any], Any]  # guard(document, actor) -> veto message (or list) or None


@dataclass(frozen=True)
class Transition:
    """A named move from one of ``source`` states to ``target``.

    ``permission`` is checked with ``actor.can(permission)`` (None = anyone who may read the
    document). ``guard(document, actor)`` returns a veto message (or a list of them) or None; its
    vetoes are collected together with the ``validate_transition`` hook's. ``order`` sorts buttons.
    """

    name: str
    title: Any
    source: tuple[str, ...]
    target: str
    permission: str | None = None
    guard: Guard | None = None
    order: int = 500


@dataclass(frozen=True)
class Workflow:
    """The states and transitions of a document type; ``initial`` is the state of a new document.

    ``extended_by`` is filled by the engine: transition name -> the plugin whose ``extend_workflow``
    added it. Such a transition exists only for tenants that have that plugin.
    """

    initial: str
    states: dict[str, State]
    transitions: dict[str, Transition]
    extended_by: dict[str, str] = field(default_factory=dict)

    def offers(self, name: str, plugins: frozenset[str] | None = None) -> bool:
        """Whether transition ``name`` exists for a tenant with ``plugins`` (None: any tenant)."""
        if name not in self.transitions:
            return False
        owner = self.extended_by.get(name)
        return owner is None or plugins is None or owner in plugins

    def transitions_from(self, state: str, plugins: frozenset[str] | None = None) -> list[Transition]:
        """The transitions whose source includes ``state`` (for a tenant with ``plugins``), sorted by
        ``order`` then name."""
        found = [t for t in self.transitions.values() if state in t.source and self.offers(t.name, plugins)]
        return sorted(found, key=lambda t: (t.order, t.name))


@dataclass(frozen=True)
class DocumentType:
    """A numbered document with a workflow, registered through ``register_document_types``.

    Shares its attribute names with :class:`core.registry.EntityType` (``plugin``, ``resource``,
    ``model``, ``schema``, ``title``, ``feature``, ``permission_prefix``, ``search_fields``,
    ``filter_fields``, ``sort_fields``, ``list_columns``), so the generic API and UI serve both.
    Document extras:

    - ``key``: ``"<slug>.<name>"``, e.g. ``"workshop.work_order"``; event names start with it;
    - ``workflow``: a :class:`Workflow` (other plugins may add to it via ``extend_workflow``);
    - ``number_prefix`` and ``number_format``: the number of a new document, formatted with
      ``prefix``, ``year``, ``month`` and ``seq`` (``"{prefix}-{year}-{seq:05d}"`` -> ``WO-2026-00042``).
      The counter restarts every year when the format has ``{year}`` (every month with ``{month}``);
      it is per tenant and document type, and gapless;
    - ``print_templates``: name -> Jinja template path, looked up in the app's templates and the
      owning plugin's ``templates/`` folder (``"default"`` is what :func:`render_print` uses);
    - ``print_renderer``: optional ``(doc, template, context, builtin) -> str | None`` consulted by
      :func:`render_print` first, e.g. to render a template the tenant edited. ``context`` is what the
      built-in template would get; ``builtin(**extra)`` renders the built-in template; ``None`` means
      "use the built-in template".

    Permissions are ``<permission_prefix>.read|create|update|void`` (the prefix defaults to ``key``);
    the plugins must register them (checked at startup).
    """

    key: str
    plugin: str
    resource: str
    model: type
    schema: type
    title: Any
    workflow: Workflow
    number_prefix: str = "WO"
    number_format: str = "{prefix}-{year}-{seq:05d}"
    feature: str | None = None
    permission_prefix: str | None = None
    print_templates: dict[str, str] = field(default_factory=dict)
    print_renderer: Callable[..., str | None] | None = None
    search_fields: tuple[str, ...] = ()
    filter_fields: tuple[str, ...] = ()
    sort_fields: tuple[str, ...] = ("id",)
    list_columns: tuple[str, ...] = ()

    def permission(self, verb: str) -> str:
        """``"<permission_prefix>.<verb>"``, e.g. ``doc_type.permission("void")``."""
        return f"{self.permission_prefix or self.key}.{verb}"


def void_state() -> State:
    return State(VOID, _l("Void"), immutable=True, final=True)
