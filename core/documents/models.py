"""Tables of the documents engine and the mixin every document model inherits."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ..db import TenantScoped, db
from ..models import utcnow


class DocumentMixin(TenantScoped):
    """Columns every document has. A plugin declares its document table like this::

        class WorkOrder(DocumentMixin, db.Model):
            __tablename__ = "workshop_work_order"
            id: Mapped[int] = mapped_column(primary_key=True)
            client_id: Mapped[int] = ...

    - ``number``: assigned by :func:`core.documents.create_document`, unique per tenant (the table is
      the document type), never changed;
    - ``state``: changed only by :func:`core.documents.transition`;
    - ``version``: optimistic locking (SQLAlchemy ``version_id_col``): saving a document someone else
      saved in between fails with :class:`core.documents.StaleDocument`;
    - ``voided_at`` / ``void_reason``: set by :func:`core.documents.void`; documents are never deleted.

    The mixin supplies ``__table_args__`` (the unique number per tenant, an index on state) and
    ``__mapper_args__``. To add indexes of your own, set ``__document_table_args__`` (a tuple) instead
    of overriding ``__table_args__``; remember that they must start with ``tenant_id``.
    """

    __document_table_args__: tuple = ()

    number: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    void_reason: Mapped[str | None] = mapped_column(Text)

    @declared_attr.directive
    def __table_args__(cls):  # noqa: N805
        return (
            UniqueConstraint("tenant_id", "number"),
            # Named here: the convention's name (table name twice) outgrows PostgreSQL's 63 characters.
            Index(f"ix_{cls.__tablename__}_state", "tenant_id", "state"),
            *cls.__document_table_args__,
        )

    @declared_attr.directive
    def __mapper_args__(cls):  # noqa: N805
        return {"version_id_col": cls.__table__.c.version}


class DocumentSequence(TenantScoped, db.Model):
    """The last number given per tenant, document type and period (a year, or "" when the format has
    no year). Incremented inside the document's transaction: a rollback gives the number back."""

    __tablename__ = "core_document_sequence"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("core_tenant.id", ondelete="RESTRICT"), primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(80), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class DocumentHistory(TenantScoped, db.Model):
    """One row per state change of a document (creation included); append-only."""

    __tablename__ = "core_document_history"
    __table_args__ = (Index(None, "tenant_id", "doc_type", "doc_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(80))
    doc_id: Mapped[int] = mapped_column(Integer)
    transition: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text)
