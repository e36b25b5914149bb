"""Tiers and features: what a tenant has, computed fresh for every request (no restart on change)."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .db import db
from .models import Tenant, Tier, TierFeature
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
