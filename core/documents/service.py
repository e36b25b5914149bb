"""The services that change documents: create, transition, void, update; numbering; print.

Every function here works for the current tenant (``tenant_context``) and checks the actor's
permission with ``actor.can(...)``; ``actor=None`` means the system (jobs, imports): no permission
check, audited as "system". They raise a :class:`DocumentError` subclass whose ``status`` is the HTTP
status an API should answer with and whose ``messages`` are translated, user-facing reasons.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select, update
from sqlalchemy.orm.exc import StaleDataError

from .. import audit, events
from ..branding import logo_data_uri
from ..i18n import shop_language
from ..db import GarageSession, db
from ..models import Tenant, utcnow
from ..tenancy import current_tenant, current_tenant_id
from .models import DocumentHistory, DocumentMixin, DocumentSequence
from .types import VOID, DocumentType, Transition

log = logging.getLogger(__name__)


# --- errors -------------------------------------------------------------------------------------


class DocumentError(Exception):
    """Base of the engine's errors. ``messages``: translated reasons; ``status``: HTTP status."""

    status = 400

    def __init__(self, *messages: Any):
        self.messages = [str(m) for m in messages]
        super().__init__("; ".join(self.messages))


class DocumentTypeUnavailable(DocumentError):
    """The tenant does not have the document type's plugin or feature (the API answers 404)."""

    status = 404


class TransitionForbidden(DocumentError):
    """The actor lacks the permission."""

    status = 403


class TransitionNotAllowed(DocumentError):
    """No such transition, or not from the document's current state."""

    status = 409


class TransitionVetoed(DocumentError):
    """A guard or ``validate_transition`` hook vetoed; ``messages`` holds every veto, ``vetoes`` the
    ``(plugin, message)`` pairs."""

    status = 422

    def __init__(self, vetoes: list[tuple[str, Any]]):
        self.vetoes = [(plugin, str(msg)) for plugin, msg in vetoes]
        super().__init__(*(msg for _plugin, msg in self.vetoes))


class TransitionFailed(DocumentError):
    """A ``before_transition``/``after_transition`` hook (or a guard) raised; everything was rolled
    back. The original exception is ``__cause__``."""

    status = 500


class StaleDocument(DocumentError):
    """Someone else saved the document since it was loaded (optimistic locking)."""

    status = 409


class DocumentImmutable(DocumentError):
    """The document is in an immutable state (posted), or the change is one only the engine makes."""

    status = 409


class DocumentDeleteForbidden(DocumentError):
    """Numbered documents are voided, never deleted."""

    status = 409


# --- lookups ------------------------------------------------------------------------------------


def _host():
    return current_app.extensions["garage"]


def document_types() -> dict[str, DocumentType]:
    """Every registered document type (extensions merged), by key."""
    return _host().document_types


def get_document_type(ref: Any) -> DocumentType:
    """The :class:`DocumentType` of a key (``"workshop.work_order"``), a model class, a document or a
    DocumentType (returned as registered, with extensions merged)."""
    host = _host()
    if isinstance(ref, DocumentType):
        ref = ref.key
    if isinstance(ref, str):
        try:
            return host.document_types[ref]
        except KeyError:
            raise LookupError(f"no document type {ref!r}") from None
    model = ref if isinstance(ref, type) else type(ref)
    for klass in model.__mro__:
        dt = host.document_types_by_model.get(klass)
        if dt is not None:
            return dt
    raise LookupError(f"{model.__name__} is not a registered document model")


def _available(dt: DocumentType) -> None:
    tenant = current_tenant()
    if dt.plugin not in tenant.plugins or not tenant.has(dt.feature):
        raise DocumentTypeUnavailable(_("Not found"))


def _require(actor: Any, permission: str | None) -> None:
    if actor is not None and permission and not actor.can(permission):
        raise TransitionForbidden(_("You do not have the permission %(permission)s.", permission=permission))


