"""The OpenAPI 3 document, generated with apispec from the registered schemas and the URL map.

It describes the installation's whole API: every loaded plugin's resources and custom endpoints, the
core's endpoints. A tenant can call the part its tier includes (the rest answers 404). It holds no
tenant data, so it is served without authentication. Built once per language and cached.
"""
from __future__ import annotations

import re
from decimal import Decimal

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _

from ..plugins import CORE_API_VERSION, is_core
from . import resources as r
from .fields import Money

OPENAPI_VERSION = "3.0.3"
GENERIC_ENDPOINTS = frozenset({
    "core_api.collection", "core_api.item", "core_api.run_transition", "core_api.print_html",
    "core_api.print_pdf", "core_api.me", "core_api.openapi_json", "core_api_docs.healthz",
})
ERROR_RESPONSES = {
    "400": "BadRequest", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound",
    "409": "Conflict", "422": "ValidationFailed",
}
_RULE_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _camel(*parts: str) -> str:
    return "".join(p[:1].upper() + p[1:] for part in parts for p in re.split(r"[^A-Za-z0-9]+", part) if p)


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[:-6] if name.endswith("Schema") and len(name) > 6 else name


def build_spec() -> dict:
    cache = current_app.extensions.setdefault("garage_openapi", {})
    key = str(get_locale() or "en")
    if key not in cache:
        cache[key] = _plain(_build())
    return cache[key]


_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


def _plain(value):
    """JSON-ready and valid: validator bounds may come out as Decimal (``Range(min=Decimal("0"))``) or as
    strings (apispec serialises them, and defaults, with the field: ``Decimal(as_string=True)``); OpenAPI
    wants numbers there."""
    if isinstance(value, dict):
        out = {k: _plain(v) for k, v in value.items()}
        numeric = _BOUNDS | ({"default", "example"} if out.get("type") in ("number", "integer") else set())
        for key in numeric & out.keys():
            if isinstance(out[key], str):
                try:
                    out[key] = _plain(Decimal(out[key]))
                except ArithmeticError:
                    del out[key]
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _error_ref(code: str) -> dict:
    return {"$ref": f"#/components/responses/{ERROR_RESPONSES[code]}"}


def _build() -> dict:
    marshmallow = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="Garage ERP API", version=CORE_API_VERSION, openapi_version=OPENAPI_VERSION,
        plugins=[marshmallow],
        info={"description": _("The REST API of this Garage ERP installation: every installed plugin's "
                               "resources. A tenant can use the part its plan includes; the rest answers 404.")},
        servers=[{"url": "/"}],
        security=[{"bearerAuth": []}, {"cookieAuth": []}],
    )
    marshmallow.map_to_openapi_type(Money, "string", "decimal")
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                   "description": _("An API token from your profile page.")})
    spec.components.security_scheme("cookieAuth", {"type": "apiKey", "in": "cookie", "name": "session"})
    spec.components.schema("Error", {
        "type": "object", "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "example": "validation"},
            "message": {"type": "string"},
            "fields": {"type": "object", "description": _("Messages per field (validation errors)."),
                       "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "current_version": {"type": "integer", "description": _("Stale version: the current one.")},
            "changed_fields": {"type": "array", "items": {"type": "string"},
                               "description": _("Stale version: fields saved since your version.")},
        },
    })
    descriptions = {
        "BadRequest": _("Malformed JSON or a bad query parameter."),
        "Unauthorized": _("No session and no valid API token."),
        "Forbidden": _("Your role lacks the permission."),
        "NotFound": _("No such object for your tenant, or not in your plan."),
        "Conflict": _("A stale version (someone saved in between) or a state that forbids the change."),
        "ValidationFailed": _("Some fields are not valid; messages per field."),
    }
    for name, text in descriptions.items():
        spec.components.response(name, {"description": text, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})

    _core_paths(spec)
    schema_names: dict[type, str] = {}  # one component per schema class, even if two resources share it
    for res in sorted(r.resources().values(), key=lambda x: (x.slug, x.resource)):
        _resource_paths(spec, res, schema_names)
    _other_rules(spec)
    return spec.to_dict()


