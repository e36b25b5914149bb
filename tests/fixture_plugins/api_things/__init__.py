"""A test-only plugin that exercises the generic REST API: one entity and one custom blueprint.

Everything a real plugin does to get ``/api/v1/api_things/things`` is here: a tenant-scoped model
with a version column, a marshmallow schema, an EntityType, permissions with default roles. The
blueprint adds custom endpoints under the plugin's API prefix that the generic routes must not shadow.
"""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, jsonify
from marshmallow import Schema, fields, validate
from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column

from core.api.fields import Money as MoneyField
from core.db import Money, TenantScoped, db
from core.plugins import Manifest, hookimpl
from core.registry import EntityType, Permission

manifest = Manifest(
    slug="api_things",
    version="0.1.0",
    title="API things (test fixture)",
    features={"api_things.use": "Things for API tests", "api_things.premium": "Premium things"},
)


class Thing(TenantScoped, db.Model):
    __tablename__ = "api_things_thing"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        Index(None, "tenant_id", "name"),
        # A rule only the database knows (not in the schema): lets tests fail a write half-way.
        CheckConstraint("price >= 0", name="price_not_negative"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="part")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class ThingSchema(Schema):
    id = fields.Int(dump_only=True)
    version = fields.Int(dump_only=True)
    code = fields.Str(required=True, validate=validate.Length(min=1, max=20))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.Str(load_default="part", validate=validate.OneOf(["part", "labour"]))
    active = fields.Bool(load_default=True)
    price = MoneyField(required=True)


@hookimpl
def register_models():
    return [Thing]


@hookimpl
def register_permissions():
    return [
        Permission("api_things.thing.read", "Read things", ("admin", "service_advisor", "technician")),
        Permission("api_things.thing.create", "Create things", ("admin", "service_advisor")),
        Permission("api_things.thing.update", "Edit things", ("admin", "service_advisor")),
        Permission("api_things.thing.delete", "Delete things", ("admin",)),
    ]


@hookimpl
def register_entities():
    return [
        EntityType(
            plugin="api_things", resource="things", model=Thing, schema=ThingSchema, title="Things",
            feature="api_things.use", permission_prefix="api_things.thing",
            search_fields=("name", "code"), filter_fields=("kind", "active", "code"),
            sort_fields=("id", "name", "price", "code"), list_columns=("code", "name", "price"),
        ),
        # The same table behind a second feature: the plugin is active, this resource is not.
        EntityType(
            plugin="api_things", resource="premium-things", model=Thing, schema=ThingSchema,
            title="Premium things", feature="api_things.premium", permission_prefix="api_things.thing",
        ),
    ]


bp = Blueprint("api_things_api", __name__, url_prefix="/api/v1/api_things")


@bp.get("/stats")
def stats():
    """Counts of things: a custom endpoint on the path the generic list route would also match."""
    return jsonify(count=db.session.scalar(select(func.count(Thing.id))))


@bp.get("/things/<int:thing_id>/summary")
def summary(thing_id: int):
    """A custom id-bearing endpoint: the cross-tenant matrix must cover it too."""
    thing = db.session.execute(select(Thing).where(Thing.id == thing_id)).scalar_one_or_none()
    if thing is None:
        return jsonify(error="not_found"), 404
    return jsonify(summary=f"{thing.code}: {thing.name}")


@bp.post("/things/check")
def check():
    """Validate a thing without saving it: errors escape as marshmallow or API errors."""
    from core.api import ApiError, json_body

    data = ThingSchema().load(json_body())  # a ValidationError becomes the usual 422
    if data["code"] == "TAKEN":
        raise ApiError(409, "taken", "This code is reserved")
    return jsonify(ok=True)


@hookimpl
def register_blueprints():
    return [bp]