def _tenant_hooks():
    return _host().hooks_for(current_tenant().plugins)


def _ordered_impls(caller) -> list:
    """Implementations in plugin dependency order (core first), never pluggy's LIFO order."""
    rank = {name: i for i, name in enumerate(_host().order)}
    impls = [i for i in caller.get_hookimpls() if not (i.hookwrapper or i.wrapper)]
    return sorted(impls, key=lambda i: (rank.get(i.plugin_name, -1), i.plugin_name))


def _messages(value: Any) -> list[Any]:
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v]
    return [value]


# --- the engine's write permit ------------------------------------------------------------------

_PERMIT = "garage_document_permit"  # session.info: ids of documents the engine is writing
_ENGINE_FIELDS = frozenset({"state", "version", "updated_at", "voided_at", "void_reason"})


@contextmanager
def _engine_writes(doc):
    permits = db.session().info.setdefault(_PERMIT, set())
    permits.add(id(doc))
    try:
        yield
    finally:
        permits.discard(id(doc))


def _changed_attrs(obj) -> dict[str, Any]:
    """Attribute -> value before this flush, for the attributes that changed."""
    changed = {}
    for attr in inspect(obj).attrs:
        hist = attr.history
        if hist.has_changes():
            changed[attr.key] = hist.deleted[0] if hist.deleted else None
    return changed


@sa_event.listens_for(GarageSession, "before_flush")
def _guard_documents(session, flush_context, instances):
    """Numbers and states change only through the engine; immutable states forbid edits; no deletes."""
    permits = session.info.get(_PERMIT, ())
    for obj in session.deleted:
        if isinstance(obj, DocumentMixin):
            raise DocumentDeleteForbidden(
                _("Document %(number)s cannot be deleted; void it instead.", number=obj.number))
    for obj in session.new:
        if isinstance(obj, DocumentMixin) and id(obj) not in permits:
            raise DocumentImmutable(_("Create documents with create_document(): it assigns the number."))
    for obj in session.dirty:
        if not isinstance(obj, DocumentMixin) or not session.is_modified(obj):
            continue
        changed = _changed_attrs(obj)
        if "number" in changed:
            raise DocumentImmutable(_("The number of document %(number)s cannot be changed.", number=changed["number"]))
        permitted = id(obj) in permits
        if "state" in changed and not permitted:
            raise DocumentImmutable(_("The state of document %(number)s changes only through a transition.",
                                      number=obj.number))
        old_state = changed.get("state", obj.state)
        try:
            state = get_document_type(obj).workflow.states.get(old_state)
        except LookupError:  # a document model whose plugin is not loaded in this app
            state = None
        if state is not None and state.immutable and (not permitted or set(changed) - _ENGINE_FIELDS):
            raise DocumentImmutable(_("Document %(number)s is %(state)s and cannot be changed.",
                                      number=obj.number, state=str(state.title)))


@sa_event.listens_for(GarageSession, "do_orm_execute")
def _no_bulk_delete(state):
    if state.is_delete and any(m is not None and issubclass(m.class_, DocumentMixin) for m in state.all_mappers):
        raise DocumentDeleteForbidden(_("Documents cannot be deleted; void them instead."))


def ensure_editable(doc) -> None:
    """Raise :class:`DocumentImmutable` if ``doc`` is in an immutable state. Call it before changing a
    document's child rows (lines), which the engine's flush guard does not see."""
    state = get_document_type(doc).workflow.states.get(doc.state)
    if state is not None and state.immutable:
        raise DocumentImmutable(_("Document %(number)s is %(state)s and cannot be changed.",
                                  number=doc.number, state=str(state.title)))


# --- numbering ----------------------------------------------------------------------------------