def _core_paths(spec: APISpec) -> None:
    spec.path("/healthz", operations={"get": {
        "tags": ["core"], "operationId": "healthz", "summary": _("Database reachability"), "security": [],
        "responses": {"200": {"description": _("The database answers.")},
                      "503": {"description": _("The database does not answer.")}}}})
    spec.path("/api/v1/me", operations={"get": {
        "tags": ["core"], "operationId": "me",
        "summary": _("The signed-in user, the tenant, its tier, features and plugins"),
        "responses": {"200": {"description": _("Who you are"), "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "user": {"type": "object"}, "tenant": {"type": "object"}, "tier": {"type": "string"},
                "features": {"type": "array", "items": {"type": "string"}},
                "plugins": {"type": "array", "items": {"type": "object"}}}}}}},
            "401": _error_ref("401")}}})
    spec.path("/api/v1/openapi.json", operations={"get": {
        "tags": ["core"], "operationId": "openapi", "summary": _("This document"), "security": [],
        "responses": {"200": {"description": _("The OpenAPI document")}}}})


def _resource_paths(spec: APISpec, res, schema_names: dict) -> None:
    name = schema_names.get(res.spec.schema)
    if name is None:
        name = schema_names[res.spec.schema] = _camel(res.slug) + _schema_name(res.spec.schema)
        spec.components.schema(name, schema=res.spec.schema)
    ref = {"$ref": f"#/components/schemas/{name}"}
    tag = res.slug
    op = f"{res.slug}_{res.resource}".replace("-", "_")
    title = str(res.spec.title)
    body = {"required": True, "content": {"application/json": {"schema": ref}}}
    one = {"description": title, "content": {"application/json": {"schema": ref}}}
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    list_params = [
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
        {"name": "per_page", "in": "query",
         "schema": {"type": "integer", "minimum": 1, "maximum": r.MAX_PER_PAGE, "default": r.DEFAULT_PER_PAGE}},
    ]
    if res.spec.sort_fields:
        list_params.append({"name": "sort", "in": "query", "schema": {"type": "string"},
                            "description": _("Comma-separated; '-' for descending. One of: %(fields)s",
                                             fields=", ".join(res.spec.sort_fields))})
    if res.spec.search_fields:
        list_params.append({"name": "q", "in": "query", "schema": {"type": "string"},
                            "description": _("Case-insensitive prefix search in: %(fields)s",
                                             fields=", ".join(res.spec.search_fields))})
    for field in res.spec.filter_fields:
        list_params.append({"name": field, "in": "query", "schema": {"type": "string"},
                            "description": _("Exact match; a comma-separated list matches any.")})
    page_schema = {"type": "object", "properties": {
        "items": {"type": "array", "items": ref}, "total": {"type": "integer"}, "page": {"type": "integer"},
        "per_page": {"type": "integer"}, "pages": {"type": "integer"}}}
    common = {k: _error_ref(k) for k in ("401", "403", "404")}
    spec.path(res.path, operations={
        "get": {"tags": [tag], "operationId": f"{op}_list", "summary": _("List: %(title)s", title=title),
                "parameters": list_params,
                "responses": {"200": {"description": title, "content": {"application/json": {"schema": page_schema}}},
                              "400": _error_ref("400"), **common}},
        "post": {"tags": [tag], "operationId": f"{op}_create", "summary": _("Create: %(title)s", title=title),
                 "requestBody": body,
                 "responses": {"201": one, "400": _error_ref("400"), **common, "422": _error_ref("422")}},
    })
    patch_body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "description": _("The fields to change, plus the version you read."),
        **({"required": ["version"], "properties": {"version": {"type": "integer"}}} if res.versioned else {}),
        "additionalProperties": True}}}}
    if res.is_document:
        delete = {"tags": [tag], "operationId": f"{op}_void", "summary": _("Void (documents are never deleted)"),
                  "requestBody": {"required": True, "content": {"application/json": {"schema": {
                      "type": "object", "required": ["reason"],
                      "properties": {"reason": {"type": "string"}, "version": {"type": "integer"}}}}}},
                  "responses": {"200": one, **common, "409": _error_ref("409"), "422": _error_ref("422")}}
    else:
        delete = {"tags": [tag], "operationId": f"{op}_delete", "summary": _("Delete"),
                  "responses": {"204": {"description": _("Deleted")}, **common, "409": _error_ref("409")}}
    spec.path(f"{res.path}/{{id}}", parameters=[id_param], operations={
        "get": {"tags": [tag], "operationId": f"{op}_get", "summary": _("Get: %(title)s", title=title),
                "responses": {"200": one, **common}},
        "patch": {"tags": [tag], "operationId": f"{op}_update", "summary": _("Update: %(title)s", title=title),
                  "requestBody": patch_body,
                  "responses": {"200": one, "400": _error_ref("400"), **common, "409": _error_ref("409"),
                                "422": _error_ref("422")}},
        "delete": delete,
    })
    if not res.is_document:
        return
    transitions = sorted(res.spec.workflow.transitions)
    spec.path(f"{res.path}/{{id}}/transitions/{{name}}", parameters=[
        id_param, {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": transitions}},
    ], operations={"post": {
        "tags": [tag], "operationId": f"{op}_transition", "summary": _("Run a workflow transition"),
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"comment": {"type": "string"}, "version": {"type": "integer"}}}}}},
        "responses": {"200": one, **common, "409": _error_ref("409"), "422": _error_ref("422")}}})
    template_param = {"name": "template", "in": "query", "schema": {"type": "string", "default": "default"}}
    spec.path(f"{res.path}/{{id}}/print", parameters=[id_param], operations={"get": {
        "tags": [tag], "operationId": f"{op}_print", "summary": _("Print form (HTML)"),
        "parameters": [template_param],
        "responses": {"200": {"description": _("HTML"), "content": {"text/html": {"schema": {"type": "string"}}}},
                      **common}}})
    spec.path(f"{res.path}/{{id}}/print.pdf", parameters=[id_param], operations={"get": {
        "tags": [tag], "operationId": f"{op}_print_pdf", "summary": _("Print form (PDF)"),
        "parameters": [template_param],
        "responses": {"200": {"description": _("PDF"), "content": {"application/pdf": {
            "schema": {"type": "string", "format": "binary"}}}}, **common}}})


