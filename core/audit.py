"""The audit log: one row per mutation, written in the mutation's own transaction.

Rows are append-only: the app never updates or deletes them (a flush that tries raises).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import has_request_context, request
from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from .db import TenantScoped, db
from .models import utcnow
from .tenancy import get_tenant_id


class AuditLog(TenantScoped, db.Model):
    __tablename__ = "core_audit_log"
    __table_args__ = (
        Index(None, "tenant_id", "at"),
        Index(None, "tenant_id", "object_type", "object_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(254), default="")  # e-mail, "operator" or "system"
    action: Mapped[str] = mapped_column(String(40))  # create, update, delete, void, transition, login...
    object_type: Mapped[str] = mapped_column(String(80), default="")
    object_id: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[dict] = mapped_column(JSON, default=dict)  # field -> [before, after]
    ip: Mapped[str | None] = mapped_column(String(45))


class OperatorLog(db.Model):
    """Operator actions that belong to no tenant (tier catalog edits)."""

    __tablename__ = "core_operator_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(254), default="operator")
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(80), default="")
    object_key: Mapped[str] = mapped_column(String(120), default="")
    changes: Mapped[dict] = mapped_column(JSON, default=dict)


class AuditImmutable(RuntimeError):
    pass


def _guard(session, flush_context, instances):
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, (AuditLog, OperatorLog)) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditImmutable("audit rows cannot be changed or deleted")


from .db import GarageSession  # noqa: E402

event.listen(GarageSession, "before_flush", _guard)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def record(action: str, obj: Any = None, *, changes: dict | None = None, user: Any = None,
           actor: str | None = None, object_type: str | None = None, object_id: int | None = None,
           tenant_id: int | None = None) -> AuditLog:
    """Add an audit row to the current transaction (the caller commits with its own change)."""
    if user is None and has_request_context():
        from flask_login import current_user

        if current_user and current_user.is_authenticated:
            user = current_user
    if obj is not None:
        object_type = object_type or getattr(obj, "__tablename__", type(obj).__name__)
        object_id = object_id if object_id is not None else getattr(obj, "id", None)
    row = AuditLog(
        tenant_id=tenant_id or get_tenant_id() or getattr(obj, "tenant_id", None),
        user_id=getattr(user, "id", None),
        actor=actor or getattr(user, "email", None) or "system",
        action=action,
        object_type=object_type or "",
        object_id=object_id,
        changes=_jsonable(changes or {}),
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(row)
    return row


def record_operator(action: str, object_type: str, object_key: str, changes: dict | None = None) -> None:
    db.session.add(OperatorLog(action=action, object_type=object_type, object_key=object_key,
                               changes=_jsonable(changes or {})))


def diff(before: dict, after: dict) -> dict:
    """Changed fields only, as ``{field: [before, after]}``."""
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}
