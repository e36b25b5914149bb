"""Endpoints and the page of CRM tasks (``crm.advanced``).

Gated like mass mailing: 404 without ``crm.basic``, 403 (API) or the upgrade page (UI) without
``crm.advanced``. Every mutation is one transaction with its audit row.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from core.db import db
from core.i18n import domain

from . import tasks
from .api import _crm_error, _errors, _get, requires
from .gates import gate
from .services import CrmError

_ = domain("crm").gettext

api = Blueprint("crm_task_api", __name__, url_prefix="/api/v1/crm")
ui = Blueprint("crm_task_ui", __name__, url_prefix="/crm", template_folder="templates")


gate(api, ui, tasks.FEATURE, refused=lambda: _("Tasks are not included in your plan."))


@api.errorhandler(404)
def _not_found(exc):
    return jsonify(error="not_found", message=_("Not found")), 404


def _task_error(exc: CrmError):
    if exc.extra.get("fields"):
        return _errors(exc.extra["fields"])
    return _crm_error(exc)


def _int_arg(name: str):
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise CrmError(_("Enter a whole number."), fields={name: [_("Enter a whole number.")]})


@api.get("/tasks")
@requires("crm.task.read")
def list_view():
    """Filters: ``assignee=me|<id>``, ``status``, ``due_before=YYYY-MM-DD``, ``overdue=1``, ``client_id``."""
    try:
        assignee = request.args.get("assignee")
        assignee_id = current_user.id if assignee == "me" else _int_arg("assignee")
        client_id = _int_arg("client_id")
        status = request.args.get("status") or None
        if status is not None and status not in tasks.STATUSES:
            raise CrmError("", fields={"status": [_("Choose one of: open, done, cancelled.")]})
        due_before = None
        if request.args.get("due_before"):
            try:
                due_before = date.fromisoformat(request.args["due_before"])
            except ValueError:
                raise CrmError("", fields={"due_before": [_("Enter a date as YYYY-MM-DD.")]})
    except CrmError as exc:
        return _task_error(exc)
    on = tasks.today()
    rows = tasks.query(assignee_id=assignee_id, status=status, due_before=due_before, client_id=client_id,
                       overdue=request.args.get("overdue") in ("1", "true", "yes"), on=on)
    return jsonify(results=[tasks.as_dict(t, on) for t in rows])


@api.post("/tasks")
@requires("crm.task.create")
def create_view():
    body = request.get_json(silent=True) or {}
    try:
        task = tasks.create(body, user=current_user)
    except CrmError as exc:
        db.session.rollback()
        return _task_error(exc)
    db.session.commit()
    return jsonify(tasks.as_dict(task)), 201


@api.get("/tasks/<int:task_id>")
@requires("crm.task.read")
def get_view(task_id: int):
    return jsonify(tasks.as_dict(_get(tasks.Task, task_id)))


@api.route("/tasks/<int:task_id>", methods=["PATCH", "PUT"])
@requires("crm.task.update")
def update_view(task_id: int):
    task = _get(tasks.Task, task_id)
    body = request.get_json(silent=True) or {}
    try:
        tasks.update(task, body, user=current_user)
    except CrmError as exc:
        db.session.rollback()
        return _task_error(exc)
    db.session.commit()
    return jsonify(tasks.as_dict(task))


@api.post("/tasks/<int:task_id>/done")
@requires("crm.task.update")
def done_view(task_id: int):
    task = _get(tasks.Task, task_id)
    try:
        tasks.mark_done(task, user=current_user)
    except CrmError as exc:
        db.session.rollback()
        return _task_error(exc)
    db.session.commit()
    return jsonify(tasks.as_dict(task))


# --- the page --------------------------------------------------------------------------------------


def _page_allowed(permission: str):
    if not (current_user and current_user.is_authenticated):
        from core.web import login_manager

        return login_manager.unauthorized()
    if not current_user.can(permission):
        abort(403)
    return None


def _users():
    from core.models import User

    return list(db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name, User.email)))


def _safe_next(value: str | None) -> str | None:
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return None


@ui.route("/tasks", methods=["GET", "POST"])
def tasks_page():
    """My open tasks first (overdue highlighted), then the shop's other open tasks; a quick add form."""
    denied = _page_allowed("crm.task.read")
    if denied is not None:
        return denied
    errors, status, values = {}, 200, request.form
    if request.method == "POST":
        denied = _page_allowed("crm.task.create")
        if denied is not None:
            return denied
        data = {k: request.form.get(k) for k in ("title", "notes", "due_on", "due_time", "assignee_id",
                                                  "client_id", "vehicle_id") if k in request.form}
        try:
            tasks.create(data, user=current_user)
        except CrmError as exc:
            db.session.rollback()
            errors, status = exc.extra.get("fields") or {"title": [str(exc.message)]}, 422
        else:
            db.session.commit()
            flash(_("The task is added."), "success")
            return redirect(_safe_next(request.form.get("next")) or url_for("crm_task_ui.tasks_page"))
    on = tasks.today()
    mine = tasks.query(assignee_id=current_user.id, status="open", on=on)
    others = [t for t in tasks.query(status="open", on=on) if t.assignee_id != current_user.id]
    users = _users()
    names = {u.id: u.name or u.email for u in users}
    from .models import Client

    client_ids = {t.client_id for t in mine + others if t.client_id}
    clients = dict(db.session.execute(select(Client.id, Client.name).where(Client.id.in_(client_ids))).all()) \
        if client_ids else {}
    return render_template("crm/tasks.html", mine=mine, others=others, users=users, names=names, today=on,
                           clients=clients,
                           errors=errors, values=values, can_create=current_user.can("crm.task.create"),
                           can_update=current_user.can("crm.task.update"), _=_), status


@ui.post("/tasks/<int:task_id>/done")
def task_done_page(task_id: int):
    denied = _page_allowed("crm.task.update")
    if denied is not None:
        return denied
    task = db.session.scalars(select(tasks.Task).where(tasks.Task.id == task_id)).first()
    if task is None:
        abort(404)
    try:
        tasks.mark_done(task, user=current_user)
    except CrmError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("The task is done."), "success")
    return redirect(_safe_next(request.form.get("next")) or url_for("crm_task_ui.tasks_page"))


@ui.app_context_processor
def _task_helpers():
    def client_tasks(client_id):
        """The client's open tasks for the card: None when the shop lacks crm.advanced or the user may not
        read tasks."""
        tenant = g.get("tenant")
        if (tenant is None or not tenant.has(tasks.FEATURE) or not current_user
                or not current_user.is_authenticated or not current_user.can("crm.task.read")):
            return None
        on = tasks.today()
        rows = tasks.query(client_id=client_id, status="open", on=on)
        return {"rows": rows, "today": on, "can_create": current_user.can("crm.task.create"),
                "can_update": current_user.can("crm.task.update")}

    return {"crm_client_tasks": client_tasks}
