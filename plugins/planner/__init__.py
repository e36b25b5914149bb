"""Planner plugin."""
from core.i18n import domain
from core.plugins import Manifest

_l = domain("planner").lazy_gettext

manifest = Manifest(
    slug="planner",
    version="0.1.0",
    title=_l("Planner"),
    requires=(),
    features={
        "planner.online_booking": _l("Station web page where clients book themselves"),
        "planner.basic": _l("Planning by day and by bay"),
        "planner.quick": _l("Book a bay in two clicks; phone-friendly planner"),
        "planner.advanced": _l("Daily load, buffers, jobs over several bays, day plan"),
    },
)