def _next_value(doc_type: str, period: str) -> int:
    """Increment the counter in the current transaction and return the new value.

    Insert-if-missing, then one ``UPDATE ... SET last_value = last_value + 1 RETURNING``: the row lock
    (PostgreSQL) or the write lock (SQLite) serialises concurrent creators until their commit, and a
    rollback undoes the increment, so numbers are unique and gapless.
    """
    table = DocumentSequence.__table__
    tenant_id = current_tenant_id()
    key = {"tenant_id": tenant_id, "doc_type": doc_type, "period": period}
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the supported databases are PostgreSQL and SQLite
        raise NotImplementedError(f"document numbering is not implemented for {dialect}")
    db.session.execute(insert(table).values(**key, last_value=0).on_conflict_do_nothing(
        index_elements=["tenant_id", "doc_type", "period"]))
    # ORM-enabled UPDATE (not the bare table) so the tenant guard sees and scopes it.
    seq = DocumentSequence
    stmt = (
        update(seq)
        .where(seq.tenant_id == tenant_id, seq.doc_type == doc_type, seq.period == period)
        .values(last_value=seq.last_value + 1)
        .returning(seq.last_value)
    )
    return db.session.execute(stmt).scalar_one()


def tenant_now(at: datetime | None = None) -> datetime:
    """``at`` (default: now) in the current tenant's time zone."""
    tenant = db.session.get(Tenant, current_tenant_id())
    return (at or utcnow()).astimezone(ZoneInfo(tenant.timezone or "UTC"))


def next_number(doc_type: Any, at: datetime | None = None) -> str:
    """Take the next number of ``doc_type`` for the current tenant, inside the current transaction.

    The year (and month) come from the tenant's time zone. The counter row stays locked until the
    transaction ends, so keep the rest of the transaction short.
    """
    dt = get_document_type(doc_type)
    local = tenant_now(at)
    period = ""
    if "{year" in dt.number_format:
        period = f"{local.year:04d}"
        if "{month" in dt.number_format:
            period += f"-{local.month:02d}"
    seq = _next_value(dt.key, period)
    return dt.number_format.format(prefix=dt.number_prefix, year=local.year, month=local.month, seq=seq)


# --- services -----------------------------------------------------------------------------------


def _fail(exc: Exception):
    """Roll back everything, then raise: a lost optimistic lock as StaleDocument, the rest as is."""
    db.session.rollback()
    if isinstance(exc, StaleDataError):
        raise StaleDocument(_("The document was changed by someone else; reload it and try again.")) from exc
    raise exc


def _finish(commit: bool) -> None:
    if commit:
        db.session.commit()
        events.dispatch_pending()
    else:
        db.session.flush()


def create_document(doc_type: Any, actor: Any, *, commit: bool = True, **fields: Any):
    """Create a document of ``doc_type`` (key, model or DocumentType) for the current tenant.

    Assigns the next number and the workflow's initial state, writes the history and audit rows and
    queues the event ``"<key>.created"``, all in the current transaction. ``fields`` must already be
    validated (with ``doc_type.schema``). With ``commit=True`` (default) commits and dispatches the
    events; with ``commit=False`` the caller adds more (lines) and finishes with
    :func:`core.events.commit`; the number counter stays locked until then. On failure the session is
    rolled back and no number is used up.
    """
    dt = get_document_type(doc_type)
    _available(dt)
    _require(actor, dt.permission("create"))
    forbidden = set(fields) & {"number", "state", "version", "voided_at", "void_reason", "tenant_id"}
    if forbidden:
        raise DocumentImmutable(_("These fields are set by the system: %(fields)s", fields=", ".join(sorted(forbidden))))
    try:
        doc = dt.model(**fields)
        doc.tenant_id = current_tenant_id()
        doc.state = dt.workflow.initial
        doc.number = next_number(dt)
        with _engine_writes(doc):
            db.session.add(doc)
            db.session.flush()
        db.session.add(DocumentHistory(doc_type=dt.key, doc_id=doc.id, transition="create", from_state=None,
                                       to_state=doc.state, actor_id=getattr(actor, "id", None)))
        changes = {k: [None, v] for k, v in fields.items()}
        changes.update(number=[None, doc.number], state=[None, doc.state])
        audit.record("create", doc, changes=changes, user=actor)
        events.emit(f"{dt.key}.created", **_payload(dt, doc, actor))
        _finish(commit)
    except Exception as exc:  # noqa: BLE001 - anything rolls the creation back
        _fail(exc)
    return doc


