"""The plugin host: discovery, manifests, startup validation and per-tenant hook proxies."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from . import hookspecs

log = logging.getLogger(__name__)

CORE_API_VERSION = "1.0"
ENTRY_POINT_GROUP = "garage.plugins"
PROJECT = "garage"
SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")

hookimpl = pluggy.HookimplMarker(PROJECT)


class PluginError(RuntimeError):
    """A plugin cannot be loaded; the message names the plugin."""


@dataclass(frozen=True)
class Manifest:
    """What a plugin declares about itself. ``slug`` is its identity everywhere (see ARCHITECTURE.md)."""

    slug: str
    version: str
    title: Any  # lazy_gettext string
    features: dict[str, Any] = field(default_factory=dict)  # "slug.key" -> description
    requires: tuple[str, ...] = ()
    core_api: str = ">=1.0,<2"
    settings_schema: type | None = None  # marshmallow Schema for per-tenant settings
    description: Any = ""

    @property
    def table_prefix(self) -> str:
        return f"{self.slug}_"

    @property
    def url_prefixes(self) -> tuple[str, str]:
        return (f"/{self.slug}", f"/api/v1/{self.slug}")


@dataclass
class LoadedPlugin:
    manifest: Manifest
    module: ModuleType
    dist: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.module.__file__).parent

    @property
    def migrations_dir(self) -> Path | None:
        d = self.path / "migrations" / "versions"
        return d if d.is_dir() else None


# The core is itself a plugin of the manager (it contributes models, menus, permissions, widgets) and
# is never disabled. Each core subsystem registers as "core" or "core.<part>".
CORE_SLUG = "core"
CORE_MODULES = (
    "core.builtin",
    "core.documents",
    "core.jobs",
    "core.auth",
    "core.api",
    "core.ui",
)


def is_core(plugin_name: str) -> bool:
    return plugin_name == CORE_SLUG or plugin_name.startswith(CORE_SLUG + ".")


def discover(allow: Iterable[str] | None = None, block: Iterable[str] = (),
             extra: dict[str, str] | None = None) -> list[tuple[str, ModuleType, str | None]]:
    """Load entry points of group ``garage.plugins``, honouring the allow and block lists.

    ``extra`` maps more plugin names to module paths, loaded exactly like entry points; tests use it
    to load fixture plugins that are not installed as distributions.
    """
    from importlib.metadata import EntryPoint

    allow_set = None if allow is None else {s.strip() for s in allow if s.strip()}
    block_set = {s.strip() for s in block if s.strip()}
    found: dict[str, tuple[str, ModuleType, str | None]] = {}
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    eps += [EntryPoint(name=n, value=v, group=ENTRY_POINT_GROUP) for n, v in (extra or {}).items()]
    for ep in eps:
        if allow_set is not None and ep.name not in allow_set and ep.name not in (extra or {}):
            continue
        if ep.name in block_set:
            continue
        if ep.name in found:
            raise PluginError(f"plugin {ep.name!r}: two installed distributions provide this entry point")
        try:
            module = ep.load()
        except Exception as exc:  # noqa: BLE001 - report which plugin failed to import, then stop
            raise PluginError(f"plugin {ep.name!r}: cannot be imported: {exc}") from exc
        found[ep.name] = (ep.name, module, ep.dist.name if getattr(ep, "dist", None) else None)
    if allow_set is not None:
        missing = allow_set - set(found) - {CORE_SLUG}
        if missing:
            raise PluginError(f"GARAGE_PLUGINS names plugins that are not installed: {', '.join(sorted(missing))}")
    return [found[k] for k in sorted(found)]


def validate_manifest(name: str, module: ModuleType) -> Manifest:
    manifest = getattr(module, "manifest", None)
    if not isinstance(manifest, Manifest):
        raise PluginError(f"plugin {name!r}: module {module.__name__} has no `manifest` (core.plugins.Manifest)")
    if manifest.slug != name:
        raise PluginError(f"plugin {name!r}: manifest slug {manifest.slug!r} differs from the entry-point name")
    if not SLUG_RE.match(manifest.slug) or manifest.slug == CORE_SLUG:
        raise PluginError(f"plugin {name!r}: slug must be lower-case letters, digits and '_' (not 'core')")
    try:
        spec = SpecifierSet(manifest.core_api)
    except InvalidSpecifier as exc:
        raise PluginError(f"plugin {name!r}: core_api {manifest.core_api!r} is not a version range") from exc
    if Version(CORE_API_VERSION) not in spec:
        raise PluginError(
            f"plugin {name!r}: supports core API {manifest.core_api}, this core provides {CORE_API_VERSION}"
        )
    for key in manifest.features:
        if not key.startswith(f"{manifest.slug}."):
            raise PluginError(f"plugin {name!r}: feature {key!r} must start with {manifest.slug!r}.")
    return manifest


def order_by_requires(plugins: dict[str, LoadedPlugin]) -> list[str]:
    """Topological order along ``requires``; fails on a missing or cyclic requirement."""
    for slug, p in plugins.items():
        for req in p.manifest.requires:
            if req not in plugins:
                raise PluginError(f"plugin {slug!r}: requires {req!r}, which is not loaded")
    ordered: list[str] = []
    state: dict[str, int] = {}

    def visit(slug: str, chain: list[str]) -> None:
        if state.get(slug) == 2:
            return
        if state.get(slug) == 1:
            cycle = " -> ".join(chain[chain.index(slug):] + [slug])
            raise PluginError(f"plugin {slug!r}: cyclic requires: {cycle}")
        state[slug] = 1
        for req in plugins[slug].manifest.requires:
            visit(req, chain + [slug])
        state[slug] = 2
        ordered.append(slug)

    for slug in sorted(plugins):
        visit(slug, [])
    return ordered


class PluginHost:
    """One per app (``app.extensions['garage']``): the pluggy manager and what plugins registered."""

    def __init__(self, plugins: dict[str, LoadedPlugin]):
        from importlib import import_module

        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        for module_name in CORE_MODULES:
            name = CORE_SLUG if module_name == "core.builtin" else module_name
            self.pm.register(import_module(module_name), name=name)
        self.order = order_by_requires(plugins)
        self.plugins = {slug: plugins[slug] for slug in self.order}
        for slug in self.order:
            # A plugin may define hooks of its own for others to implement (e.g. the CRM's service
            # book): a `hookspecs` attribute (module or class) on the plugin module.
            own_specs = getattr(self.plugins[slug].module, "hookspecs", None)
            if own_specs is not None:
                self.pm.add_hookspecs(own_specs)
        for slug in self.order:
            self.pm.register(self.plugins[slug].module, name=slug)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            # pluggy's error carries the plugin object; name it by its registered name (the slug).
            name = self.pm.get_name(exc.plugin) or getattr(exc.plugin, "__name__", repr(exc.plugin))
            raise PluginError(f"plugin {name!r}: {exc}") from exc
        self._proxies: dict[frozenset[str], TenantHooks] = {}
        # Per-request caches keyed by what their values are computed from (never stale, see
        # core.features.request_tenant_info): active plugins -> proxy, tenant data -> TenantInfo.
        self._proxy_by_active: dict[frozenset[str], TenantHooks] = {}
        self.tenant_info_cache: dict[tuple, Any] = {}
        self.feature_owner: dict[str, str] = {}
        for slug in self.order:
            for key in self.plugins[slug].manifest.features:
                self.feature_owner[key] = slug

    # -- features ---------------------------------------------------------------------------------
    def plugin_of_feature(self, feature: str) -> str:
        return self.feature_owner.get(feature, feature.split(".", 1)[0])

    def active_plugins(self, features: Iterable[str]) -> frozenset[str]:
        owners = {self.feature_owner[f] for f in features if f in self.feature_owner}
        return frozenset(owners)

    # -- per-tenant hook proxies ------------------------------------------------------------------
    def hooks_for(self, active: frozenset[str]) -> "TenantHooks":
        # Every request asks: skip computing the disabled set (only for a frozenset: a set is unhashable).
        proxy = self._proxy_by_active.get(active) if isinstance(active, frozenset) else None
        if proxy is not None:
            return proxy
        disabled = frozenset(s for s in self.plugins if s not in active)
        proxy = self._proxies.get(disabled)
        if proxy is None:
            proxy = self._proxies[disabled] = TenantHooks(self.pm, disabled)
        if isinstance(active, frozenset):
            self._proxy_by_active[active] = proxy
        return proxy

    def call_all(self, name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call an assembly hook on every plugin; results paired with the plugin's name."""
        return _call_each(getattr(self.pm.hook, name), kwargs, isolate=False)


