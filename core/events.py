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
not re-raised, and does not stop the other handlers. Events a handler emits are dispatched after its
own commit (to a bounded depth).

Why "commit, then dispatch" and not a session hook: SQLAlchemy forbids SQL inside ``after_commit``
(the connection is already being released), and handlers need SQL. So ``after_commit`` only moves the
session's queue to a "committed" list, and the dispatch happens right after ``commit()`` returns:

- :func:`commit` does both; the documents engine and every service should use it;
- a Flask ``teardown_request`` safety net dispatches whatever a view committed with a plain
  ``db.session.commit()``;
- :func:`dispatch_pending` is for jobs and CLI commands that committed on their own.

Delivery is at-most-once and in-process: an event committed just before the process dies is lost.
Work that must survive that belongs in a job queued from the handler, or in an outbox table.
"""
from __future__ import annotations

import logging
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


def dispatch_pending(_depth: int = 0) -> int:
    """Dispatch the events the current session has committed; returns how many were dispatched."""
    session = db.session()
    committed = session.info.pop(_COMMITTED, [])
    for ev in committed:
        _dispatch(ev, _depth)
    return len(committed)


def _dispatch(ev: Event, depth: int) -> None:
    from .features import tenant_info
    from .models import Tenant

    app = current_app._get_current_object()
    host = app.extensions["garage"]
    # A fresh app context = a fresh Flask-SQLAlchemy session: the handler's transaction is its own.
    with app.app_context():
        tenant = db.session.get(Tenant, ev.tenant_id)
        if tenant is None:
            log.error("event %s: tenant %s no longer exists; not dispatched", ev.name, ev.tenant_id)
            return
        info = tenant_info(tenant)
        hooks = host.hooks_for(info.plugins)
        impls = list(reversed(hooks.on_event.get_hookimpls()))
        db.session.rollback()  # the tenant lookup must not leak into the first handler's transaction
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
            if depth + 1 >= _MAX_DEPTH:
                dropped = db.session().info.pop(_COMMITTED, [])
                if dropped:
                    log.error("event chain too deep after %s; dropped %s", ev.name, [e.name for e in dropped])
            else:
                dispatch_pending(depth + 1)


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
    if previous_transaction.nested:
        session.info[_PENDING] = [(ev, tx) for ev, tx in queued if not _within(tx, previous_transaction)]
    else:
        session.info.pop(_PENDING, None)


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


# --- Flask safety net ---------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Dispatch what a request committed without :func:`commit` (called by the documents engine)."""
    app.teardown_request(_dispatch_after_request)


def _dispatch_after_request(exc=None) -> None:
    try:
        session = db.session()
    except RuntimeError:  # no app context: nothing can have been committed
        return
    if session.info.get(_COMMITTED):
        try:
            dispatch_pending()
        except Exception:  # noqa: BLE001 - teardown must not fail the response
            log.exception("dispatching events after the request failed")
