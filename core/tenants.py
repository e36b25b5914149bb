"""Operator services: tenants, tiers, feature grants and default roles. Each is one transaction."""
from __future__ import annotations

import re

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from . import audit
from .db import db
from .features import closure_problems, enabled_features, known_features, tenant_info
from .models import Role, Tenant, TenantFeature, Tier, TierFeature, User
from .tenancy import tenant_context

TENANT_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# Default roles (issue: owner, admin, service advisor, technician, cashier, accountant). The owner
# holds every permission; the others get what plugins list in Permission.default_roles.
DEFAULT_ROLES = {
    "owner": _l("Owner"),
    "admin": _l("Administrator"),
    "service_advisor": _l("Service advisor"),
    "technician": _l("Technician"),
    "cashier": _l("Cashier"),
    "accountant": _l("Accountant"),
}


class OperatorError(ValueError):
    """A bad operator request; the message says what is wrong. Nothing has been written."""


def _host():
    return current_app.extensions["garage"]


def get_tenant(slug: str) -> Tenant:
    tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    if tenant is None:
        raise OperatorError(f"no tenant {slug!r}")
    return tenant


def get_tier(key: str) -> Tier:
    tier = db.session.execute(select(Tier).where(Tier.key == key)).scalar_one_or_none()
    if tier is None:
        keys = ", ".join(db.session.scalars(select(Tier.key).order_by(Tier.position)))
        raise OperatorError(f"no tier {key!r} (tiers: {keys})")
    return tier


def default_role_permissions() -> dict[str, list[str]]:
    perms: dict[str, list[str]] = {key: [] for key in DEFAULT_ROLES}
    perms["owner"] = ["*"]
    for perm in _host().permissions.values():
        for role in perm.default_roles:
            if role != "owner":
                perms.setdefault(role, []).append(perm.code)
    return {k: sorted(set(v)) for k, v in perms.items()}


def sync_default_roles(tenant: Tenant) -> None:
    """Create the built-in roles, and give them permissions plugins added since (idempotent)."""
    with tenant_context(tenant_info(tenant)):
        existing = {r.key: r for r in db.session.scalars(select(Role))}
        for key, perms in default_role_permissions().items():
            role = existing.get(key)
            if role is None:
                db.session.add(Role(tenant_id=tenant.id, key=key, title=str(DEFAULT_ROLES.get(key, key)),
                                    permissions=perms, builtin=True))
            elif role.builtin:
                role.permissions = sorted(set(role.permissions or []) | set(perms))


def _apply_plugin_changes(tenant: Tenant, before: frozenset[str]) -> None:
    """Call the tenant lifecycle hooks for plugins that became active or inactive."""
    host = _host()
    db.session.flush()
    db.session.refresh(tenant)
    info = tenant_info(tenant)
    after = info.plugins
    with tenant_context(info):
        for slug in sorted(before - after):
            host.hooks_for(before).tenant_plugin_disabled(tenant=tenant, slug=slug)
        for slug in [s for s in host.order if s in after - before]:
            host.hooks_for(after).tenant_plugin_enabled(tenant=tenant, slug=slug)
        if after != before:
            audit.record("plugins", tenant, actor="operator", object_type="core_tenant",
                         changes={"plugins": [sorted(before), sorted(after)]})


def create_tenant(slug: str, name: str, tier_key: str, **settings) -> Tenant:
    if not TENANT_SLUG_RE.match(slug or ""):
        raise OperatorError(f"tenant slug {slug!r}: use lower-case letters, digits and '-' (1-63 characters)")
    if not (name or "").strip():
        raise OperatorError("tenant name must not be empty")
    if db.session.execute(select(Tenant.id).where(Tenant.slug == slug)).first():
        raise OperatorError(f"tenant {slug!r} already exists")
    tier = get_tier(tier_key)
    tenant = Tenant(slug=slug, name=name.strip(), tier=tier, requisites={}, plugin_settings={}, **settings)
    db.session.add(tenant)
    db.session.flush()
    sync_default_roles(tenant)
    with tenant_context(tenant_info(tenant)):
        audit.record("create", tenant, actor="operator", changes={"slug": [None, slug], "tier": [None, tier.key]})
    _apply_plugin_changes(tenant, frozenset())
    return tenant


def set_tier(tenant: Tenant, tier_key: str) -> None:
    tier = get_tier(tier_key)
    before = tenant_info(tenant)
    old = tenant.tier.key
    tenant.tier = tier
    db.session.flush()
    db.session.refresh(tenant)
    problems = closure_problems(enabled_features(tenant))
    if problems:
        raise OperatorError(f"tier {tier.key!r} with this tenant's grants: " + "; ".join(problems))
    with tenant_context(before):
        audit.record("tier", tenant, actor="operator", changes={"tier": [old, tier.key]})
    _apply_plugin_changes(tenant, before.plugins)


def set_feature(tenant: Tenant, feature: str, granted: bool) -> None:
    if feature not in known_features():
        raise OperatorError(f"unknown feature {feature!r}")
    before = tenant_info(tenant)
    overrides = {o.feature: o for o in tenant.feature_overrides}
    tier_has = feature in tenant.tier.feature_keys
    if granted == tier_has:
        if feature in overrides:  # back to what the tier says
            tenant.feature_overrides.remove(overrides[feature])
    elif feature in overrides:
        overrides[feature].granted = granted
    else:
        tenant.feature_overrides.append(TenantFeature(feature=feature, granted=granted))
    db.session.flush()
    db.session.refresh(tenant)
    problems = closure_problems(enabled_features(tenant))
    if problems:
        raise OperatorError("; ".join(problems))
    with tenant_context(before):
        audit.record("grant" if granted else "revoke", tenant, actor="operator",
                     changes={"feature": [None if granted else feature, feature if granted else None]})
    _apply_plugin_changes(tenant, before.plugins)


def set_tier_features(tier: Tier, features: set[str]) -> None:
    unknown = sorted(set(features) - set(known_features()))
    if unknown:
        raise OperatorError(f"unknown feature(s): {', '.join(unknown)}")
    problems = closure_problems(frozenset(features))
    if problems:
        raise OperatorError(f"tier {tier.key!r}: " + "; ".join(problems))
    old = sorted(tier.feature_keys)
    current = {f.feature: f for f in tier.features}
    for key in set(current) - set(features):
        tier.features.remove(current[key])
    for key in sorted(set(features) - set(current)):
        tier.features.append(TierFeature(feature=key))
    audit.record_operator("tier", "core_tier", tier.key, {"features": [old, sorted(features)]})


def create_user(tenant: Tenant, email: str, role_key: str, password: str | None = None, name: str = "") -> User:
    from .security import hash_password, validate_email

    email = validate_email(email)
    with tenant_context(tenant_info(tenant)):
        role = db.session.execute(select(Role).where(Role.key == role_key)).scalar_one_or_none()
        if role is None:
            keys = ", ".join(db.session.scalars(select(Role.key).order_by(Role.key)))
            raise OperatorError(f"no role {role_key!r} in tenant {tenant.slug!r} (roles: {keys})")
        if db.session.execute(select(User.id).where(User.email == email)).first():
            raise OperatorError(f"user {email!r} already exists in tenant {tenant.slug!r}")
        user = User(tenant_id=tenant.id, email=email, name=name, role=role,
                    password_hash=hash_password(password) if password else None)
        db.session.add(user)
        db.session.flush()
        audit.record("create", user, actor="operator", changes={"email": [None, email], "role": [None, role_key]})
    return user
