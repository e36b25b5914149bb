"""Data layer: the SQLAlchemy object, the declarative base, the money type and the tenant guard.

Row-level tenancy (ARCHITECTURE.md, decided): every tenant-owned model inherits :class:`TenantScoped`.
A ``do_orm_execute`` listener adds ``tenant_id = <current tenant>`` to every ORM statement that touches
such a model and *fails closed*: without a tenant context the statement raises
:class:`TenantContextMissing`. Operator code that must cross tenants says so explicitly with
``execution_options(all_tenants=True)``.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import BigInteger, ForeignKey, MetaData, Table, event, text
from sqlalchemy.sql import visitors
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, with_loader_criteria
from sqlalchemy.types import TypeDecorator

from .tenancy import TenantContextMissing, current_tenant_id, get_tenant_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class GarageSession(FlaskSession):
    """Flask-SQLAlchemy's session; a class of our own so the tenant guard listens only here."""


db = SQLAlchemy(model_class=Base, session_options={"class_": GarageSession})


class TenantMismatch(RuntimeError):
    """An object of one tenant was about to be written inside another tenant's context."""


class TenantScoped:
    """Mixin for every tenant-owned model: adds ``tenant_id`` and puts it under the tenant guard.

    Indexes and unique keys of such a table must start with ``tenant_id`` (checked at startup).
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:  # noqa: N805 - SQLAlchemy's declared_attr signature
        return mapped_column(ForeignKey("core_tenant.id", ondelete="RESTRICT"), nullable=False)


def _is_tenant_scoped(mapper) -> bool:
    return mapper is not None and issubclass(mapper.class_, TenantScoped)


_tenant_tables: tuple[int, frozenset[str]] = (-1, frozenset())


def tenant_table_names() -> frozenset[str]:
    """Names of the tables of every TenantScoped model (recomputed when models are added)."""
    global _tenant_tables
    mappers = Base.registry.mappers
    if _tenant_tables[0] != len(mappers):
        names = frozenset(m.local_table.name for m in mappers if _is_tenant_scoped(m))
        _tenant_tables = (len(mappers), names)
    return _tenant_tables[1]


class RawTenantQuery(RuntimeError):
    """A Core statement (plain Table) over tenant data went through the session: use the ORM models,
    which the guard filters, or :func:`tenant_sql`."""


def _tenant_tables_in(statement) -> tuple[bool, bool]:
    """(touches tenant tables, only as plain Core tables). Walks subqueries and joins too, so
    ``select(func.count()).select_from(Model)`` or a count over a subquery cannot slip past."""
    names = tenant_table_names()
    touched = orm_seen = False
    for element in visitors.iterate(statement):
        if isinstance(element, Table) and element.name in names:
            touched = True
            if "parententity" in getattr(element, "_annotations", {}):
                orm_seen = True
    return touched, touched and not orm_seen


@event.listens_for(GarageSession, "do_orm_execute")
def _tenant_criteria(state):
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("all_tenants"):
        return
    by_mapper = any(_is_tenant_scoped(m) for m in state.all_mappers)
    touched, core_only = _tenant_tables_in(state.statement)
    if not (by_mapper or touched):
        return
    tenant_id = get_tenant_id()
    if tenant_id is None:
        if state.is_column_load:
            # Refreshing an object already in the session (e.g. after commit): its identity was
            # obtained under the guard, so reloading the same primary key is safe.
            return
        tenant_id = current_tenant_id()  # raises TenantContextMissing: fail closed
    if core_only and not by_mapper:
        raise RawTenantQuery("a Core statement over tenant tables: query the ORM model or use tenant_sql()")
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)
    )


@event.listens_for(GarageSession, "before_flush")
def _stamp_tenant(session, flush_context, instances):
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        tenant_id = get_tenant_id()
        if obj.tenant_id is None:
            if tenant_id is None:
                raise TenantContextMissing(f"cannot create {type(obj).__name__} without a tenant context")
            obj.tenant_id = tenant_id
        elif tenant_id is not None and obj.tenant_id != tenant_id:
            raise TenantMismatch(f"{type(obj).__name__} of tenant {obj.tenant_id} written in tenant {tenant_id}")
    for obj in session.dirty:
        if isinstance(obj, TenantScoped):
            tenant_id = get_tenant_id()
            if tenant_id is not None and obj.tenant_id != tenant_id:
                raise TenantMismatch(f"{type(obj).__name__} of tenant {obj.tenant_id} changed in tenant {tenant_id}")


def tenant_sql(sql: str, **params: Any):
    """Run raw SQL for the current tenant. The statement must filter on ``:tenant_id``.

    This is the only sanctioned way to run hand-written SQL against tenant tables: it refuses a
    statement that does not bind the tenant and fills the bind from the tenant context.
    """
    if ":tenant_id" not in sql:
        raise ValueError("raw SQL against tenant data must filter on :tenant_id")
    params["tenant_id"] = current_tenant_id()
    return db.session.execute(text(sql), params)


class Money(TypeDecorator):
    """Exact money: Decimal in Python, integer minor units (kopecks, fen, cents) in the database.

    Integer storage is exact on SQLite as well as PostgreSQL (SQLite's NUMERIC is a float underneath).
    A value with more than two decimal places is refused rather than silently rounded; aggregates such
    as ``func.sum(col)`` keep the type and come back as Decimal.
    """

    impl = BigInteger
    cache_ok = True
    SCALE = 2
    _QUANT = Decimal(1).scaleb(-SCALE)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, int or str, never float")
        try:
            amount = Decimal(value)
        except (InvalidOperation, TypeError) as exc:
            raise ValueError(f"not an amount of money: {value!r}") from exc
        if not amount.is_finite():
            raise ValueError(f"not an amount of money: {value!r}")
        if amount != amount.quantize(self._QUANT, rounding=ROUND_HALF_UP):
            raise ValueError(f"{value} has more than {self.SCALE} decimal places")
        return int(amount.scaleb(self.SCALE))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-self.SCALE).quantize(self._QUANT)

    def coerce_compared_value(self, op, value):
        return self


def quantize_money(value) -> Decimal:
    """Round a computed amount to the kopeck, half up (the rule of Russian and Chinese receipts)."""
    return Decimal(value).quantize(Money._QUANT, rounding=ROUND_HALF_UP)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    # WAL lets readers work while a writer commits; foreign keys are off by default in SQLite.
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
