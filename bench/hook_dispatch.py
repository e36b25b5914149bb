"""Hook dispatch overhead per request: what the plugin host adds to every request.

One "request" here is the plugin work the core does for a signed-in user's page:

1. ``resolve_tenant`` on the whole plugin manager (first result wins);
2. ``host.hooks_for(active_plugins)``: the tenant's proxy (``pm.subset_hook_caller`` without its
   disabled plugins), cached per set of disabled plugins;
3. ``collect_ui("menu_items")`` and ``collect_ui("dashboard_widgets")``: every implementation called
   separately (a failing one is dropped), filtered by feature and permission, sorted by ``order``;
4. ``validate_transition`` through the proxy (what a document transition asks first).

Scenarios: every plugin enabled for the tenant versus none (only the core's own implementations run),
with the 7 built-in plugins, the every_hook fixture plugin and ``SYNTHETIC`` more plugins that
implement those four hooks. Also measured once: building an uncached proxy. Figures are per request
in milliseconds, from ``time.perf_counter_ns`` over many iterations; target: under 0.2 ms.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
import types
from types import SimpleNamespace

ITERATIONS = 20_000
WARMUP = 2_000
SYNTHETIC = 4
TARGET_MS = 0.2


def _synthetic_plugin(n: int) -> str:
    """A plugin module implementing the per-request hooks, registered in sys.modules by name."""
    from core.plugins import Manifest, hookimpl
    from core.registry import MenuItem, Widget

    slug = f"bench_{n}"
    feature = f"{slug}.basic"
    module = types.ModuleType(f"_garage_bench_{slug}")
    module.__file__ = f"/nonexistent/{slug}/__init__.py"
    module.manifest = Manifest(slug=slug, version="1.0", title=slug, features={feature: slug})

    def menu_items(ctx):
        return [MenuItem(f"{slug}.list", slug, f"/{slug}/items", order=600 + n, feature=feature,
                         permission=f"{slug}.item.read"),
                MenuItem(f"{slug}.new", slug, f"/{slug}/items/new", order=601 + n, feature=feature)]

    def dashboard_widgets(ctx):
        return [Widget(f"{slug}.w", slug, lambda c: "", order=600 + n, feature=feature)]

    def resolve_tenant(request):
        return None

    def validate_transition(document, transition, actor):
        return None

    for fn in (menu_items, dashboard_widgets, resolve_tenant, validate_transition):
        setattr(module, fn.__name__, hookimpl(fn))
    sys.modules[module.__name__] = module
    return module.__name__


class _Everyone:
    """A signed-in user who may do everything (permission checks still run)."""

    is_authenticated = True

    def can(self, permission):
        return True


def _percentile(sorted_values: list[int], fraction: float) -> int:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def measure(app, active: frozenset[str], features: frozenset[str], iterations: int = ITERATIONS) -> dict:
    from flask import g, request

    from core.registry import UIContext
    from core.tenancy import TenantInfo
    from core.web import collect_ui

    host = app.extensions["garage"]
    info = TenantInfo(id=1, slug="bench", tier="bench", features=features, plugins=active)
    document = SimpleNamespace(id=1, tenant_id=1, state="open", __tablename__="bench_document")
    transition = SimpleNamespace(name="finish", source=("open",), target="done")
    user = _Everyone()
    samples: list[int] = []
    menu_count = widget_count = 0
    with app.test_request_context("/"):
        ctx = UIContext(tenant=info, user=user, path="/")
        resolve = host.pm.hook.resolve_tenant
        perf = time.perf_counter_ns
        for i in range(WARMUP + iterations):
            start = perf()
            resolve(request=request)
            hooks = g.hooks = host.hooks_for(active)
            menu = collect_ui("menu_items", ctx)
            widgets = collect_ui("dashboard_widgets", ctx)
            hooks.validate_transition(document=document, transition=transition, actor=user)
            elapsed = perf() - start
            if i >= WARMUP:
                samples.append(elapsed)
        menu_count, widget_count = len(menu), len(widgets)
    samples.sort()
    return {
        "median_ms": statistics.median(samples) / 1e6,
        "p95_ms": _percentile(samples, 0.95) / 1e6,
        "mean_ms": statistics.fmean(samples) / 1e6,
        "menu_items": menu_count,
        "widgets": widget_count,
        "implementations": len(host.hooks_for(active).menu_items.get_hookimpls()),
    }


def uncached_proxy_ms(app, active: frozenset[str], rounds: int = 200) -> float:
    """Building a proxy and its four callers from scratch (what a cache miss costs)."""
    from core.plugins import TenantHooks

    host = app.extensions["garage"]
    disabled = frozenset(s for s in host.plugins if s not in active)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        proxy = TenantHooks(host.pm, disabled)
        for name in ("menu_items", "dashboard_widgets", "validate_transition"):
            getattr(proxy, name)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1e6


def build_app(tmp: str):
    from core import create_app

    extra = {"every_hook": "tests.fixture_plugins.every_hook"}
    extra.update({f"bench_{n}": _synthetic_plugin(n) for n in range(SYNTHETIC)})
    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "INSTANCE_PATH": tmp,
                       "SECRET_KEY": "bench", "GARAGE_EXTRA_PLUGINS": extra})


def main() -> int:
    import logging

    logging.disable(logging.CRITICAL)  # a contribution dropped in the loop must not flood the output
    from tests.fixture_plugins import every_hook

    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(tmp)
        host = app.extensions["garage"]
        everything = frozenset(host.plugins)
        all_features = frozenset(f for p in host.plugins.values() for f in p.manifest.features)
        all_features |= {"core.access_rights", "core.dashboard"}
        print(f"Hook dispatch per request: {len(host.plugins)} plugins loaded "
              f"({', '.join(host.plugins)}), {ITERATIONS} iterations, Python {sys.version.split()[0]}")
        print("request = resolve_tenant + tenant proxy (cached) + menu_items + dashboard_widgets "
              "(collect, filter, sort) + validate_transition")
        rows = [("all plugins enabled", measure(app, everything, all_features)),
                ("no plugin enabled (core only)", measure(app, frozenset(), frozenset()))]
        every_hook.CALLS.clear()  # the fixture plugin records its calls; do not keep 20,000 of them
        print(f"{'scenario':32} {'median ms':>10} {'p95 ms':>10} {'mean ms':>10} {'menu':>5} {'widgets':>8} {'impls':>6}")
        for name, r in rows:
            print(f"{name:32} {r['median_ms']:10.4f} {r['p95_ms']:10.4f} {r['mean_ms']:10.4f} "
                  f"{r['menu_items']:5d} {r['widgets']:8d} {r['implementations']:6d}")
        overhead = rows[0][1]["median_ms"] - rows[1][1]["median_ms"]
        print(f"plugins' share (median, all - none): {overhead:.4f} ms")
        print(f"uncached proxy build (cache miss, median): {uncached_proxy_ms(app, everything):.4f} ms")
        worst = max(r["p95_ms"] for _n, r in rows)
        verdict = "OK" if worst < TARGET_MS else "OVER TARGET"
        print(f"target: p95 under {TARGET_MS} ms per request -> {verdict} (worst p95 {worst:.4f} ms)")
        with app.app_context():
            from core.db import db

            db.engine.dispose()
    return 0
