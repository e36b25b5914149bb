"""Generic REST endpoints for every registered entity and document type (no code in the plugin).

One set of URL rules serves them all: ``/api/v1/<slug>/<resource>[/<id>[/...]]``. The rules use
converters, so Werkzeug's matcher ranks them below any rule with a static segment in the same place:
a plugin's own blueprint route (``/api/v1/crm/clients/merge``, ``/api/v1/crm/stats``) always wins.

Per request, in this order (nothing about a resource or an object leaks before the caller is known):
401 without a user -> 404 unless the resource exists, its plugin is active for the tenant and its
feature is enabled (identical to an unknown resource) -> 403 without ``<permission_prefix>.<verb>``
-> 404 for ids the tenant guard does not find (another tenant's ids look exactly like missing ones).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import RAISE, Schema, ValidationError
from sqlalchemy import String, event, func, inspect, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.functions import GenericFunction

from .. import audit
from ..db import db
from ..plugins import is_core
from .errors import ApiError, not_found, translate_errors, validation_error

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
LIST_PARAMS = frozenset({"page", "per_page", "sort", "q"})
# Audit actions that write a new version of an object (plugins' own audit rows do not).
SAVING_ACTIONS = ("create", "update", "transition", "void")


# --- the registry of API resources ----------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """An entity type or a document type as the API serves it."""

    slug: str  # URL segment: the plugin's slug ("core" for core subsystems)
    spec: Any  # core.registry.EntityType or core.documents.DocumentType
    is_document: bool = False

    @property
    def resource(self) -> str:
        return self.spec.resource

    @property
    def model(self):
        return self.spec.model

    @property
    def plugin(self) -> str:
        return self.spec.plugin

    @property
    def path(self) -> str:
        return f"/api/v1/{self.slug}/{self.resource}"

    @property
    def versioned(self) -> bool:
        return "version" in self.model.__table__.c

    @property
    def uses_version_id_col(self) -> bool:
        return inspect(self.model).version_id_col is not None

    def permission(self, verb: str) -> str:
        prefix = self.spec.permission_prefix
        if prefix is None:
            prefix = getattr(self.spec, "key", None) or f"{self.plugin}.{self.resource.replace('-', '_')}"
        return f"{prefix}.{verb}"

    def schema(self, **kwargs) -> Schema:
        return self.spec.schema(unknown=RAISE, **kwargs)

    def available_to(self, tenant) -> bool:
        if tenant is None:
            return False
        if not is_core(self.plugin) and self.plugin not in tenant.plugins:
            return False
        return tenant.has(self.spec.feature)


def build_resources(app) -> dict[tuple[str, str], Resource]:
    host = app.extensions["garage"]
    found: dict[tuple[str, str], Resource] = {}
    specs = [(e, False) for e in host.entities.values()]
    specs += [(d, True) for d in (getattr(host, "document_types", None) or {}).values()]
    for spec, is_document in specs:
        slug = "core" if is_core(spec.plugin) else spec.plugin
        key = (slug, spec.resource)
        if key in found:
            from ..plugins import PluginError

            raise PluginError(f"plugin {spec.plugin!r}: API resource /api/v1/{slug}/{spec.resource} is registered twice")
        found[key] = Resource(slug, spec, is_document)
    return found


def resources() -> dict[tuple[str, str], Resource]:
    ext = current_app.extensions
    if "garage_api_resources" not in ext:
        ext["garage_api_resources"] = build_resources(current_app)
    return ext["garage_api_resources"]


# --- request helpers ----------------------------------------------------------------------------


def require_user():
    if not (current_user and current_user.is_authenticated):
        raise ApiError(401, "unauthorized", _("Sign in or send an API token."))
    return current_user._get_current_object()


def resolve(slug: str, resource: str, verb: str) -> Resource:
    """The resource for this request, or 401/404/403 in the documented order."""
    user = require_user()
    res = resources().get((slug, resource))
    if res is None or not res.available_to(g.get("tenant")):
        raise not_found()
    if not user.can(res.permission(verb)):
        raise ApiError(403, "forbidden", _("You do not have permission to do this."), permission=res.permission(verb))
    return res


def json_body() -> dict:
    """The request's JSON object; numbers parse as Decimal (money is never a float). 400 otherwise."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, "bad_request", _("The request body must be a JSON object."))
    try:
        data = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", _("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", _("The request body must be a JSON object."))
    return data


def load(res: Resource, data: dict, *, partial: bool = False) -> dict:
    try:
        return res.schema().load(data, partial=partial)
    except ValidationError as err:
        raise validation_error(err.messages) from None


