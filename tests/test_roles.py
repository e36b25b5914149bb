"""Roles and users: the default roles' permissions, the users and roles pages (feature
core.access_rights), and the rule that nobody hands out more than they hold."""
import re

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import db
from core.features import tenant_info
from core.models import Role, User
from core.tenancy import tenant_context
from core.tenants import get_tenant

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def client(app):
    """English pages (a shop's default language is Russian), so the tests can read the messages."""
    c = app.test_client()
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return c
MANAGE, AUDIT = "core.user.manage", "core.audit.read"


def csrf_of(client, path):
    return CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)


class InTenant:
    def __init__(self, app, slug):
        self.app, self.slug = app, slug

    def __enter__(self):
        self._app = self.app.app_context()
        self._app.__enter__()
        self._t = tenant_context(tenant_info(get_tenant(self.slug)))
        self._t.__enter__()
        return self

    def __exit__(self, *exc):
        self._t.__exit__(*exc)
        self._app.__exit__(*exc)


@pytest.fixture
def master(user):
    return user.tenant_factory(tier="master")


MATRIX = {  # role -> (manage users, read audit)
    "owner": (True, True), "admin": (True, True), "service_advisor": (False, False),
    "technician": (False, False), "cashier": (False, False), "accountant": (False, False),
}


@pytest.mark.parametrize("role", sorted(MATRIX))
def test_default_roles_permission_matrix(app, client, user, login, master, role):
    u = user(role=role, tenant=master)
    with InTenant(app, master.slug):
        row = db.session.execute(select(User).where(User.id == u.id)).scalar_one()
        assert (row.can(MANAGE), row.can(AUDIT)) == MATRIX[role]
    login(client, u)
    manage, audit = MATRIX[role]
    assert client.get("/users").status_code == (200 if manage else 403)
    assert client.get("/roles").status_code == (200 if manage else 403)
    assert client.get("/audit").status_code == (200 if audit else 403)


