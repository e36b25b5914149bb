"""Core subsystem: the REST API (``/api/v1``), its OpenAPI document and docs page, and ``/healthz``.

- ``GET /api/v1/me``: the user, the tenant, its tier, features and plugins.
- Generic endpoints for every :class:`core.registry.EntityType` and document type (see
  :mod:`core.api.resources` and ``docs/api.md``): list, create, get, update (optimistic locking),
  delete or void; documents also get transitions and print (HTML and PDF).
- ``GET /api/v1/openapi.json`` (the installation's whole API; no tenant data) and ``GET /api/docs``.
- ``GET /healthz``: database reachability, no authentication (load balancers, monitoring).

For plugin authors: :class:`core.api.fields.Money` (amounts as "0.00" strings),
:class:`core.api.errors.ApiError` (raise it from a custom API view for a JSON error body) and
:func:`json_body` (the request's JSON object with numbers as Decimal; 400 when malformed).
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from ..db import db
from . import resources as r
from .errors import ApiError, http_error_response, translate_errors, validation_error

bp = Blueprint("core_api", __name__, url_prefix="/api/v1")
docs_bp = Blueprint("core_api_docs", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(docs_bp)
    host = app.extensions["garage"]
    host.blueprint_owner[bp.name] = "core"
    host.blueprint_owner[docs_bp.name] = "core"
    app.register_error_handler(ApiError, lambda exc: exc.response())
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _validation_error)
    # Fails fast at startup when two plugins claim the same /api/v1/<slug>/<resource>.
    with app.app_context():
        r.resources()


def _http_error(exc: HTTPException):
    """JSON for every HTTP error under /api/ (unknown URLs, wrong methods); the UI keeps its pages."""
    if request.path.startswith("/api/"):
        response = http_error_response(exc)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response[0].headers["Allow"] = ", ".join(exc.valid_methods)
        return response
    return exc


def _validation_error(exc: ValidationError):
    """A plugin's API view may let marshmallow's ValidationError escape: it becomes the usual 422."""
    if request.path.startswith("/api/"):
        return validation_error(exc.messages).response()
    raise exc


# --- core endpoints -----------------------------------------------------------------------------


@bp.get("/me")
def me():
    """The signed-in user, the tenant, its tier, enabled features and active plugins."""
    user = r.require_user()
    tenant = g.get("tenant")
    if tenant is None:
        raise ApiError(401, "unauthorized", _("Sign in or send an API token."))
    host = current_app.extensions["garage"]
    row = user.tenant
    return jsonify(
        user={"id": user.id, "email": user.email, "name": user.name, "language": user.language,
              "role": user.role.key, "permissions": sorted(user.permissions)},
        tenant={"id": tenant.id, "slug": tenant.slug, "name": row.name, "currency": row.currency,
                "timezone": row.timezone, "language": row.language},
        tier=tenant.tier,
        features=sorted(tenant.features),
        plugins=[{"slug": slug, "title": str(host.plugins[slug].manifest.title),
                  "version": host.plugins[slug].manifest.version}
                 for slug in host.order if slug in tenant.plugins],
    )


def healthz():
    """Liveness with the database: 200 when a query answers, 503 otherwise. No authentication."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means the database is not usable
        current_app.logger.warning("healthz: database unreachable: %s", exc)
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


docs_bp.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])


@docs_bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico on pages without a ``<link rel="icon">`` (prints, public pages)."""
    from flask import redirect, url_for

    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document of the installation's API (every plugin's; a tenant sees a subset)."""
    from .openapi import build_spec

    return jsonify(build_spec())


@docs_bp.get("/api/docs")
def api_docs():
    """The API reference as a server-rendered page (no third-party JavaScript)."""
    from .openapi import build_spec, docs_context

    return render_template("core/api_docs.html", **docs_context(build_spec()))


# --- generic endpoints --------------------------------------------------------------------------


def _documents():
    from .. import documents

    return documents


def _document_error(exc) -> ApiError:
    docs = _documents()
    codes = {
        docs.DocumentTypeUnavailable: "not_found", docs.TransitionForbidden: "forbidden",
        docs.TransitionNotAllowed: "transition_not_allowed", docs.TransitionVetoed: "vetoed",
        docs.TransitionFailed: "transition_failed", docs.StaleDocument: "conflict",
        docs.DocumentImmutable: "immutable", docs.DocumentDeleteForbidden: "immutable",
    }
    code = next((c for cls, c in codes.items() if isinstance(exc, cls)), "document_error")
    return ApiError(exc.status, code, "; ".join(exc.messages), messages=exc.messages)