def _payload(dt: DocumentType, doc, actor, **extra) -> dict:
    return {"doc_type": dt.key, "id": doc.id, "number": doc.number, "state": doc.state,
            "actor_id": getattr(actor, "id", None), **extra}


def _check_version(dt: DocumentType, doc, expected_version: int | None) -> None:
    """Lock the document's row (PostgreSQL: ``SELECT ... FOR UPDATE``) and compare versions."""
    model = type(doc)
    current = db.session.execute(
        select(model.version).where(model.id == doc.id).with_for_update()
    ).scalar_one_or_none()
    if current is None:
        raise DocumentTypeUnavailable(_("Not found"))
    mine = doc.version if expected_version is None else expected_version
    if current != mine:
        raise StaleDocument(_(
            "Document %(number)s was changed by someone else (version %(current)s, yours is %(mine)s); "
            "reload it and try again.", number=doc.number, current=current, mine=mine))


def transition(doc, name: str, actor: Any, comment: str | None = None, *, expected_version: int | None = None,
               commit: bool = True, _changes: dict | None = None):
    """Run transition ``name`` on ``doc`` for ``actor``: the one service that changes a state.

    In one transaction, in this order:

    1. the transition exists and starts from the document's state (else :class:`TransitionNotAllowed`);
       the actor has its permission (else :class:`TransitionForbidden`);
    2. the document's row is locked and its version compared with ``expected_version`` (default: the
       version ``doc`` was loaded with); a difference is :class:`StaleDocument` (parallel transitions
       of one document: exactly one wins);
    3. the transition's guard and every plugin's ``validate_transition`` are asked; all vetoes are
       collected and raised together as :class:`TransitionVetoed`;
    4. ``before_transition`` hooks; 5. the state changes, a history row and an audit row are written;
    6. ``after_transition`` hooks; 7. events ``"<key>.<transition>"`` and ``"<key>.state.<state>"``
       are queued; 8. commit (``commit=False``: flush only; finish with :func:`core.events.commit`),
       then the events are dispatched to ``on_event``.

    Hooks run through the tenant's hook proxy, in plugin dependency order. Any failure rolls the
    whole session back (nothing written) and raises a :class:`DocumentError` saying why; a hook's own
    exception becomes :class:`TransitionFailed`. Returns ``doc``.
    """
    dt = get_document_type(doc)
    _available(dt)
    tr: Transition | None = dt.workflow.transitions.get(name)
    if tr is None or not dt.workflow.offers(name, current_tenant().plugins):
        raise TransitionNotAllowed(_("Unknown transition %(name)s.", name=name))
    if doc.state not in tr.source:
        state = dt.workflow.states.get(doc.state)
        raise TransitionNotAllowed(_("%(transition)s is not possible for a document in state %(state)s.",
                                     transition=str(tr.title), state=str(state.title if state else doc.state)))
    _require(actor, tr.permission)
    hooks = _tenant_hooks()
    try:
        _check_version(dt, doc, expected_version)
        vetoes: list[tuple[str, Any]] = []
        if tr.guard is not None:
            result = _call_plugin(dt.plugin, "guard", tr.guard, doc, actor)
            vetoes += [(dt.plugin, m) for m in _messages(result)]
        for impl in _ordered_impls(hooks.validate_transition):
            result = _call_plugin(impl.plugin_name, "validate_transition", impl.function,
                                  **_args(impl, document=doc, transition=tr, actor=actor))
            vetoes += [(impl.plugin_name, m) for m in _messages(result)]
        if vetoes:
            raise TransitionVetoed(vetoes)
        _run_hooks(hooks.before_transition, document=doc, transition=tr, actor=actor)
        from_state = doc.state
        changes = {"state": [from_state, tr.target]}
        with _engine_writes(doc):
            for key, value in (_changes or {}).items():
                changes[key] = [getattr(doc, key), value]
                setattr(doc, key, value)
            doc.state = tr.target
            db.session.add(DocumentHistory(doc_type=dt.key, doc_id=doc.id, transition=tr.name, from_state=from_state,
                                           to_state=tr.target, actor_id=getattr(actor, "id", None), comment=comment))
            if comment:
                changes["comment"] = [None, comment]
            audit.record("void" if tr.name == VOID else "transition", doc, changes=changes, user=actor)
            db.session.flush()  # the version check of the UPDATE happens here
            _run_hooks(hooks.after_transition, document=doc, transition=tr, actor=actor)
            payload = _payload(dt, doc, actor, transition=tr.name, from_state=from_state, to_state=tr.target)
            events.emit(f"{dt.key}.{tr.name}", **payload)
            events.emit(f"{dt.key}.state.{tr.target}", **payload)
            _finish(commit)
    except Exception as exc:  # noqa: BLE001 - any failure rolls the transition back
        _fail(exc)
    return doc


