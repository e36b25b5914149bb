"""Warehouse plugin."""
from core.i18n import domain
from core.plugins import Manifest

_l = domain("warehouse").lazy_gettext

manifest = Manifest(
    slug="warehouse",
    version="0.1.0",
    title=_l("Warehouse"),
    requires=("crm",),
    features={
        "warehouse.stock": _l("Parts catalog, suppliers, receipts, write-offs, reservations, supplier orders"),
        "warehouse.catalog": _l("Extended parts module: substitutes, pictures"),
    },
)