def _run_document(res, obj, version, call):
    """Call a documents service; its errors become JSON (a stale version: the usual 409 body)."""
    docs = _documents()
    try:
        return call()
    except docs.StaleDocument as exc:
        if obj is not None and version is not None:
            raise r.conflict(res, obj, version) from None
        raise _document_error(exc) from None
    except docs.DocumentError as exc:
        raise _document_error(exc) from None


def _created(res, obj):
    response = jsonify(r.dump(res, obj))
    response.status_code = 201
    response.headers["Location"] = f"{res.path}/{obj.id}"
    return response


@bp.route("/<slug>/<resource>", methods=["GET", "POST"])
def collection(slug: str, resource: str):
    if request.method == "GET":
        res = r.resolve(slug, resource, "read")
        return jsonify(r.list_objects(res))
    res = r.resolve(slug, resource, "create")
    data = r.json_body()
    user = r.require_user()
    if res.is_document:
        data.pop("version", None)
        values = r.load(res, data)
        obj = _run_document(res, None, None, lambda: _documents().create_document(res.spec, user, **values))
        return _created(res, obj)
    return _created(res, r.create_object(res, data, user))


@bp.route("/<slug>/<resource>/<int:object_id>", methods=["GET", "PATCH", "DELETE"])
def item(slug: str, resource: str, object_id: int):
    known = r.resources().get((slug, resource))
    verb = {"GET": "read", "PATCH": "update", "DELETE": "delete"}[request.method]
    if verb == "delete" and known is not None and known.is_document:
        verb = "void"  # numbered documents are voided, never deleted
    res = r.resolve(slug, resource, verb)
    user = r.require_user()
    if request.method == "GET":
        return jsonify(r.dump(res, r.get_object(res, object_id)))
    if request.method == "PATCH":
        obj = r.get_object(res, object_id, for_update=True)  # 404 before anything about the body
        data = r.json_body()
        if res.is_document:
            version, values = r.load_patch(res, data)
            if version is not None and obj.version != version:
                raise r.conflict(res, obj, version)
            obj = _run_document(res, obj, version, lambda: _documents().update_document(
                obj, user, expected_version=version, **values))
        else:
            obj = r.update_object(res, obj, data, user)
        return jsonify(r.dump(res, obj))
    obj = r.get_object(res, object_id, for_update=True)
    if res.is_document:
        data = r.json_body() if request.get_data(cache=True).strip() else {}
        reason = data.get("reason", request.args.get("reason", ""))
        if not isinstance(reason, str) or not reason.strip():
            raise validation_error({"reason": ["Missing data for required field."]},
                                   message=_("Numbered documents are voided, never deleted: give a reason."))
        version = data.get("version")
        version = version if isinstance(version, int) and not isinstance(version, bool) else None
        obj = _run_document(res, obj, version, lambda: _documents().void(
            obj, user, reason, expected_version=version))
        return jsonify(r.dump(res, obj))
    r.delete_object(res, obj, user)
    return "", 204


@bp.post("/<slug>/<resource>/<int:object_id>/transitions/<name>")
def run_transition(slug: str, resource: str, object_id: int, name: str):
    res = r.resolve(slug, resource, "read")
    if not res.is_document:
        raise r.not_found()
    user = r.require_user()
    obj = r.get_object(res, object_id, for_update=True)  # 404 before anything about the body
    data = r.json_body() if request.get_data(cache=True).strip() else {}
    unknown = sorted(set(data) - {"comment", "version"})
    if unknown:
        raise validation_error({k: ["Unknown field."] for k in unknown})
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise validation_error({"comment": ["Not a valid string."]})
    version = data.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise validation_error({"version": ["Not a valid integer."]})
    obj = _run_document(res, obj, version, lambda: _documents().transition(
        obj, name, user, comment=comment, expected_version=version))
    return jsonify(r.dump(res, obj))


def _print_html(slug: str, resource: str, object_id: int) -> str:
    res = r.resolve(slug, resource, "read")
    if not res.is_document:
        raise r.not_found()
    obj = r.get_object(res, object_id)
    template = request.args.get("template", "default")
    return _run_document(res, None, None, lambda: _documents().render_print(obj, template))


@bp.get("/<slug>/<resource>/<int:object_id>/print")
def print_html(slug: str, resource: str, object_id: int):
    return Response(_print_html(slug, resource, object_id), mimetype="text/html")


@bp.get("/<slug>/<resource>/<int:object_id>/print.pdf")
def print_pdf(slug: str, resource: str, object_id: int):
    from .pdf import html_to_pdf

    pdf = html_to_pdf(_print_html(slug, resource, object_id))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{resource}-{object_id}.pdf"'})


json_body = r.json_body  # for plugins' own views: JSON numbers as Decimal, 400 when malformed

__all__ = ["ApiError", "init_app", "json_body", "translate_errors"]
