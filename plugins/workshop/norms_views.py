"""The norm beside the shop's own history on the pages (``workshop.norms``): the job catalog card shows
the catalog norm, every make/model norm and the average actually clocked on closed work orders (per car
and per employee); the work order's "add a job" picker shows, per catalog job, the norm for the order's
car and the shop's average on that make and model. The API twin is ``GET /jobs/<id>/norms``."""
from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_login import current_user

from . import norms

NORMS_FEATURE = "workshop.norms"

bp = Blueprint("workshop_norms_ui", __name__, url_prefix="/workshop")  # template globals only


def _allowed() -> bool:
    tenant = g.get("tenant")
    return bool(tenant is not None and tenant.has(NORMS_FEATURE) and current_user.is_authenticated
                and current_user.can("workshop.job.read"))


@bp.app_template_global("ws_job_norms_panel")
def job_norms_panel(job) -> str:
    """The job card's "Norm and the shop's history" block; empty without the feature or the right."""
    if job is None or not _allowed():
        return ""
    return render_template("workshop/panels/job_norms.html", job=job, data=norms.job_overview(job))


def job_hints(order) -> dict[int, dict]:
    """Per active catalog job, the norm for the order's car and the shop's average (empty without the
    feature)."""
    from sqlalchemy import select

    from core.db import db
    from plugins.crm.models import Vehicle

    from .models import Job

    if not _allowed():
        return {}
    car = db.session.get(Vehicle, order.vehicle_id)
    jobs = db.session.scalars(select(Job).where(Job.active.is_(True)).order_by(Job.name).limit(200)).all()
    return norms.catalog_hints(jobs, car.make if car else None, car.model if car else None)
