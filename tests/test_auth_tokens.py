"""Personal API tokens: created in the profile or the CLI, shown once, stored hashed, revoked at once."""
import re

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.auth.models import ApiToken
from core.db import db
from core.features import tenant_info
from core.models import User
from core.tenancy import tenant_context
from core.tenants import get_tenant

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def client(app):
    """English pages (a shop's default language is Russian), so the tests can read the messages."""
    c = app.test_client()
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return c
TOKEN_RE = re.compile(r'<code class="new-token">([^<]+)</code>')


def csrf_of(client, path="/profile/tokens"):
    return CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)


def bearer(text):
    return {"Authorization": f"Bearer {text}"}


def in_tenant(app, slug):
    class Ctx:
        def __enter__(self):
            self.app_ctx = app.app_context()
            self.app_ctx.__enter__()
            self.t_ctx = tenant_context(tenant_info(get_tenant(slug)))
            self.t_ctx.__enter__()

        def __exit__(self, *exc):
            self.t_ctx.__exit__(*exc)
            self.app_ctx.__exit__(*exc)

    return Ctx()


def test_create_use_and_revoke_a_token_in_the_profile(app, client, user, login):
    u = user(role="technician")
    login(client, u)
    r = client.post("/profile/tokens", data={"csrf_token": csrf_of(client), "name": "my script"})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    text = TOKEN_RE.search(r.get_data(as_text=True)).group(1)
    # shown once: the list afterwards has only the hint
    listing = client.get("/profile/tokens").get_data(as_text=True)
    assert text not in listing and "my script" in listing and text[-4:] in listing
    with in_tenant(app, u.tenant.slug):
        row = db.session.scalars(select(ApiToken)).one()
        assert text.split("_", 2)[2] not in (row.secret_hash, row.hint * 10)  # only a hash is stored
        assert len(row.secret_hash) == 64
    api = app.test_client()
    me = api.get("/api/v1/me", headers=bearer(text))
    assert me.status_code == 200 and me.get_json()["user"]["email"] == u.email
    r = client.post(f"/profile/tokens/{row.id}/revoke", data={"csrf_token": csrf_of(client)})
    assert r.status_code == 302
    r = api.get("/api/v1/me", headers=bearer(text))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    with in_tenant(app, u.tenant.slug):
        actions = [(a.action, a.user_id, a.object_id) for a in db.session.scalars(select(AuditLog))]
    assert ("token_create", u.id, row.id) in actions and ("token_revoke", u.id, row.id) in actions


def test_token_name_is_required(client, user, login):
    login(client, user(role="owner"))
    r = client.post("/profile/tokens", data={"csrf_token": csrf_of(client), "name": ""})
    assert r.status_code == 400 and "Name the token" in r.get_data(as_text=True)


