"""Tiers and features: what a tenant has, computed fresh for every request (no restart on change)."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, bindparam, cast, null, select

from .db import db
from .models import Tenant, TenantFeature, Tier, TierFeature
from .tenancy import TenantInfo

CORE_FEATURES = {
    "core.access_rights": _l("Roles and access rights beyond the owner"),
    "core.dashboard": _l("Key figures online: operations, profit, employees"),
}

# The default catalog (PRODUCT.md, seed 001). Tiers are data: `garage db upgrade` seeds the tiers that
# do not exist yet and never overwrites the operator's edits.
DEFAULT_TIERS: list[tuple[str, str, list[str]]] = []
_FREE = ["planner.online_booking", "planner.basic"]
_BASIC = _FREE + ["planner.quick", "crm.clients"]
_SPECIALIST = _BASIC + [
    "planner.advanced", "workshop.documents", "finance.accounting", "core.access_rights", "core.dashboard",
]
_MASTER = _SPECIALIST + [
    "crm.basic", "workshop.norms", "workshop.staff", "warehouse.stock", "warehouse.catalog", "finance.vat",
]
_PROFI = _MASTER + ["crm.advanced", "connector_1c.backup", "connector_1c.sync", "fleet.network", "fleet.fleets"]
DEFAULT_TIERS = [
    ("free", "Free", _FREE),
    ("basic", "Basic", _BASIC),
    ("specialist", "Specialist", _SPECIALIST),
    ("master", "Master", _MASTER),
    ("profi", "Profi", _PROFI),
]


def host():
    return current_app.extensions["garage"]


def enabled_features(tenant: Tenant) -> frozenset[str]:
    features = set(tenant.tier.feature_keys)
    for override in tenant.feature_overrides:
        if override.granted:
            features.add(override.feature)
        else:
            features.discard(override.feature)
    return frozenset(features)


def tenant_info(tenant: Tenant) -> TenantInfo:
    features = enabled_features(tenant)
    return TenantInfo(
        id=tenant.id,
        slug=tenant.slug,
        tier=tenant.tier.key,
        features=features,
        plugins=host().active_plugins(features),
    )


_INFO_CACHE_MAX = 4096
_features_statement = None


def request_tenant_info(tenant: Tenant) -> TenantInfo:
    """:func:`tenant_info` for a request's set-up, from the database as it is now: the tier's features
    and the tenant's overrides in one Core statement (no ORM objects), instead of two relationship loads.

    The result is memoised keyed by exactly what it is computed from (tenant id, slug, tier key, the
    feature rows just read), so a tier or grant changed by anyone, in any process, gives a new key on the
    next request: the cache can only save the work of building the object, never serve stale features.
    Only for a tenant as stored (no pending in-session changes), which is what a request starts with.
    """
    global _features_statement
    if _features_statement is None:  # built once: constructing it cost more than running it
        tf, ov = TierFeature.__table__, TenantFeature.__table__
        _features_statement = (
            select(tf.c.feature, cast(null(), Boolean).label("granted")).where(tf.c.tier_id == bindparam("tier_id"))
            .union_all(select(ov.c.feature, ov.c.granted).where(ov.c.tenant_id == bindparam("tenant_id"))))
    rows = db.session.execute(_features_statement, {"tier_id": tenant.tier_id, "tenant_id": tenant.id}).all()
    key = (tenant.id, tenant.slug, tenant.tier.key, frozenset((r[0], r[1]) for r in rows))
    cache = host().tenant_info_cache  # per app: which plugins a feature set activates depends on the app
    info = cache.get(key)
    if info is None:
        features = {r[0] for r in rows if r[1] is None}
        for feature, granted in rows:  # overrides after the tier's features, as enabled_features does
            if granted is None:
                continue
            if granted:
                features.add(feature)
            else:
                features.discard(feature)
        features = frozenset(features)
        info = TenantInfo(id=tenant.id, slug=tenant.slug, tier=tenant.tier.key, features=features,
                          plugins=host().active_plugins(features))
        if len(cache) >= _INFO_CACHE_MAX:
            cache.clear()
        cache[key] = info
    return info


def known_features() -> dict[str, object]:
    """Every feature the loaded plugins (and the core) provide, with its description."""
    out = dict(CORE_FEATURES)
    for plugin in host().plugins.values():
        out.update(plugin.manifest.features)
    return out


def closure_problems(features: frozenset[str] | set[str]) -> list[str]:
    """Why a set of features is not closed under ``requires`` (empty when it is)."""
    h = host()
    active = h.active_plugins(features)
    problems = []
    for slug in sorted(active):
        for req in h.plugins[slug].manifest.requires:
            if req not in active:
                problems.append(f"{slug} requires {req}, and none of {req}'s features is included")
    return problems


def ensure_default_tiers() -> list[str]:
    """Create the default tiers that are missing; return the keys created."""
    created = []
    existing = set(db.session.scalars(select(Tier.key)))
    for position, (key, title, features) in enumerate(DEFAULT_TIERS):
        if key in existing:
            continue
        tier = Tier(key=key, title=title, position=position)
        tier.features = [TierFeature(feature=f) for f in sorted(set(features))]
        db.session.add(tier)
        created.append(key)
    return created