def dump(res: Resource, obj) -> dict:
    return res.schema().dump(obj)


def get_object(res: Resource, object_id: int, *, for_update: bool = False):
    """The object by id through the tenant guard (a plain SELECT: never the identity map)."""
    stmt = select(res.model).where(res.model.id == object_id)
    if for_update:
        stmt = stmt.with_for_update()
    obj = db.session.execute(stmt).scalar_one_or_none()
    if obj is None:
        raise not_found()
    return obj


def _int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < low or (high is not None and number > high):
        message = (_("Must be an integer from %(low)s to %(high)s.", low=low, high=high) if high
                   else _("Must be an integer of at least %(low)s.", low=low))
        raise ApiError(400, "bad_request", _("Bad query parameter."), fields={name: [message]})
    return number


# --- case-insensitive search that works on both databases ---------------------------------------


class casefold(GenericFunction):  # noqa: N801 - SQL function naming
    """lower() that folds Cyrillic too: SQLite's built-in lower() only knows ASCII."""

    type = String()
    inherit_cache = True


@compiles(casefold)
def _casefold_default(element, compiler, **kw):
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(casefold, "sqlite")
def _casefold_sqlite(element, compiler, **kw):
    return f"garage_lower({compiler.process(element.clauses, **kw)})"


@event.listens_for(Engine, "connect")
def _sqlite_lower(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.create_function(
            "garage_lower", 1, lambda s: s.lower() if isinstance(s, str) else s, deterministic=True)


def _like_prefix(text: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", text.lower()) + "%"


# --- list -------------------------------------------------------------------------------------------


def _filter_values(res: Resource, schema: Schema, name: str, raw: str) -> list:
    field = schema.fields.get(name)
    values = []
    errors = []
    for part in raw.split(","):
        part = part.strip()
        try:
            values.append(field.deserialize(part) if field is not None else part)
        except ValidationError as err:
            errors.extend(err.messages if isinstance(err.messages, list) else [err.messages])
    if errors:
        raise ApiError(400, "bad_request", _("Bad query parameter."), fields={name: translate_errors(errors)})
    return values


def _sort_clauses(res: Resource) -> list:
    raw = request.args.get("sort")
    pk = res.model.id
    if not raw:
        return [pk.asc()]
    clauses = []
    for part in raw.split(","):
        part = part.strip()
        desc = part.startswith("-")
        name = part.lstrip("-+")
        if name not in res.spec.sort_fields:
            raise ApiError(400, "bad_request", _("Bad query parameter."), fields={"sort": [
                _("Cannot sort by %(field)s; use one of: %(fields)s.", field=name,
                  fields=", ".join(res.spec.sort_fields))]})
        column = getattr(res.model, name)
        clauses.append(column.desc() if desc else column.asc())
    if raw.lstrip("-+") != "id":
        clauses.append(pk.asc())  # a stable order, so pages neither repeat nor skip rows
    return clauses


def list_objects(res: Resource) -> dict:
    allowed = LIST_PARAMS | set(res.spec.filter_fields)
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(400, "bad_request", _("Bad query parameter."),
                       fields={name: [_("Unknown parameter.")] for name in unknown})
    page = _int_arg("page", 1, 1)
    per_page = _int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    schema = res.schema()
    conditions = []
    for name in res.spec.filter_fields:
        if name in request.args:
            values = _filter_values(res, schema, name, request.args[name])
            column = getattr(res.model, name)
            conditions.append(column == values[0] if len(values) == 1 else column.in_(values))
    q = (request.args.get("q") or "").strip()
    if q and res.spec.search_fields:
        # Prefix match on each search field: served by an index on lower(field) (text_pattern_ops on
        # PostgreSQL) or by a normalised search column the plugin keeps.
        pattern = _like_prefix(q)
        conditions.append(or_(*(casefold(getattr(res.model, f)).like(pattern, escape="\\")
                                for f in res.spec.search_fields)))
    # count(<model column>), not count(*) FROM (subquery): the tenant guard only sees statements whose
    # columns belong to a tenant-scoped model.
    total = db.session.scalar(select(func.count(res.model.id)).where(*conditions))
    stmt = select(res.model).where(*conditions).order_by(*_sort_clauses(res))
    rows = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page))
    return {
        "items": [dump(res, obj) for obj in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": (total + per_page - 1) // per_page,
    }


# --- writes -------------------------------------------------------------------------------------


def _column_values(res: Resource, obj, names) -> dict:
    return {name: getattr(obj, name) for name in names if hasattr(obj, name)}


def _integrity_error(res: Resource, exc: IntegrityError) -> ApiError:
    """A unique key names its fields: 422 on them ("already exists"); anything else is a 409."""
    text = str(exc.orig)
    table = res.model.__table__
    for constraint in table.constraints:
        cols = [c.name for c in getattr(constraint, "columns", ()) if c.name != "tenant_id"]
        if not cols or not getattr(constraint, "name", None):
            continue
        is_unique = constraint.__class__.__name__ == "UniqueConstraint"
        sqlite_unique = "UNIQUE constraint failed: " + ", ".join(f"{table.name}.{c.name}" for c in constraint.columns)
        if is_unique and (str(constraint.name) in text or sqlite_unique in text):
            return validation_error({c: [_("Already exists.")] for c in cols})
    return ApiError(409, "conflict", _("The change conflicts with other data and was not saved."))


def _commit(res: Resource):
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise _integrity_error(res, exc) from None


def create_object(res: Resource, data: dict, user) -> Any:
    values = load(res, data)
    obj = res.model(**values)
    if res.versioned and not res.uses_version_id_col:
        obj.version = 1
    db.session.add(obj)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise _integrity_error(res, exc) from None
    audit.record("create", obj, changes=audit.diff({}, _column_values(res, obj, values)), user=user)
    _commit(res)
    return obj


def load_patch(res: Resource, data: dict) -> tuple[int | None, dict]:
    """``(version the client read, validated changes)`` of a PATCH body; every problem in one 422.

    The version is required for a versioned resource (a model with a ``version`` column)."""
    errors: dict = {}
    version = data.pop("version", None)
    if res.versioned:
        if version is None:
            errors["version"] = ["Missing data for required field."]
        elif isinstance(version, bool) or not isinstance(version, int):
            errors["version"] = ["Not a valid integer."]
    else:
        version = None
    try:
        values = res.schema().load(data, partial=True)
    except ValidationError as err:
        errors.update(err.messages if isinstance(err.messages, dict) else {"_schema": err.messages})
        values = {}
    if errors:
        raise validation_error(errors)
    return version, values


def changed_since(res: Resource, obj, version: int) -> list[str]:
    """Fields changed by the saves after ``version``, read back from the audit log."""
    from ..audit import AuditLog

    rows = db.session.execute(select(AuditLog.action, AuditLog.changes).where(
        AuditLog.object_type == res.model.__tablename__, AuditLog.object_id == obj.id,
        AuditLog.action.in_(SAVING_ACTIONS)).order_by(AuditLog.id))
    fields: set[str] = set()
    saves = 0  # rows without a "version" entry (documents engine): the n-th save after creation made n+1
    for _action, changes in rows:
        changes = changes or {}
        recorded = changes.get("version")
        before = recorded[0] if isinstance(recorded, list) and recorded else (saves or None)
        saves += 1
        if isinstance(before, int) and before >= version:
            fields.update(k for k in changes if k != "version")
    return sorted(fields)


def conflict(res: Resource, obj, version: int) -> ApiError:
    current = db.session.execute(select(res.model.version).where(res.model.id == obj.id)).scalar_one_or_none()
    return ApiError(409, "conflict",
                    _("Someone else saved this record since you read it (version %(current)s, yours is %(mine)s). "
                      "Reload it and apply your change again.", current=current, mine=version),
                    current_version=current, your_version=version, changed_fields=changed_since(res, obj, version))


def update_object(res: Resource, obj, data: dict, user) -> Any:
    version, values = load_patch(res, data)
    if version is not None and obj.version != version:
        raise conflict(res, obj, version)
    before = _column_values(res, obj, list(values) + (["version"] if res.versioned else []))
    for key, value in values.items():
        setattr(obj, key, value)
    changes = audit.diff({k: before[k] for k in values}, values)
    if not changes:
        return obj  # nothing changed: no write, no new version, no audit row
    if res.versioned and not res.uses_version_id_col:
        obj.version = (obj.version or 0) + 1
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise conflict(res, obj, version) from None
    except IntegrityError as exc:
        db.session.rollback()
        raise _integrity_error(res, exc) from None
    if res.versioned:
        changes["version"] = [before["version"], obj.version]
    audit.record("update", obj, changes=changes, user=user)
    _commit(res)
    return obj


def delete_object(res: Resource, obj, user) -> None:
    names = [c.key for c in inspect(res.model).column_attrs if c.key not in ("tenant_id",)]
    before = _column_values(res, obj, names)
    audit.record("delete", obj, changes=audit.diff(before, {}), user=user)
    db.session.delete(obj)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "in_use", _("This record is in use and cannot be deleted.")) from None
    _commit(res)

