"""Finance plugin."""
from core.i18n import domain
from core.plugins import Manifest

_l = domain("finance").lazy_gettext

manifest = Manifest(
    slug="finance",
    version="0.1.0",
    title=_l("Finance"),
    requires=("crm",),
    features={
        "finance.accounting": _l("Settlements, debts, cash and bank, cash-flow and profit reports"),
        "finance.vat": _l("Invoices with VAT"),
    },
)
