"""The application factory: builds one app with its own plugin manager (no import-time global state)."""
from __future__ import annotations

import logging

from flask import Flask

from . import config as config_module
from .db import TenantScoped, db
from .plugins import LoadedPlugin, PluginError, PluginHost, discover, flatten, is_core, validate_manifest

log = logging.getLogger(__name__)


def create_app(config: dict | None = None) -> Flask:
    cfg = config_module.load(config)
    app = Flask("core", instance_path=cfg["INSTANCE_PATH"], instance_relative_config=True)
    app.config.update(cfg)

    db.init_app(app)
    from . import i18n

    i18n.init_app(app)

    loaded = {}
    for name, module, dist in discover(
        app.config["GARAGE_PLUGINS"], app.config["GARAGE_DISABLED_PLUGINS"], app.config.get("GARAGE_EXTRA_PLUGINS")
    ):
        loaded[name] = LoadedPlugin(validate_manifest(name, module), module, dist)
    host = PluginHost(loaded)
    app.extensions["garage"] = host

    _assemble(app, host)

    # Core subsystems, in order: request plumbing first (tenant, auth), then what builds on it.
    from . import api, auth, documents, jobs, ui, web

    for subsystem in (web, auth, documents, jobs, api, ui):
        subsystem.init_app(app)
    _check_core_url_space(app, host)
    return app


def _check_core_url_space(app: Flask, host: PluginHost) -> None:
    """A plugin's ``/<slug>`` must not be a path the core itself serves (``/settings``, ``/api``,
    ``/login``...): its pages would shadow the core's, and slug ``api`` could claim every
    ``/api/v1/<other>`` prefix."""
    core_segments = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".", 1)[0] if "." in rule.endpoint else None
        if blueprint and host.blueprint_owner.get(blueprint, "core") != "core":
            continue
        first = rule.rule.lstrip("/").split("/", 1)[0]
        if first and "<" not in first:
            core_segments.add(first)
    for slug in host.order:
        if slug in core_segments:
            raise PluginError(f"plugin {slug!r}: its URL prefix /{slug} is already used by the core")


def _assemble(app: Flask, host: PluginHost) -> None:
    """Run the assembly hooks once and validate what the plugins registered."""
    host.tables = _check_tables(host)
    host.permissions = {}
    for plugin, perm in flatten(host.call_all("register_permissions")):
        if not is_core(plugin) and not perm.code.startswith(f"{plugin}."):
            raise PluginError(f"plugin {plugin!r}: permission {perm.code!r} must start with {plugin!r}.")
        if perm.code in host.permissions:
            raise PluginError(f"plugin {plugin!r}: permission {perm.code!r} is registered twice")
        host.permissions[perm.code] = perm
    host.entities = {}
    for plugin, entity in flatten(host.call_all("register_entities")):
        if entity.plugin != plugin:
            raise PluginError(f"plugin {plugin!r}: entity {entity.resource!r} claims plugin {entity.plugin!r}")
        key = (plugin, entity.resource)
        if key in host.entities:
            raise PluginError(f"plugin {plugin!r}: resource {entity.resource!r} is registered twice")
        host.entities[key] = entity
    host.reports = {}
    for plugin, report in flatten(host.call_all("register_reports")):
        if report.key in host.reports:
            raise PluginError(f"plugin {plugin!r}: report {report.key!r} is registered twice")
        host.reports[report.key] = (plugin, report)
    _register_blueprints(app, host)
    host.call_all("register_cli_commands", cli=app.cli)


def _check_tables(host: PluginHost) -> dict[str, str]:
    """Table name -> owning plugin; enforces the slug prefix, no clashes, tenant-leading indexes."""
    owners: dict[str, str] = {}
    for plugin, model in flatten(host.call_all("register_models")):
        table = model.__table__
        prefix = "core_" if is_core(plugin) else f"{plugin}_"
        if not table.name.startswith(prefix):
            raise PluginError(f"plugin {plugin!r}: table {table.name!r} must start with {prefix!r}")
        owner = "core" if is_core(plugin) else plugin
        if table.name in owners and owners[table.name] != owner:
            raise PluginError(f"plugin {plugin!r}: table {table.name!r} is already claimed by {owners[table.name]!r}")
        owners[table.name] = owner
        if issubclass(model, TenantScoped):
            _check_tenant_leading(plugin, table)
    return owners


def _check_tenant_leading(plugin: str, table) -> None:
    from sqlalchemy import UniqueConstraint

    keys = [(ix.name, list(ix.columns)) for ix in table.indexes]
    keys += [(c.name, list(c.columns)) for c in table.constraints if isinstance(c, UniqueConstraint)]
    for name, columns in keys:
        if columns and columns[0].name != "tenant_id":
            raise PluginError(
                f"plugin {plugin!r}: index or unique key {name or columns[0].name!r} on {table.name!r} "
                "must start with tenant_id"
            )


def _register_blueprints(app: Flask, host: PluginHost) -> None:
    """Every blueprint is registered at startup (Flask forbids it later) and gated per tenant."""
    host.blueprint_owner = {}
    claimed: dict[str, str] = {}
    for plugin, bp in flatten(host.call_all("register_blueprints")):
        prefix = bp.url_prefix or ""
        if not is_core(plugin):
            allowed = host.plugins[plugin].manifest.url_prefixes
            if not any(prefix == p or prefix.startswith(p + "/") for p in allowed):
                raise PluginError(
                    f"plugin {plugin!r}: blueprint {bp.name!r} url_prefix {prefix!r} must be under "
                    f"{' or '.join(allowed)}"
                )
        if prefix in claimed and claimed[prefix] != plugin:
            raise PluginError(f"plugin {plugin!r}: url prefix {prefix!r} is already claimed by {claimed[prefix]!r}")
        claimed[prefix] = plugin
        if bp.name in host.blueprint_owner:
            raise PluginError(f"plugin {plugin!r}: blueprint name {bp.name!r} is already registered")
        app.register_blueprint(bp)
        host.blueprint_owner[bp.name] = "core" if is_core(plugin) else plugin
