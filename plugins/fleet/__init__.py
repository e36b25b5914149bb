"""Fleets and networks plugin."""
from core.i18n import domain
from core.plugins import Manifest

_l = domain("fleet").lazy_gettext

manifest = Manifest(
    slug="fleet",
    version="0.1.0",
    title=_l("Fleets and networks"),
    requires=("crm", "workshop"),
    features={
        "fleet.network": _l("A network of stations, subcontracted jobs, transfers"),
        "fleet.fleets": _l("Fleet companies, their cars and drivers, fleet manager access"),
    },
)
