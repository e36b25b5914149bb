"""Events after commit: what happened, told to the plugins only once it is durable.

Emitting::

    from core import events
    events.emit("workshop.work_order.close", id=order.id, number=order.number)
    events.commit()                       # db.session.commit() + dispatch what was committed

:func:`emit` queues an :class:`Event` on the current SQLAlchemy session (``session.info``). Nothing is
sent until that session's transaction commits; a rollback (of the whole transaction, or of the
savepoint the event was emitted in) discards the queued events, so plugins never hear about changes
that did not happen.

Receiving: implement the ``on_event(event)`` hook. It is called through the *event's tenant's* hook
proxy, so only plugins that tenant has are told; with that tenant's context pushed; and each handler
runs in a fresh app context, i.e. a fresh session and transaction of its own, which the dispatcher
commits. A handler that raises is logged and rolled back; it never undoes the event's transaction, is
not re-raised, and does not stop the other handlers. Handlers are called in plugin dependency order
(core first), never in pluggy's registration order. Events a handler emits are dispatched once every
handler has seen the events committed before them (breadth first, to a bounded depth).

The documents engine emits, for a document type with key ``<key>`` (e.g. ``workshop.work_order``):
``<key>.created``; ``<key>.<transition>`` (``workshop.work_order.close``, ``....void``) and
``<key>.state.<state>`` (``workshop.work_order.state.closed``) for every transition. Their payload:
``doc_type``, ``id``, ``number``, ``state``, ``actor_id`` and, for transitions, ``transition``,
``from_state``, ``to_state``.

Why "commit, then dispatch" and not a session hook: SQLAlchemy forbids SQL inside ``after_commit``
(the connection is already being released), and handlers need SQL. So ``after_commit`` only moves the
session's queue to a "committed" list, and the dispatch happens right after ``commit()`` returns:

- :func:`commit` does both; the documents engine and every service should use it;
- a safety net at the end of every app context (so every request, CLI command and job) dispatches
  whatever was committed with a plain ``db.session.commit()``; it runs before Flask-SQLAlchemy
  removes the session;
- :func:`dispatch_pending` dispatches on the spot (a job or command that commits in a loop).

Delivery is at-most-once and in-process: an event committed just before the process dies is lost.
Work that must survive that belongs in a job queued from the handler, or in an outbox table.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event as sa_event

from .db import GarageSession, db
from .models import utcnow
from .tenancy import current_tenant_id, tenant_context

log = logging.getLogger(__name__)

_PENDING = "garage_events_pending"  # [(Event, SessionTransaction | None)] not committed yet
_COMMITTED = "garage_events_committed"  # [Event] committed, waiting for dispatch
_MAX_DEPTH = 5  # an event whose handler emits an event whose handler emits ... stops here


@dataclass(frozen=True)
class Event:
    """Something that happened to one tenant's data, e.g. ``workshop.work_order.close``.

    ``payload`` holds JSON-friendly values only (ids, numbers, states), never ORM objects: a handler
    reloads what it needs in its own transaction.
    """

    name: str
    tenant_id: int
    payload: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=utcnow)


def emit(name: str, **payload: Any) -> Event:
    """Queue event ``name`` for the current tenant; it is dispatched after the current transaction
    commits (see :func:`commit`) and dropped if it rolls back. Requires a tenant context."""
    ev = Event(name=name, tenant_id=current_tenant_id(), payload=dict(payload))
    session = db.session()
    # Remember the innermost transaction, so rolling back a savepoint drops only what it emitted.
    tx = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((ev, tx))
    return ev


def commit() -> None:
    """Commit the current session, then dispatch the events it committed."""
    db.session.commit()
    dispatch_pending()


def pending() -> list[Event]:
    """Events queued in the current transaction (not committed yet). Mostly for tests."""
    return [ev for ev, _tx in db.session().info.get(_PENDING, [])]


def dispatch_pending() -> int:
    """Dispatch the events the current session has committed; returns how many were dispatched."""
    session = db.session()
    committed = session.info.pop(_COMMITTED, [])
    # Breadth first: every committed event, in order, then the events their handlers emitted.
    queue = deque((ev, 0) for ev in committed)
    tenants: dict = {}  # tenant id -> TenantInfo, looked up once per dispatch
    while queue:
        ev, depth = queue.popleft()
        follow_ups = _dispatch(ev, tenants)
        if follow_ups and depth + 1 >= _MAX_DEPTH:
            log.error("event chain too deep after %s; dropped %s", ev.name, [e.name for e in follow_ups])
            continue
        queue.extend((f, depth + 1) for f in follow_ups)
    return len(committed)


def _dispatch(ev: Event, tenants: dict) -> list[Event]:
    """Call every ``on_event`` of the event's tenant, each in its own transaction; returns the events
    the handlers emitted and committed."""
    from .features import tenant_info
    from .models import Tenant

    app = current_app._get_current_object()
    host = app.extensions["garage"]
    # A fresh app context = a fresh Flask-SQLAlchemy session: the handler's transaction is its own.
    if ev.tenant_id not in tenants:
        with app.app_context():
            tenant = db.session.get(Tenant, ev.tenant_id)
            tenants[ev.tenant_id] = tenant_info(tenant) if tenant is not None else None
    info = tenants[ev.tenant_id]
    if info is None:
        log.error("event %s: tenant %s no longer exists; not dispatched", ev.name, ev.tenant_id)
        return []
    # Plugin dependency order (core first), never pluggy's last-registered-first.
    rank = {name: i for i, name in enumerate(host.order)}
    impls = sorted((i for i in host.hooks_for(info.plugins).on_event.get_hookimpls()
                    if not (i.hookwrapper or i.wrapper)),
                   key=lambda i: (rank.get(i.plugin_name, -1), i.plugin_name))
    follow_ups: list[Event] = []
    for impl in impls:
        with app.app_context(), tenant_context(info):
            try:
                impl.function(event=ev)
                db.session.commit()
            except Exception:  # noqa: BLE001 - a handler failure must not undo a committed change
                db.session.rollback()
                log.exception("plugin %r failed handling event %s (tenant %s); its work was rolled back",
                              impl.plugin_name, ev.name, ev.tenant_id)
                continue
            follow_ups.extend(db.session().info.pop(_COMMITTED, []))
    return follow_ups


# --- session bookkeeping ------------------------------------------------------------------------


@sa_event.listens_for(GarageSession, "after_commit")
def _move_to_committed(session):
    queued = session.info.pop(_PENDING, [])
    if queued:
        session.info.setdefault(_COMMITTED, []).extend(ev for ev, _tx in queued)


@sa_event.listens_for(GarageSession, "after_soft_rollback")
def _discard_rolled_back(session, previous_transaction):
    queued = session.info.get(_PENDING)
    if not queued:
        return
    if previous_transaction.nested:  # a savepoint: drop what was emitted inside it
        session.info[_PENDING] = [(ev, tx) for ev, tx in queued if not _within(tx, previous_transaction)]
    elif previous_transaction.parent is None:  # the whole transaction
        session.info.pop(_PENDING, None)
    # else: a failed flush's internal subtransaction; the rollback of its savepoint or of the whole
    # transaction, which must follow, decides.


@sa_event.listens_for(GarageSession, "after_transaction_end")
def _discard_on_close(session, transaction):
    # The outermost transaction ended without after_commit having taken the queue (close() without
    # commit or rollback): those events never happened.
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_PENDING, None)


def _within(tx, ancestor) -> bool:
    while tx is not None:
        if tx is ancestor:
            return True
        tx = tx.parent
    return False


# --- the safety net ---------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Dispatch what an app context committed without :func:`commit` (called by the documents engine).

    Teardown functions run last-registered-first: this one is registered after Flask-SQLAlchemy's,
    so it runs while the session (and its committed events) still exists.
    """
    app.teardown_appcontext(_dispatch_at_teardown)


def _dispatch_at_teardown(exc=None) -> None:
    try:
        if not db.session.registry.has():  # the request never opened a session
            return
        session = db.session()
    except RuntimeError:  # no app context: nothing can have been committed
        return
    if session.info.get(_COMMITTED):
        try:
            dispatch_pending()
        except Exception:  # noqa: BLE001 - teardown must not fail the response
            log.exception("dispatching events at the end of the app context failed")