def _args(impl, **kwargs) -> dict:
    return {k: kwargs[k] for k in impl.argnames if k in kwargs}


def _run_hooks(caller, **kwargs) -> None:
    for impl in _ordered_impls(caller):
        _call_plugin(impl.plugin_name, caller.name, impl.function, **_args(impl, **kwargs))


def _call_plugin(plugin: str, what: str, fn, *args, **kwargs):
    """Call a plugin's guard or hook; its unexpected exception becomes TransitionFailed naming it."""
    try:
        return fn(*args, **kwargs)
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - name the plugin that broke the transition
        log.exception("plugin %r failed in %s", plugin, what)
        raise TransitionFailed(_("%(plugin)s: %(error)s", plugin=plugin, error=str(exc) or type(exc).__name__)) from exc


def void(doc, actor: Any, reason: str, *, expected_version: int | None = None, commit: bool = True):
    """Void ``doc`` instead of deleting it: the engine's ``void`` transition (permission
    ``<prefix>.void``, vetoes and hooks as for any transition, event ``"<key>.void"``) that also
    records ``voided_at`` and ``void_reason``. ``reason`` is required."""
    reason = (reason or "").strip()
    if not reason:
        raise TransitionVetoed([("core", _("Give a reason for voiding the document."))])
    return transition(doc, VOID, actor, comment=reason, expected_version=expected_version, commit=commit,
                      _changes={"voided_at": utcnow(), "void_reason": reason})


def update_document(doc, actor: Any, *, expected_version: int | None = None, commit: bool = True, **changes: Any):
    """Change fields of ``doc`` (already validated with the schema): permission ``<prefix>.update``,
    not in an immutable state, optimistic locking against ``expected_version`` (what the user saw),
    an audit row with the diff. Number, state and void fields are not editable here."""
    dt = get_document_type(doc)
    _available(dt)
    _require(actor, dt.permission("update"))
    forbidden = set(changes) & ({"number", "tenant_id", "id", "created_at"} | _ENGINE_FIELDS)
    if forbidden:
        raise DocumentImmutable(_("These fields are set by the system: %(fields)s", fields=", ".join(sorted(forbidden))))
    ensure_editable(doc)
    try:
        if expected_version is not None and expected_version != doc.version:
            raise StaleDocument(_(
                "Document %(number)s was changed by someone else (version %(current)s, yours is %(mine)s); "
                "reload it and try again.", number=doc.number, current=doc.version, mine=expected_version))
        before = {k: getattr(doc, k) for k in changes}
        for key, value in changes.items():
            setattr(doc, key, value)
        diff = audit.diff(before, changes)
        if diff:
            audit.record("update", doc, changes=diff, user=actor)
        _finish(commit)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    return doc


