"""Workshop plugin."""
from core.i18n import domain
from core.plugins import Manifest

_l = domain("workshop").lazy_gettext

manifest = Manifest(
    slug="workshop",
    version="0.1.0",
    title=_l("Workshop"),
    requires=("crm",),
    features={
        "workshop.documents": _l("Sales funnel, work orders, estimates, printed documents"),
        "workshop.norms": _l("Standard hours by job and car, parts filled in from the chosen jobs"),
        "workshop.staff": _l("Employees, payroll, productive-time report"),
    },
)