def test_without_access_rights_the_pages_are_the_upgrade_page(client, user, login):
    owner = user(role="owner", tenant=user.tenant_factory(tier="basic"))
    login(client, owner)
    for path in ("/users", "/users/new", "/roles", "/roles/new", f"/users/{owner.id}/edit"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "Roles and access rights beyond the owner" in r.get_data(as_text=True)
    r = client.post("/users/new", data={"csrf_token": csrf_of(client, "/profile/password"), "email": "x@y.example"})
    assert r.status_code == 404
    # the audit log and the profile stay available
    assert client.get("/audit").status_code == 200


def test_users_and_roles_api_follow_the_feature_and_permission(client, user, token):
    basic_owner = user(role="owner", tenant=user.tenant_factory(tier="basic"))
    for path in ("/api/v1/users", "/api/v1/roles"):
        r = client.get(path, headers={"Authorization": f"Bearer {token(basic_owner)}"})
        assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    shop = user.tenant_factory(tier="master")
    owner = user(role="owner", tenant=shop)
    tech = user(role="technician", tenant=shop)
    r = client.get("/api/v1/users", headers={"Authorization": f"Bearer {token(owner)}"})
    assert r.status_code == 200
    assert {u["email"]: u["role"] for u in r.get_json()["items"]} == {owner.email: "owner", tech.email: "technician"}
    roles = client.get("/api/v1/roles", headers={"Authorization": f"Bearer {token(owner)}"}).get_json()["items"]
    assert {r["key"] for r in roles} >= {"owner", "admin", "service_advisor", "technician", "cashier", "accountant"}
    assert client.get("/api/v1/users", headers={"Authorization": f"Bearer {token(tech)}"}).status_code == 403


def test_owner_creates_edits_and_deactivates_a_user(app, client, user, login, master):
    owner = user(role="owner", tenant=master)
    login(client, owner)
    with InTenant(app, master.slug):
        tech_role = db.session.scalars(select(Role).where(Role.key == "technician")).one().id
    form = client.get("/users/new").get_data(as_text=True)
    token = CSRF_RE.search(form).group(1)
    r = client.post("/users/new", data={"csrf_token": token, "email": "Mech@Shop.example", "name": "Mech",
                                        "role": tech_role, "password": "long enough pw"})
    assert r.status_code == 302
    with InTenant(app, master.slug):
        new = db.session.scalars(select(User).where(User.email == "mech@shop.example")).one()
        new_id = new.id
    # the new user can sign in
    c2 = app.test_client()
    r = c2.post("/login", data={"csrf_token": csrf_of(c2, "/login"), "shop": master.slug,
                                "email": "mech@shop.example", "password": "long enough pw"})
    assert r.status_code == 302
    # duplicate e-mail: a field error, the typed values kept
    r = client.post("/users/new", data={"csrf_token": token, "email": "mech@shop.example", "name": "Again",
                                        "role": tech_role, "password": "long enough pw"})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "A user with this e-mail already exists." in html and 'value="Again"' in html
    r = client.post(f"/users/{new_id}/edit", data={"csrf_token": token, "email": "mech@shop.example",
                                                    "name": "Chief mechanic", "role": tech_role, "password": ""})
    assert r.status_code == 302
    r = client.post(f"/users/{new_id}/deactivate", data={"csrf_token": token})
    assert r.status_code == 302
    assert c2.get("/profile/password").status_code == 302  # the deactivated user's session is gone
    with InTenant(app, master.slug):
        rows = {(a.action, a.object_id): a.changes
                for a in db.session.scalars(select(AuditLog).where(AuditLog.object_type == "core_user"))}
    assert rows[("create", new_id)]["email"] == [None, "mech@shop.example"]
    assert rows[("update", new_id)] == {"name": ["Mech", "Chief mechanic"]}
    assert rows[("deactivate", new_id)] == {"active": [True, False]}


def test_nobody_deactivates_themselves_or_changes_their_own_role(app, client, user, login, master):
    owner = user(role="owner", tenant=master)
    login(client, owner)
    token = csrf_of(client, "/users")
    assert client.post(f"/users/{owner.id}/deactivate", data={"csrf_token": token}).status_code == 403
    with InTenant(app, master.slug):
        cashier = db.session.scalars(select(Role).where(Role.key == "cashier")).one().id
    r = client.post(f"/users/{owner.id}/edit", data={"csrf_token": token, "email": owner.email, "role": cashier})
    assert r.status_code == 400 and "You cannot change your own role." in r.get_data(as_text=True)


def test_admin_cannot_create_owners_or_touch_them(app, client, user, login, master):
    owner = user(role="owner", tenant=master)
    admin = user(role="admin", tenant=master)
    login(client, admin)
    with InTenant(app, master.slug):
        owner_role = db.session.scalars(select(Role).where(Role.key == "owner")).one().id
    form = client.get("/users/new").get_data(as_text=True)
    assert f'value="{owner_role}"' not in form  # not offered
    r = client.post("/users/new", data={"csrf_token": CSRF_RE.search(form).group(1), "email": "boss@x.example",
                                        "role": owner_role, "password": "long enough pw"})
    assert r.status_code == 400
    assert client.get(f"/users/{owner.id}/edit").status_code == 403
    assert client.post(f"/users/{owner.id}/deactivate",
                       data={"csrf_token": csrf_of(client, "/users")}).status_code == 403


def test_another_tenants_user_is_not_found(client, user, login, master):
    owner = user(role="owner", tenant=master)
    stranger = user(role="cashier", tenant=user.tenant_factory(tier="master"))
    login(client, owner)
    assert client.get(f"/users/{stranger.id}/edit").status_code == 404
    assert client.post(f"/users/{stranger.id}/deactivate",
                       data={"csrf_token": csrf_of(client, "/users")}).status_code == 404


def test_owner_edits_a_role_and_the_users_rights_follow(app, client, user, login, master):
    owner = user(role="owner", tenant=master)
    tech = user(role="technician", tenant=master)
    login(client, owner)
    with InTenant(app, master.slug):
        role = db.session.scalars(select(Role).where(Role.key == "technician")).one()
        role_id, before = role.id, sorted(role.permissions)
    page = client.get(f"/roles/{role_id}/edit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<legend>Core</legend>" in html and 'value="core.audit.read"' in html
    r = client.post(f"/roles/{role_id}/edit", data={"csrf_token": CSRF_RE.search(html).group(1), "title": "Mechanic",
                                                    "permissions": before + [AUDIT, "no.such.permission"]})
    assert r.status_code == 302
    tc = app.test_client()
    login(tc, tech)
    assert tc.get("/audit").status_code == 200
    with InTenant(app, master.slug):
        role = db.session.get(Role, role_id)
        assert role.title == "Mechanic" and AUDIT in role.permissions and "no.such.permission" not in role.permissions
        row = db.session.scalars(select(AuditLog).where(AuditLog.object_type == "core_role")).one()
        assert row.action == "update" and row.changes["title"] == ["Technician", "Mechanic"]


def test_owner_creates_a_role(app, client, user, login, master):
    login(client, user(role="owner", tenant=master))
    token = csrf_of(client, "/roles/new")
    r = client.post("/roles/new", data={"csrf_token": token, "key": "Bad Key", "title": "X"})
    assert r.status_code == 400 and "Use lower-case letters" in r.get_data(as_text=True)
    r = client.post("/roles/new", data={"csrf_token": token, "key": "receptionist", "title": "Reception",
                                        "permissions": [AUDIT]})
    assert r.status_code == 302
    assert "Reception" in client.get("/roles").get_data(as_text=True)
    r = client.post("/roles/new", data={"csrf_token": token, "key": "receptionist", "title": "Again"})
    assert r.status_code == 400 and "A role with this key already exists." in r.get_data(as_text=True)


def test_admin_cannot_grant_what_it_lacks_nor_edit_the_owner_role(app, client, user, login, master):
    admin = user(role="admin", tenant=master)
    login(client, admin)
    with InTenant(app, master.slug):
        roles = {r.key: r for r in db.session.scalars(select(Role))}
        # this shop's admins may not edit settings
        roles["admin"].permissions = sorted(set(roles["admin"].permissions) - {"core.settings.manage"})
        roles = {k: r.id for k, r in roles.items()}
        db.session.commit()
    assert client.get(f"/roles/{roles['owner']}/edit").status_code == 403
    edit = client.get(f"/roles/{roles['cashier']}/edit").get_data(as_text=True)
    assert re.search(r'value="core.settings.manage"[^>]*disabled', edit)  # shown, not grantable
    r = client.post(f"/roles/{roles['cashier']}/edit", data={"csrf_token": CSRF_RE.search(edit).group(1),
                                                            "title": "Cashier", "permissions": ["core.settings.manage"]})
    assert r.status_code == 400 and "You cannot grant permissions you do not have yourself." in r.get_data(as_text=True)
    with InTenant(app, master.slug):
        assert "core.settings.manage" not in db.session.get(Role, roles["cashier"]).permissions


def test_builtin_role_titles_follow_the_readers_language(client, user, login, master):
    login(client, user(role="owner", tenant=master))
    english = client.get("/roles").get_data(as_text=True)
    assert "Service advisor" in english
    russian = client.get("/roles", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "Service advisor" not in russian and "service_advisor" in russian
