"""The default service catalog and message templates are the shop's data: seeded in the shop's own
language, whoever creates the shop (here an operator's code path with no request, so no user language)."""
import pytest
from sqlalchemy import select

from core.db import db
from core.features import tenant_info
from core.tenancy import tenant_context
from core.tenants import create_tenant
from plugins.crm.messages import MessageTemplate
from plugins.crm.reminders import ServiceInterval


@pytest.mark.parametrize("language, oil, closed", [
    ("ru", "Моторное масло и фильтр", "Спасибо"),
    ("en", "Engine oil and filter", "Thank you"),
])
def test_catalog_and_templates_come_in_the_shops_language(app, language, oil, closed):
    with app.app_context():
        shop = create_tenant(f"seed-{language}", "Seed shop", "profi", language=language)
        db.session.commit()
        with tenant_context(tenant_info(shop)):
            titles = set(db.session.scalars(select(ServiceInterval.title)))
            bodies = {t.event: t.body for t in db.session.scalars(select(MessageTemplate))}
    assert oil in titles
    assert closed in bodies["work_order_closed"]
