"""The sales funnel page (``/workshop/funnel``, feature ``workshop.documents``): bookings -> service
orders -> work orders -> closed in a period of the shop's days, with counts, amounts and conversions
(:mod:`plugins.workshop.funnel`; the API twin is ``GET /api/v1/workshop/funnel``)."""
from __future__ import annotations

from flask import Blueprint, render_template

from core.auth.access import permission_required
from core.i18n import domain

from .documents import FEATURE

_ = domain("workshop").gettext
_l = domain("workshop").lazy_gettext

bp = Blueprint("workshop_funnel_ui", __name__, url_prefix="/workshop")

STAGE_TITLES = {"bookings": _l("Bookings"), "service_orders": _l("Service orders"),
                "work_orders": _l("Work orders"), "closed": _l("Closed work orders")}


@bp.get("/funnel")
@permission_required("workshop.work_order.read", feature=FEATURE)
def funnel_page():
    from .funnel import funnel
    from .views import report_period

    start, end, since, until = report_period()
    data = funnel(since, until)
    for stage in data["stages"]:
        stage["title"] = STAGE_TITLES[stage["key"]]
    return render_template("workshop/reports/funnel.html", start=start, end=end, data=data)
