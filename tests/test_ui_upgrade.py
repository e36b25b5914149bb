"""The upgrade page with the real plugins: a feature the shop's tier lacks answers 404 with what the
feature is and the cheapest tier that has it; the API answers a plain JSON 404."""


def test_a_page_of_a_missing_plugin_offers_the_cheapest_tier(app, client, user, login):
    u = user(role="owner", tenant=None)
    login(client, u)  # the user fixture's shop is on Profi: make a Free one
    from core.db import db
    from core.tenants import get_tenant, set_tier

    with app.app_context():
        set_tier(get_tenant(u.tenant.slug), "free")
        db.session.commit()
    r = client.get("/crm/clients", headers={"Accept-Language": "en"})
    assert r.status_code == 404
    page = r.get_data(as_text=True)
    assert "Not in your plan" in page and "included in the Basic plan" in page
    r = client.get("/crm/clients", headers={"Accept-Language": "ru"})
    assert "Входит в тариф Basic и выше." in r.get_data(as_text=True)
    r = client.get("/api/v1/crm/clients")
    assert r.status_code == 404 and r.is_json
