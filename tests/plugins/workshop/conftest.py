"""Helpers for the workshop tests: a shop on the Specialist tier with a signed-in API client, a client
and a car, and shortcuts for the workshop's endpoints."""
import itertools
from contextlib import contextmanager

import pytest

API = "/api/v1/workshop"
_numbers = itertools.count(10)


class Shop:
    def __init__(self, app, tenant, user, api):
        self.app, self.tenant, self.user, self.api = app, tenant, user, api

    # --- HTTP shortcuts (assert the happy path; tests check failures themselves) ---

    def post(self, url, body=None, status=(200, 201)):
        r = self.api.post(url, json=body or {})
        assert r.status_code in ((status,) if isinstance(status, int) else status), (r.status_code, r.get_json())
        return r.get_json()

    def client_and_car(self, name="Иванов Иван Иванович"):
        n = next(_numbers)
        # Always ten digits and a three-digit plate, however many cars a run makes (unique below 10^6).
        phone = f"+7 916 {n // 10000 % 1000:03d}-{n // 100 % 100:02d}-{n % 100:02d}"
        c = self.post("/api/v1/crm/clients", {"name": name, "phones": [phone]})
        car = self.post("/api/v1/crm/vehicles", {"client_id": c["id"], "make": "Kia", "model": "Rio",
                                                 "year": 2019, "plate": f"А{n % 1000:03d}ВС{77 + n // 1000 % 20}"})
        return c, car

    def insurer(self, name="СПАО «Ингосстрах»"):
        return self.post("/api/v1/crm/clients", {"name": name, "kind": "company", "is_insurer": True,
                                                 "is_client": False})

    def work_order(self, **body):
        return self.post(f"{API}/work-orders", body)

    def line(self, order_id, kind="labor-lines", **body):
        return self.post(f"{API}/work-orders/{order_id}/{kind}", body)

    def transition(self, resource, doc_id, name, status=200, **body):
        r = self.api.post(f"{API}/{resource}/{doc_id}/transitions/{name}", json=body)
        assert r.status_code == status, (r.status_code, r.get_json())
        return r.get_json()

    def approved_job(self, **line):
        """A work order with one job line the client approved, the order approved: ``(order, line)``."""
        client, car = self.client_and_car()
        wo = self.work_order(client_id=client["id"], vehicle_id=car["id"])
        made = self.line(wo["id"], name="Замена ремня ГРМ", hours="3", rate="2000.00", **line)["line"]
        self.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
            {"line_id": made["id"], "decision": "approved"}]})
        self.transition("work-orders", wo["id"], "approve")
        return wo, made

    @contextmanager
    def ctx(self):
        from core.db import db
        from core.features import tenant_info
        from core.models import Tenant
        from core.tenancy import tenant_context

        with self.app.app_context():
            with tenant_context(tenant_info(db.session.get(Tenant, self.tenant.id))):
                yield db.session


@pytest.fixture
def make_shop(app, tenant, user, token):
    """``make_shop(tier="specialist", role="owner")`` -> :class:`Shop` with an API client (bearer token)."""

    def make(tier="specialist", role="owner", t=None):
        if t is None:
            t = tenant(tier=tier)
            # An English-speaking shop, so that its prints (in the shop's language) read like the API's
            # messages; tests of Russian or Chinese prints set the language themselves.
            from core.db import db
            from core.models import Tenant

            with app.app_context():
                db.session.get(Tenant, t.id).language = "en"
                db.session.commit()
        u = user(role=role, tenant=t)
        c = app.test_client()
        c.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + token(u)
        c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        return Shop(app, t, u, c)

    return make


@pytest.fixture
def shop(make_shop):
    return make_shop()


@pytest.fixture
def signed_in(login):
    """``signed_in(shop, lang="en")`` -> a test client of the pages, signed in as the shop's user."""

    def make(shop, lang="en"):
        ui = shop.app.test_client()
        ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
        return login(ui, shop.user)

    return make


@pytest.fixture
def csrf_token():
    """``csrf_token(html)`` -> the CSRF token of a page's forms."""
    import re

    return lambda html: re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