def _other_rules(spec: APISpec) -> None:
    """Endpoints written by hand (plugins' blueprints, other core modules) under /api/: documented
    from the URL map and the view's docstring."""
    host = current_app.extensions["garage"]
    paths: dict[str, dict] = {}
    params: dict[str, list] = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda x: x.rule):
        if not rule.rule.startswith("/api/") or rule.endpoint in GENERIC_ENDPOINTS or rule.endpoint == "static":
            continue
        if rule.rule.startswith("/api/docs"):
            continue
        blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
        owner = host.blueprint_owner.get(blueprint, "core") if blueprint else "core"
        tag = "core" if is_core(owner) else owner
        path = _RULE_ARG.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        params[path] = [{"name": name, "in": "path", "required": True,
                         "schema": {"type": "integer"} if conv == "int" else {"type": "string"}}
                        for conv, name in _RULE_ARG.findall(rule.rule)]
        view = current_app.view_functions.get(rule.endpoint)
        doc = ((view.__doc__ or "").strip().splitlines() or [rule.endpoint])[0] if view else rule.endpoint
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op_id = re.sub(r"\W+", "_", f"{rule.endpoint}_{method}".lower())
            paths.setdefault(path, {})[method.lower()] = {
                "tags": [tag], "operationId": op_id, "summary": doc,
                "responses": {"200": {"description": _("Success")}, "401": _error_ref("401"),
                              "404": _error_ref("404")}}
    for path, operations in paths.items():
        spec.path(path, operations=operations, parameters=params[path] or None)


# --- the docs page ----------------------------------------------------------------------------------


def _type_of(prop: dict) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    kind = prop.get("type", "")
    if kind == "array":
        return f"[{_type_of(prop.get('items', {}))}]"
    return kind + (f" ({prop['format']})" if prop.get("format") else "")


def docs_context(spec: dict) -> dict:
    """What the docs template needs: operations grouped by tag, schemas with their fields."""
    groups: dict[str, list] = {}
    for path, item in spec["paths"].items():
        for method in ("get", "post", "patch", "put", "delete"):
            op = item.get(method)
            if op is None:
                continue
            groups.setdefault(op["tags"][0], []).append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "id": op["operationId"],
                "parameters": [p for p in item.get("parameters", []) + op.get("parameters", []) if "name" in p],
                "body": _body_name(op), "responses": sorted(op.get("responses", {})),
            })
    schemas = []
    for name, schema in sorted(spec["components"]["schemas"].items()):
        required = set(schema.get("required", ()))
        fields = [{"name": f, "type": _type_of(p), "required": f in required, "read_only": p.get("readOnly", False),
                   "description": p.get("description", "")} for f, p in schema.get("properties", {}).items()]
        schemas.append({"name": name, "fields": fields})
    return {"spec": spec, "groups": sorted(groups.items(), key=lambda g: (g[0] != "core", g[0])), "schemas": schemas}


def _body_name(op: dict) -> str | None:
    body = op.get("requestBody")
    if not body:
        return None
    schema = next(iter(body["content"].values())).get("schema", {})
    return _type_of(schema) if "$ref" in schema else schema.get("description") or "object"
