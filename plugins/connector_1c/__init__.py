"""1C/BAS connector plugin."""
from core.i18n import domain
from core.plugins import Manifest

_l = domain("connector_1c").lazy_gettext

manifest = Manifest(
    slug="connector_1c",
    version="0.1.0",
    title=_l("1C/BAS connector"),
    requires=("crm",),
    features={
        "connector_1c.backup": _l("CSV export of clients, work orders, payments, stock"),
        "connector_1c.sync": _l("1C/BAS sync of clients, work orders, parts, payments"),
    },
)
