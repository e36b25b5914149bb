"""The core's own contributions, registered in the plugin manager under the name ``core``."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .audit import AuditLog, OperatorLog
from .models import Role, Tenant, TenantFeature, Tier, TierFeature, User
from .plugins import hookimpl
from .registry import MenuItem, Permission


@hookimpl
def register_models():
    return [Tier, TierFeature, Tenant, TenantFeature, Role, User, AuditLog, OperatorLog]


@hookimpl
def register_permissions():
    return [
        Permission("core.user.manage", _l("Manage users and roles"), ("owner", "admin")),
        Permission("core.settings.manage", _l("Edit tenant settings"), ("owner", "admin")),
        Permission("core.audit.read", _l("Read the audit log"), ("owner", "admin")),
    ]


@hookimpl
def menu_items(ctx):
    return [MenuItem("core.dashboard", _l("Dashboard"), "/", order=0)]


@hookimpl
def resolve_tenant(request):
    """Default resolver: the tenant of the authenticated user (session or API token)."""
    if current_user and current_user.is_authenticated:
        return current_user.tenant_slug
    return None


@hookimpl
def register_cli_commands(cli):
    from .cli import core_commands

    for command in core_commands():
        cli.add_command(command)