def test_cannot_revoke_someone_elses_token(app, client, user, login, token):
    owner = user(role="owner")
    colleague = user(role="cashier", tenant=owner.tenant)
    text = token(colleague)
    token_id = int(text.split("_")[1])
    login(client, owner)
    r = client.post(f"/profile/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(client)})
    assert r.status_code == 404
    assert app.test_client().get("/api/v1/me", headers=bearer(text)).status_code == 200


def test_cli_prints_a_working_token(app, runner, user):
    u = user(role="accountant")
    result = runner.invoke(args=["user", "token", "--tenant", u.tenant.slug, "--email", u.email.upper()])
    assert result.exit_code == 0, result.output
    text = result.output.strip()
    r = app.test_client().get("/api/v1/me", headers=bearer(text))
    assert r.status_code == 200 and r.get_json()["tenant"]["slug"] == u.tenant.slug
    with in_tenant(app, u.tenant.slug):
        row = db.session.scalars(select(AuditLog).where(AuditLog.action == "token_create")).one()
        assert row.actor == "operator"
    bad = runner.invoke(args=["user", "token", "--tenant", u.tenant.slug, "--email", "nobody@x.example"])
    assert bad.exit_code == 2 and "no active user" in bad.output


def test_cli_lists_and_revokes_tokens(app, runner, user, token):
    u = user(role="owner")
    other = user(role="owner")
    text = token(u, name="backup script")
    token_id = text.split("_")[1]
    listed = runner.invoke(args=["user", "tokens", "--tenant", u.tenant.slug, "--email", u.email, "--json"])
    assert listed.exit_code == 0, listed.output
    assert '"backup script"' in listed.output and text.split("_", 2)[2] not in listed.output
    # another tenant cannot name this token
    wrong = runner.invoke(args=["user", "revoke-token", "--tenant", other.tenant.slug, token_id])
    assert wrong.exit_code == 2 and "no API token" in wrong.output
    assert app.test_client().get("/api/v1/me", headers=bearer(text)).status_code == 200
    done = runner.invoke(args=["user", "revoke-token", "--tenant", u.tenant.slug, token_id])
    assert done.exit_code == 0, done.output
    assert app.test_client().get("/api/v1/me", headers=bearer(text)).status_code == 401
    with in_tenant(app, u.tenant.slug):
        row = db.session.scalars(select(AuditLog).where(AuditLog.action == "token_revoke")).one()
        assert row.actor == "operator" and row.object_id == int(token_id)


@pytest.mark.parametrize("header", ["Bearer gt_1_nope", "Bearer gt_x_y", "Bearer ", "Basic abc", "Bearer abc"])
def test_bad_tokens_are_401_with_a_bearer_challenge(client, user, token, header):
    token(user(role="owner"))
    r = client.get("/api/v1/me", headers={"Authorization": header})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.get_json()["error"] == "unauthorized"


def test_a_token_acts_only_in_its_tenant(app, client, user, token, login):
    a = user(role="owner")
    b = user(role="owner")
    text_a = token(a)
    token(b)  # an audit row in B
    r = client.get("/api/v1/audit", headers=bearer(text_a))
    assert r.status_code == 200
    rows = r.get_json()["items"]
    assert rows and all(row["user_id"] in (None, a.id) for row in rows)
    # B's objects are invisible: filtering by B's user finds nothing
    assert client.get(f"/api/v1/audit?object_id={b.id}&object_type=core_user",
                      headers=bearer(text_a)).get_json()["total"] == 0
    # a session of B on the same client does not mix in: the token decides
    login(client, b)
    assert client.get("/api/v1/me", headers=bearer(text_a)).get_json()["user"]["id"] == a.id


def test_token_requests_need_no_csrf_but_cookie_ones_do(app, client, user, token, login):
    u = user(role="owner")
    text = token(u)
    # state-changing API call with a token: no CSRF needed (405 = reached the endpoint; audit is read-only)
    assert client.post("/api/v1/audit", json={}, headers=bearer(text)).status_code == 405
    login(client, u)
    assert client.post("/api/v1/audit", json={}).status_code == 400


def test_token_of_a_deactivated_user_stops_working(app, client, user, token):
    u = user(role="owner")
    text = token(u)
    assert client.get("/api/v1/me", headers=bearer(text)).status_code == 200
    with in_tenant(app, u.tenant.slug):
        db.session.execute(select(User).where(User.id == u.id)).scalar_one().active = False
        db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(text)).status_code == 401


def test_tokens_are_for_the_api_only(client, user, token):
    text = token(user(role="owner"))
    r = client.get("/profile/tokens", headers=bearer(text))
    assert r.status_code == 302 and "/login" in r.headers["Location"]


@pytest.mark.parametrize("garage_config", [{"GARAGE_TENANT_SUBDOMAINS": True, "GARAGE_BASE_DOMAIN": "garage.example"}],
                         indirect=True, ids=["subdomains"])
def test_a_token_is_nobody_on_another_tenants_host(client, user, token):
    a = user(role="owner")
    b = user(role="owner")
    text = token(a)
    assert client.get("/api/v1/me", headers=bearer(text),
                      base_url=f"https://{a.tenant.slug}.garage.example").status_code == 200
    assert client.get("/api/v1/me", headers=bearer(text),
                      base_url=f"https://{b.tenant.slug}.garage.example").status_code == 401


@pytest.fixture
def garage_config(request):
    return dict(getattr(request, "param", {}))
