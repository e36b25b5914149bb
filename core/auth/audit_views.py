"""Browse the audit log: the ``/audit`` page and ``GET /api/v1/audit`` (permission ``core.audit.read``).

Filters (both): ``user`` (id or e-mail), ``action``, ``object_type``, ``object_id``, ``date_from`` and
``date_to`` (ISO dates or date-times, inclusive days; without a zone they are the shop's), ``page`` and
``per_page`` (at most 200).
There is deliberately no route that edits or deletes a row.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from flask import Blueprint, jsonify, render_template, request
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import func, select

from ..audit import AuditLog
from ..db import db
from .access import permission_required

bp = Blueprint("core_audit", __name__)
api_bp = Blueprint("core_audit_api", __name__, url_prefix="/api/v1/audit")
READ = "core.audit.read"
FILTERS = ("user", "action", "object_type", "object_id", "date_from", "date_to")
MAX_PER_PAGE = 200
# How the page names the actions it knows; others (a plugin's) show their key.
ACTION_LABELS = {
    "create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted"), "void": _l("Voided"),
    "transition": _l("Status changed"), "login": _l("Signed in"), "logout": _l("Signed out"),
    "login_failed": _l("Failed sign-in"), "login_locked": _l("Sign-in refused (too many attempts)"),
    "password_change": _l("Password changed"), "token_create": _l("API token created"),
    "token_revoke": _l("API token revoked"), "activate": _l("Activated"), "deactivate": _l("Deactivated"),
    "tier": _l("Plan changed"), "grant": _l("Feature granted"), "revoke": _l("Feature revoked"),
    "plugins": _l("Modules changed"), "export": _l("Exported"),
}


def _parse_when(value: str, end: bool) -> datetime:
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(_("Use a date like 2026-01-31.")) from exc
    if not moment.tzinfo:
        # A day or a time without a zone is the shop's, as the page shows them (not UTC).
        from ..documents import tenant_now

        moment = moment.replace(tzinfo=tenant_now().tzinfo)
    return moment.astimezone(timezone.utc)  # compared as stored: UTC (SQLite compares the text)


def _int(value: str, low: int = 1) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise ValueError(_("Enter a whole number.")) from exc
    if number < low:
        raise ValueError(_("Enter a number of at least %(low)d.", low=low))
    return number


def query_audit(args) -> tuple[dict, dict]:
    """Apply the filters in ``args``; returns ({"items", "total", "page", "per_page"}, errors)."""
    errors: dict[str, str] = {}
    stmt = select(AuditLog)
    user = (args.get("user") or "").strip()
    if user:
        stmt = stmt.where(AuditLog.user_id == int(user)) if user.isdigit() else stmt.where(
            func.lower(AuditLog.actor) == user.lower())
    for field in ("action", "object_type"):
        if (args.get(field) or "").strip():
            stmt = stmt.where(getattr(AuditLog, field) == args[field].strip())
    if (args.get("object_id") or "").strip():
        try:
            stmt = stmt.where(AuditLog.object_id == _int(args["object_id"].strip(), 0))
        except ValueError as exc:
            errors["object_id"] = str(exc)
    for field, end in (("date_from", False), ("date_to", True)):
        value = (args.get(field) or "").strip()
        if value:
            try:
                moment = _parse_when(value, end)
                stmt = stmt.where(AuditLog.at < moment if end and len(value) == 10
                                  else AuditLog.at <= moment if end else AuditLog.at >= moment)
            except ValueError as exc:
                errors[field] = str(exc)
    page, per_page = 1, 50
    try:
        page = _int(args.get("page") or "1")
    except ValueError as exc:
        errors["page"] = str(exc)
    try:
        per_page = min(_int(args.get("per_page") or "50"), MAX_PER_PAGE)
    except ValueError as exc:
        errors["per_page"] = str(exc)
    if errors:
        return {"items": [], "total": 0, "page": page, "per_page": per_page}, errors
    # Count on the statement itself, not a subquery: the tenant guard applies to the outer statement.
    total = db.session.scalar(stmt.with_only_columns(func.count(AuditLog.id)))
    rows = db.session.scalars(stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": rows, "total": total, "page": page, "per_page": per_page}, errors


def audit_json(row: AuditLog) -> dict:
    return {"id": row.id, "at": row.at.isoformat() if row.at else None, "user_id": row.user_id,
            "actor": row.actor, "action": row.action, "object_type": row.object_type,
            "object_id": row.object_id, "changes": row.changes, "ip": row.ip}


@bp.route("/audit")
@permission_required(READ)
def audit_page():
    result, errors = query_audit(request.args)
    filters = {k: request.args.get(k, "") for k in FILTERS}
    pages = max(1, -(-result["total"] // result["per_page"]))
    return render_template("core/auth/audit.html", result=result, errors=errors, filters=filters,
                           pages=pages, action_labels=ACTION_LABELS), (400 if errors else 200)


@api_bp.route("", methods=["GET"])
@permission_required(READ)
def audit_api():
    result, errors = query_audit(request.args)
    if errors:
        return jsonify(error="validation", message=_("Some filters are not valid."), fields=errors), 400
    return jsonify(items=[audit_json(r) for r in result["items"]], total=result["total"],
                   page=result["page"], per_page=result["per_page"])
