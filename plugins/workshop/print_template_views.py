"""Pages to edit the tenant's print templates: ``/workshop/print-templates`` lists every print form of
every document type, ``/workshop/print-templates/<type>`` edits a type's main form and
``/workshop/print-templates/<type>/<form>`` another one (textarea, preview on the newest document,
versions).
A broken template is shown with its line and message (422) and not saved."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request

from core.auth.access import permission_required
from core.db import db
from core.i18n import domain

from . import print_templates as pt
from .views import current_user_obj

_ = domain("workshop").gettext

bp = Blueprint("workshop_print_templates_ui", __name__, url_prefix="/workshop")

FEATURE = "workshop.documents"
PERMISSION = "workshop.print_template.manage"


@bp.get("/print-templates")
@permission_required(PERMISSION, feature=FEATURE)
def print_templates_page():
    edited = pt.active_all()
    rows = [(dt, name, pt.form_title(name), edited.get((dt.key, name))) for dt, name in pt.forms()]
    return render_template("workshop/print_templates/list.html", rows=rows, _=_)


def _type_or_404(key: str, name: str = "default"):
    dt = pt.document_type(key)
    if dt is None or name not in dt.print_templates:
        abort(404)
    return dt


def _url(dt, name: str) -> str:
    return f"/workshop/print-templates/{dt.key}" + ("" if name == "default" else f"/{name}")


@bp.get("/print-templates/<key>")
@bp.get("/print-templates/<key>/<name>")
@permission_required(PERMISSION, feature=FEATURE)
def print_template_edit(key: str, name: str = "default"):
    dt = _type_or_404(key, name)
    row = pt.active(dt.key, name)
    return _edit_page(dt, name, row.body if row else pt.builtin_source(dt, name))


def _edit_page(dt, name: str, body: str, problem=None, preview=None, status: int = 200):
    from sqlalchemy import select

    from core.models import User

    versions = pt.versions(dt.key, name)
    ids = {v.created_by for v in versions if v.created_by}
    authors = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()) if ids else {}
    return render_template("workshop/print_templates/edit.html", dt=dt, name=name, form_title=pt.form_title(name),
                           url=_url(dt, name), body=body, problem=problem,
                           preview=preview, versions=versions, authors=authors,
                           has_sample=pt.sample_document(dt) is not None, _=_), status


@bp.post("/print-templates/<key>")
@bp.post("/print-templates/<key>/<name>")
@permission_required(PERMISSION, feature=FEATURE)
def print_template_save(key: str, name: str = "default"):
    dt = _type_or_404(key, name)
    body = (request.form.get("body") or "").replace("\r\n", "\n")
    action = request.form.get("action", "save")
    try:
        if action == "preview":
            return _edit_page(dt, name, body, preview=pt.check(dt, body))
        if action == "builtin":
            body = pt.builtin_source(dt, name)
        row = pt.save(dt, body, current_user_obj(), name)
        db.session.commit()
    except pt.TemplateProblem as problem:
        db.session.rollback()
        return _edit_page(dt, name, body, problem=problem, status=422)
    flash(_("Print template saved (version %(version)s).", version=row.version), "success")
    return redirect(_url(dt, name))