class TenantHooks:
    """The hooks as one tenant sees them: ``pm.subset_hook_caller`` without its disabled plugins."""

    def __init__(self, pm: pluggy.PluginManager, disabled: frozenset[str]):
        self._pm = pm
        self.disabled = disabled
        self._remove = [pm.get_plugin(s) for s in disabled if pm.get_plugin(s) is not None]
        self._callers: dict[str, Any] = {}

    def __getattr__(self, name: str):
        caller = self._callers.get(name)
        if caller is None:
            if not hasattr(self._pm.hook, name):
                raise AttributeError(name)
            caller = self._callers[name] = self._pm.subset_hook_caller(name, remove_plugins=self._remove)
        return caller

    def collect(self, name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call every implementation separately; one that raises is logged and dropped (UI hooks)."""
        return _call_each(getattr(self, name), kwargs, isolate=True)


def _call_each(caller, kwargs: dict, *, isolate: bool) -> list[tuple[str, Any]]:
    results = []
    for impl in reversed(caller.get_hookimpls()):
        args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
        try:
            value = impl.function(**args)
        except Exception:  # noqa: BLE001 - a broken contribution must not take the page down
            if not isolate:
                raise
            log.exception("plugin %r failed in hook %s; its contribution is dropped", impl.plugin_name, caller.name)
            continue
        if value is not None:
            results.append((impl.plugin_name, value))
    return results


def flatten(results: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``[(plugin, [a, b]), (plugin2, c)]`` -> ``[(plugin, a), (plugin, b), (plugin2, c)]``."""
    out = []
    for plugin, value in results:
        if isinstance(value, (list, tuple)):
            out.extend((plugin, v) for v in value)
        else:
            out.append((plugin, value))
    return out