def available_transitions(doc, actor: Any) -> list[Transition]:
    """Transitions from ``doc``'s state that ``actor`` has the permission for, sorted by ``order``
    (what the UI shows as buttons; guards and vetoes are only asked when one is run)."""
    dt = get_document_type(doc)
    return [t for t in dt.workflow.transitions_from(doc.state, current_tenant().plugins)
            if actor is None or t.permission is None or actor.can(t.permission)]


def history(doc) -> list[DocumentHistory]:
    """The document's state changes, oldest first."""
    dt = get_document_type(doc)
    return list(db.session.scalars(
        select(DocumentHistory).where(DocumentHistory.doc_type == dt.key, DocumentHistory.doc_id == doc.id)
        .order_by(DocumentHistory.id)))


@sa_event.listens_for(GarageSession, "before_flush")
def _history_is_append_only(session, flush_context, instances):
    for obj in session.deleted:
        if isinstance(obj, DocumentHistory):
            raise DocumentImmutable(_("Document history cannot be changed."))
    for obj in session.dirty:
        if isinstance(obj, DocumentHistory) and session.is_modified(obj):
            raise DocumentImmutable(_("Document history cannot be changed."))


# --- print --------------------------------------------------------------------------------------


def _print_env():
    """The app's Jinja environment plus the ``templates/`` folders of plugins with document types."""
    from jinja2 import ChoiceLoader, FileSystemLoader

    app = current_app._get_current_object()
    env = app.extensions.get("garage_print_env")
    if env is None:
        host = _host()
        folders = []
        for dt in host.document_types.values():
            plugin = host.plugins.get(dt.plugin)
            if plugin is not None and (plugin.path / "templates").is_dir():
                folders.append(str(plugin.path / "templates"))
        env = app.jinja_env.overlay(loader=ChoiceLoader([app.jinja_env.loader, FileSystemLoader(folders)]))
        app.extensions["garage_print_env"] = env
    return env


def render_print(doc, template: str = "default", **context: Any) -> str:
    """Render ``doc``'s print template ``template`` (HTML). The template gets ``doc``, ``doc_type``,
    ``state`` (the :class:`State`), ``tenant`` (the :class:`core.models.Tenant` row), ``requisites``
    (the tenant's legal details) and ``context``. The type's ``print_renderer``, when set, may
    render something else instead (a template the tenant edited)."""
    dt = get_document_type(doc)
    _available(dt)
    path = dt.print_templates.get(template)
    if path is None:
        raise DocumentTypeUnavailable(_("No print form %(name)s.", name=template))
    tenant = db.session.get(Tenant, doc.tenant_id)
    values = dict(doc=doc, doc_type=dt, state=dt.workflow.states.get(doc.state), tenant=tenant,
                  requisites=tenant.requisites or {}, logo=logo_data_uri(tenant), **context)

    def builtin(**extra: Any) -> str:
        return _print_env().get_template(path).render(**values, **extra)

    # A document is printed for the shop's client, in the shop's language, whoever presses "print"
    # (an English-speaking owner of a Russian shop prints a Russian work order).
    with shop_language():
        if dt.print_renderer is not None:
            html = dt.print_renderer(doc, template, values, builtin)
            if html is not None:
                return html
        return builtin()


__all__ = [
    "DocumentError", "DocumentTypeUnavailable", "TransitionForbidden", "TransitionNotAllowed", "TransitionVetoed",
    "TransitionFailed", "StaleDocument", "DocumentImmutable", "DocumentDeleteForbidden",
    "document_types", "get_document_type", "ensure_editable", "next_number", "tenant_now", "create_document",
    "transition", "void", "update_document", "available_transitions", "history", "render_print",
]
