"""Value types that plugins return from hooks: permissions, entities, menus, reports, widgets."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Permission:
    code: str  # <slug>.<object>.<verb>
    title: Any  # lazy_gettext string
    default_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntityType:
    """A model that gets generic REST endpoints and UI pages under ``/<slug>/<resource>``."""

    plugin: str
    resource: str  # url segment, plural, kebab-case: "clients", "work-orders"
    model: type
    schema: type  # marshmallow Schema class
    title: Any
    feature: str | None = None
    permission_prefix: str | None = None  # "<slug>.<object>"; read/create/update/delete appended
    search_fields: tuple[str, ...] = ()
    filter_fields: tuple[str, ...] = ()
    sort_fields: tuple[str, ...] = ("id",)
    list_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class UIContext:
    """What a UI hook knows about the request: the tenant, the user and the current path."""

    tenant: Any  # core.tenancy.TenantInfo
    user: Any  # core.models.User or None
    path: str = "/"

    def can(self, permission: str | None) -> bool:
        return permission is None or (self.user is not None and self.user.can(permission))


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: Any
    url: str
    order: int = 500
    feature: str | None = None
    permission: str | None = None
    section: str | None = None
    icon: str | None = None


@dataclass(frozen=True)
class Widget:
    key: str
    title: Any
    render: Callable[[UIContext], str]
    order: int = 500
    feature: str | None = None
    permission: str | None = None


@dataclass(frozen=True)
class Action:
    key: str
    label: Any
    url: str
    order: int = 500
    method: str = "post"
    permission: str | None = None


@dataclass(frozen=True)
class Panel:
    key: str
    title: Any
    html: str
    order: int = 500


@dataclass(frozen=True)
class Report:
    key: str  # <slug>.<name>
    title: Any
    run: Callable[..., Any]
    order: int = 500
    feature: str | None = None
    permission: str | None = None
    params: dict = field(default_factory=dict)
