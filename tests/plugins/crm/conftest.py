"""Helpers for the CRM tests: a signed-in client for a fresh tenant, and direct service access."""
from contextlib import contextmanager

import pytest


def api_token(app, user_handle) -> str:
    from core.auth.tokens import create_token
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant, User
    from core.tenancy import tenant_context

    with app.app_context():
        with tenant_context(tenant_info(db.session.get(Tenant, user_handle.tenant.id))):
            user = db.session.get(User, user_handle.id)
            _row, text = create_token(user, "tests")
            db.session.commit()
            return text


@pytest.fixture
def api_client(app, login):
    """``api_client(user_handle)``: a test client signed in (pages) and carrying a bearer token (API)."""

    def make(user_handle):
        c = login(app.test_client(), user_handle)
        c.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + api_token(app, user_handle)
        c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        return c

    return make


@pytest.fixture
def crm(app, client, tenant, user, login):
    """``crm.tenant``, ``crm.user`` (service advisor, signed in), ``crm.client`` and ``crm.ctx()``: an app and
    tenant context for calling services directly."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context

    class Handle:
        pass

    h = Handle()
    h.app = app
    h.tenant = tenant(tier="basic")
    h.user = user(role="service_advisor", tenant=h.tenant)
    h.client = login(client, h.user)  # signed in for pages; API calls carry a bearer token (no CSRF)
    h.client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + api_token(app, h.user)
    h.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # assertions below read English messages

    @contextmanager
    def ctx(t=None):
        t = t or h.tenant
        with app.app_context():
            row = db.session.get(Tenant, t.id)
            with tenant_context(tenant_info(row)):
                yield db.session
                db.session.commit()

    h.ctx = ctx
    return h
