"""Core tables: tiers, tenants and their features, roles and users."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Money, TenantScoped, db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Tier(db.Model):
    """A subscription tier: a named set of features. Data, edited by the operator, not code."""

    __tablename__ = "core_tier"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    features: Mapped[list["TierFeature"]] = relationship(
        back_populates="tier", cascade="all, delete-orphan", order_by="TierFeature.feature"
    )

    @property
    def feature_keys(self) -> frozenset[str]:
        return frozenset(f.feature for f in self.features)


class TierFeature(db.Model):
    __tablename__ = "core_tier_feature"
    tier_id: Mapped[int] = mapped_column(ForeignKey("core_tier.id", ondelete="CASCADE"), primary_key=True)
    feature: Mapped[str] = mapped_column(String(80), primary_key=True)
    tier: Mapped[Tier] = relationship(back_populates="features")


class Tenant(db.Model):
    """A shop (or a network of shops) that subscribes to a tier."""

    __tablename__ = "core_tenant"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier_id: Mapped[int] = mapped_column(ForeignKey("core_tier.id", ondelete="RESTRICT"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    language: Mapped[str] = mapped_column(String(8), default="ru")
    # none: prices carry no VAT; included: prices include VAT; on_top: VAT is added to prices.
    vat_mode: Mapped[str] = mapped_column(String(10), default="none")
    # Percent with two decimals, stored exactly like money (20.00 -> 2000).
    vat_rate: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    requisites: Mapped[dict] = mapped_column(JSON, default=dict)
    plugin_settings: Mapped[dict] = mapped_column(JSON, default=dict)
    # The shop's logo in the core file store (core.branding); None: no logo.
    logo_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tier: Mapped[Tier] = relationship(lazy="joined")
    feature_overrides: Mapped[list["TenantFeature"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class TenantFeature(db.Model):
    """An operator's per-tenant add-on (granted=True) or removal (granted=False) of one feature."""

    __tablename__ = "core_tenant_feature"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("core_tenant.id", ondelete="CASCADE"), primary_key=True)
    feature: Mapped[str] = mapped_column(String(80), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)


class Role(TenantScoped, db.Model):
    __tablename__ = "core_role"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    permissions: Mapped[list] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class User(TenantScoped, db.Model):
    __tablename__ = "core_user"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role_id: Mapped[int] = mapped_column(ForeignKey("core_role.id", ondelete="RESTRICT"))
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    role: Mapped[Role] = relationship(lazy="joined")
    tenant: Mapped[Tenant] = relationship(lazy="joined")

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    @property
    def tenant_slug(self) -> str:
        return self.tenant.slug

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(self.role.permissions or ())

    def can(self, permission: str | None) -> bool:
        if permission is None:
            return True
        perms = self.permissions
        return "*" in perms or permission in perms
