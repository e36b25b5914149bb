"""Clients and cars plugin."""
from core.i18n import domain
from core.plugins import Manifest

_l = domain("crm").lazy_gettext

manifest = Manifest(
    slug="crm",
    version="0.1.0",
    title=_l("Clients and cars"),
    requires=(),
    features={
        "crm.clients": _l("Client and car directory, find a car by plate, service book"),
        "crm.basic": _l("Filters, inviting clients back, reviews, messages"),
        "crm.advanced": _l("Call log, telephony, mass SMS and e-mail, tasks and reminders"),
    },
)
