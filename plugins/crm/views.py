"""The CRM's custom pages: the one-box search (``/crm/search``) and the printable service book
(``/crm/vehicles/<id>/history``). Lists and forms of clients and vehicles are the core's generic pages."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user
from sqlalchemy import select

from core.db import db
from core.i18n import domain

from .models import Vehicle
from .search import search

_ = domain("crm").gettext

bp = Blueprint("crm_ui", __name__, url_prefix="/crm", template_folder="templates")


@bp.app_context_processor
def _crm_template_helpers():
    """``crm_vehicle_actions(vehicle_id, client_id, reason=None)`` for the CRM's card templates that the
    core renders (``crm/vehicles_detail.html``)."""
    from .services import vehicle_actions

    def client_reviews(client_id):
        """The card's reviews, for shops with ``crm.basic`` and users who may read clients; else None."""
        from flask import g

        from .reviews import summary

        tenant = g.get("tenant")
        if tenant is None or not tenant.has("crm.basic") or not current_user.can("crm.client.read"):
            return None
        return summary(client_id)

    def client_optouts(client_id):
        """The client's opt-outs from mailings (channel, date), for the card."""
        from sqlalchemy import select as _select

        from .mailings import Unsubscribe

        if not current_user.can("crm.client.read"):
            return []
        return list(db.session.scalars(_select(Unsubscribe).where(Unsubscribe.client_id == client_id)
                                       .order_by(Unsubscribe.created_at)))

    return {"crm_vehicle_actions": vehicle_actions, "crm_client_reviews": client_reviews,
            "crm_client_optouts": client_optouts}


def _allowed(permission: str):
    if not (current_user and current_user.is_authenticated):
        from core.web import login_manager

        return login_manager.unauthorized()
    if not current_user.can(permission):
        abort(403)
    return None


@bp.get("/search")
def search_page():
    denied = _allowed("crm.client.read")
    if denied is not None:
        return denied
    q = request.args.get("q", "").strip()
    results = search(q) if q else []
    return render_template("crm/search.html", q=q, results=results, _=_)


@bp.get("/vehicles/<int:vehicle_id>/history")
def history_page(vehicle_id: int):
    denied = _allowed("crm.vehicle.read")
    if denied is not None:
        return denied
    from .api import vehicle_history

    vehicle = db.session.scalars(select(Vehicle).where(Vehicle.id == vehicle_id)).first()
    if vehicle is None:
        abort(404)
    return render_template("crm/history.html", h=vehicle_history(vehicle), _=_)


@bp.route("/import", methods=["GET", "POST"])
def import_page():
    """Upload a CSV/XLSX of clients or vehicles; a bad file shows every bad row and writes nothing."""
    denied = _allowed("crm.client.import")
    if denied is not None:
        return denied
    from .importer import KINDS, ImportRejected, import_file

    report, rejected, status = None, None, 200
    kind = request.values.get("kind", "clients")
    if request.method == "POST":
        upload = request.files.get("file")
        if kind not in KINDS or upload is None or not upload.filename:
            rejected, status = {"message": _("Attach a CSV or XLSX file."), "rows": []}, 422
        else:
            try:
                report = import_file(kind, upload.filename, upload.read(), user=current_user)
                db.session.commit()
            except ImportRejected as exc:
                db.session.rollback()
                rejected, status = {"message": str(exc.message), "rows": exc.rows}, 422
    return render_template("crm/import.html", kind=kind, report=report, rejected=rejected, _=_), status
