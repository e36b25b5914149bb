"""The tenant context: which shop the current request, job or CLI command works for.

A context variable, not ``flask.g``, so jobs and CLI commands push it the same way requests do
(``with tenant_context(tenant): ...``) and threads never leak it into each other.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


class TenantContextMissing(RuntimeError):
    """A tenant-scoped query or write ran with no tenant context. The guard fails closed."""


@dataclass(frozen=True)
class TenantInfo:
    id: int
    slug: str
    tier: str
    features: frozenset[str] = field(default_factory=frozenset)
    plugins: frozenset[str] = field(default_factory=frozenset)

    def has(self, feature: str | None) -> bool:
        return feature is None or feature in self.features


_current: ContextVar[TenantInfo | None] = ContextVar("garage_tenant", default=None)


def current_tenant() -> TenantInfo:
    info = _current.get()
    if info is None:
        raise TenantContextMissing("no tenant context: push one with tenant_context(...)")
    return info


def get_tenant() -> TenantInfo | None:
    return _current.get()


def current_tenant_id() -> int:
    return current_tenant().id


def get_tenant_id() -> int | None:
    info = _current.get()
    return None if info is None else info.id


@contextmanager
def tenant_context(info: TenantInfo | None):
    """Push ``info`` (from :func:`core.features.tenant_info`) for the duration of the block."""
    token = _current.set(info)
    try:
        yield info
    finally:
        _current.reset(token)


def set_tenant(info: TenantInfo | None):
    """Set the context for the rest of the current request; returns the token to reset it."""
    return _current.set(info)


def reset_tenant(token) -> None:
    _current.reset(token)
