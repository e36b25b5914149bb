"""The generic REST API, end to end over HTTP, on a test plugin that declares one entity and no
endpoint code (tests/fixture_plugins/api_things)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

THINGS = "/api/v1/api_things/things"


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"api_things": "tests.fixture_plugins.api_things",
                                     "api_invoices": "tests.fixture_plugins.api_invoices"}}


@pytest.fixture
def shop(app, tenant):
    """Factory: a tenant (tier profi) with the fixture plugin's features granted (or not)."""
    from core.db import db
    from core.tenants import get_tenant, set_feature

    def make(*features: str):
        t = tenant()
        with app.app_context():
            for feature in features:
                set_feature(get_tenant(t.slug), feature, True)
            db.session.commit()
        return t

    return make


@pytest.fixture
def api(app, user, token):
    """Factory: a test client with an API token of a new user of ``role`` in tenant ``t``."""

    def make(t, role: str = "owner"):
        u = user(role=role, tenant=t)
        client = app.test_client()
        # English unless a test asks otherwise (the tenant's default language is Russian)
        client.environ_base.update(HTTP_AUTHORIZATION=f"Bearer {token(u)}", HTTP_ACCEPT_LANGUAGE="en")
        client.user = u
        return client

    return make


def _thing(client, **overrides):
    body = {"code": "C1", "name": "Oil filter", "price": "12.50", **overrides}
    response = client.post(THINGS, json=body)
    assert response.status_code == 201, response.json
    return response.json


def _audit(app, t, object_id=None):
    from core.audit import AuditLog
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context

    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, t.id))):
        stmt = select(AuditLog).where(AuditLog.object_type == "api_things_thing").order_by(AuditLog.id)
        if object_id is not None:
            stmt = stmt.where(AuditLog.object_id == object_id)
        return [(row.action, row.changes, row.actor) for row in db.session.scalars(stmt)]


def test_crud_round_trip_with_audit(app, shop, api):
    t = shop("api_things.use")
    client = api(t)
    created = client.post(THINGS, json={"code": "F-1", "name": "Фильтр масляный", "price": "1250.5"})
    assert created.status_code == 201
    thing = created.json
    assert created.headers["Location"] == f"{THINGS}/{thing['id']}"
    # money is a string with two decimals, never a float
    assert thing == {"id": thing["id"], "version": 1, "code": "F-1", "name": "Фильтр масляный", "kind": "part",
                     "active": True, "price": "1250.50"}
    assert client.get(f"{THINGS}/{thing['id']}").json == thing

    updated = client.patch(f"{THINGS}/{thing['id']}", json={"version": 1, "price": 99.99, "kind": "labour"})
    assert updated.status_code == 200, updated.json
    assert updated.json["price"] == "99.99" and updated.json["kind"] == "labour" and updated.json["version"] == 2
    # a PATCH that changes nothing writes nothing
    same = client.patch(f"{THINGS}/{thing['id']}", json={"version": 2, "kind": "labour"})
    assert same.status_code == 200 and same.json["version"] == 2

    assert client.delete(f"{THINGS}/{thing['id']}").status_code == 204
    assert client.get(f"{THINGS}/{thing['id']}").status_code == 404

    rows = _audit(app, t, thing["id"])
    assert [action for action, _c, _a in rows] == ["create", "update", "delete"]
    assert rows[0][1]["price"] == [None, "1250.50"] and rows[0][1]["name"] == [None, "Фильтр масляный"]
    assert rows[1][1] == {"kind": ["part", "labour"], "price": ["1250.50", "99.99"], "version": [1, 2]}
    assert rows[2][1]["code"] == ["F-1", None]
    assert {actor for _x, _c, actor in rows} == {client.user.email}


def test_list_pages_filters_sorts_and_searches(app, shop, api):
    client = api(shop("api_things.use"))
    rows = [("A1", "Иванов тормоза", "300", "part", True), ("A2", "иваново масло", "100", "labour", True),
            ("B1", "Brake pads", "200", "part", False), ("B2", "brake disc", "50.5", "part", True),
            ("C1", "100%_off", "10", "labour", True)]
    for code, name, price, kind, active in rows:
        _thing(client, code=code, name=name, price=price, kind=kind, active=active)

    page = client.get(f"{THINGS}?per_page=2&page=2&sort=code").json
    assert [i["code"] for i in page["items"]] == ["B1", "B2"]
    assert (page["total"], page["page"], page["per_page"], page["pages"]) == (5, 2, 2, 3)

    def codes(query):
        response = client.get(f"{THINGS}?{query}")
        assert response.status_code == 200, response.json
        return [i["code"] for i in response.json["items"]]

    assert codes("sort=-price") == ["A1", "B1", "A2", "B2", "C1"]
    assert codes("sort=-price&per_page=1") == ["A1"]
    assert codes("kind=labour") == ["A2", "C1"]
    assert codes("active=false") == ["B1"]
    assert codes("code=A1,B2,ZZ") == ["A1", "B2"]
    assert codes("kind=part&active=true&sort=-code") == ["B2", "A1"]
    # case-insensitive prefix search over name and code, Cyrillic included, on both databases
    assert codes("q=ИВАН") == ["A1", "A2"]
    assert codes("q=brake&sort=name") == ["B1", "B2"]
    assert codes("q=b2") == ["B2"]
    assert codes("q=100%25_") == ["C1"]  # LIKE wildcards in the query are literal
    assert codes("q=100__") == []

    assert client.get(f"{THINGS}?sort=-secret").status_code == 400
    bad = client.get(f"{THINGS}?colour=red&per_page=1000")
    assert bad.status_code == 400 and set(bad.json["fields"]) == {"colour"}
    assert client.get(f"{THINGS}?per_page=1000").status_code == 400
    assert client.get(f"{THINGS}?active=maybe").json["fields"] == {"active": ["Not a valid boolean."]}


def test_validation_errors_name_each_field_and_write_nothing(app, shop, api):
    t = shop("api_things.use")
    client = api(t)
    response = client.post(THINGS, json={"name": "", "price": 10.001, "kind": "gold", "colour": "red"})
    assert response.status_code == 422
    body = response.json
    assert body["error"] == "validation"
    assert body["fields"] == {
        "code": ["Missing data for required field."],
        "name": ["Length must be between 1 and 200."],
        "price": ["At most two decimal places."],
        "kind": ["Must be one of: part, labour."],
        "colour": ["Unknown field."],
    }
    assert client.post(THINGS, json={"code": "X", "name": "y", "price": True}).json["fields"] == {
        "price": ["Not a valid amount of money."]}
    # read-only fields are not accepted either
    assert client.post(THINGS, json={"code": "X", "name": "y", "price": "1", "id": 7}).status_code == 422

    malformed = client.post(THINGS, data="{not json", content_type="application/json")
    assert malformed.status_code == 400 and malformed.json["error"] == "bad_request"
    assert client.post(THINGS, json=[1, 2]).status_code == 400
    assert client.get(THINGS).json["total"] == 0
    assert _audit(app, t) == []


def test_validation_messages_follow_the_users_language(app, shop, api):
    from flask_babel import gettext

    client = api(shop("api_things.use"))
    response = client.post(THINGS, json={"name": "x" * 201, "price": "abc"}, headers={"Accept-Language": "ru"})
    assert response.status_code == 422
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        expected = {
            "code": [gettext("Missing data for required field.")],
            "name": [gettext("Length must be between %(min)s and %(max)s.", min=1, max=200)],
            "price": [gettext("Not a valid amount of money.")],
        }
    assert response.json["fields"] == expected
    english = client.post(THINGS, json={"name": "x" * 201, "price": "abc"}, headers={"Accept-Language": "en"})
    assert english.json["fields"]["name"] == ["Length must be between 1 and 200."]
    if expected["code"][0] != "Missing data for required field.":  # once the ru catalog has it
        assert any("\u0400" <= ch <= "\u04ff" for ch in response.json["fields"]["code"][0])


def test_stale_version_is_a_conflict_that_names_the_changes(app, shop, api):
    t = shop("api_things.use")
    alice, bob = api(t, "service_advisor"), api(t, "service_advisor")
    thing = _thing(alice)
    url = f"{THINGS}/{thing['id']}"
    assert bob.get(url).json["version"] == 1
    assert alice.patch(url, json={"version": 1, "name": "Renamed by Alice"}).status_code == 200

    stale = bob.patch(url, json={"version": 1, "price": "1.00"})
    assert stale.status_code == 409
    assert stale.json["error"] == "conflict"
    assert stale.json["current_version"] == 2 and stale.json["your_version"] == 1
    assert stale.json["changed_fields"] == ["name"]
    assert alice.get(url).json == {**thing, "name": "Renamed by Alice", "version": 2}

    missing = bob.patch(url, json={"price": "1.001"})
    assert missing.status_code == 422 and missing.json["fields"] == {
        "version": ["Missing data for required field."], "price": ["At most two decimal places."]}
    retried = bob.patch(url, json={"version": 2, "price": "1.00"})
    assert retried.status_code == 200 and retried.json["version"] == 3


def test_a_failing_write_leaves_no_trace(app, shop, api):
    t = shop("api_things.use")
    client = api(t)
    first = _thing(client, code="ONE")
    second = _thing(client, code="TWO")
    url = f"{THINGS}/{second['id']}"
    # two fields change, the unique code fails in the database: neither is saved, nothing audited
    clash = client.patch(url, json={"version": 1, "name": "changed", "code": "ONE"})
    assert clash.status_code == 422 and clash.json["fields"] == {"code": ["Already exists."]}
    assert client.get(url).json == second
    # a rule only the database enforces (price >= 0): the insert fails, no row, no audit
    negative = client.post(THINGS, json={"code": "NEG", "name": "x", "price": "-1.00"})
    assert negative.status_code == 409
    assert client.get(THINGS).json["total"] == 2
    assert [a for a, _c, _u in _audit(app, t)] == ["create", "create"]
    assert client.get(f"{THINGS}/{first['id']}").json == first


def test_roles_without_the_permission_get_403_and_anonymous_401(app, shop, api):
    t = shop("api_things.use")
    owner = api(t)
    thing = _thing(owner)
    url = f"{THINGS}/{thing['id']}"
    technician = api(t, "technician")
    assert technician.get(url).status_code == 200
    assert technician.get(THINGS).status_code == 200
    for response in (technician.post(THINGS, json={"code": "T", "name": "t", "price": "1"}),
                     technician.patch(url, json={"version": 1, "name": "t"}),
                     technician.delete(url)):
        assert response.status_code == 403 and response.json["error"] == "forbidden"
    cashier = api(t, "cashier")
    assert cashier.get(THINGS).status_code == 403
    advisor = api(t, "service_advisor")
    assert advisor.delete(url).status_code == 403
    assert owner.get(url).json == thing

    anonymous = app.test_client()
    for path in (THINGS, url, "/api/v1/me", "/api/v1/nope/nothing"):
        response = anonymous.get(path)
        assert response.status_code == 401 and response.json["error"] == "unauthorized"
    assert anonymous.post(THINGS, json={}).status_code == 401
    bad_token = app.test_client()
    bad_token.environ_base["HTTP_AUTHORIZATION"] = "Bearer gt_1_not-a-real-token"
    assert bad_token.get(THINGS).status_code == 401


def test_a_browser_session_reads_the_api_too(app, shop, user, login, client):
    t = shop("api_things.use")
    u = user(role="technician", tenant=t)
    login(client, u)
    assert client.get(THINGS).json["total"] == 0
    assert client.get("/api/v1/me").json["user"]["email"] == u.email


def test_custom_plugin_routes_win_over_generic_ones(app, shop, api):
    client = api(shop("api_things.use"))
    thing = _thing(client, code="Z9", name="Zed")
    # /api/v1/<slug>/<resource> would also match /stats: the plugin's own route answers
    assert client.get("/api/v1/api_things/stats").json == {"count": 1}
    assert client.get(f"{THINGS}/{thing['id']}/summary").json == {"summary": "Z9: Zed"}
    # a plugin's view may let marshmallow's ValidationError escape, or raise ApiError
    invalid = client.post("/api/v1/api_things/things/check", json={"code": "X", "price": 1.001})
    assert invalid.status_code == 422 and invalid.json["fields"] == {
        "name": ["Missing data for required field."], "price": ["At most two decimal places."]}
    taken = client.post("/api/v1/api_things/things/check", json={"code": "TAKEN", "name": "n", "price": "1"})
    assert taken.status_code == 409 and taken.json == {"error": "taken", "message": "This code is reserved"}
    # the generic rules still serve unknown names under the prefix, as a JSON 404
    assert client.get("/api/v1/api_things/gadgets").json["error"] == "not_found"


def test_me_describes_user_tenant_tier_features_and_plugins(app, shop, api):
    t = shop("api_things.use")
    client = api(t, "technician")
    me = client.get("/api/v1/me").json
    assert me["user"]["email"] == client.user.email and me["user"]["role"] == "technician"
    assert "api_things.thing.read" in me["user"]["permissions"]
    assert me["tenant"]["slug"] == t.slug and me["tier"] == "profi"
    assert "api_things.use" in me["features"] and "api_things.premium" not in me["features"]
    assert "api_things" in [p["slug"] for p in me["plugins"]]


# --- matrices generated from the URL map ------------------------------------------------------------


def _api_requests(app, slug_resources, values, prefix="/api/"):
    """(rule, method, url) for every rule under ``prefix`` that can be built for the given resources
    and values: generic rules once per (slug, resource), plugin rules once."""
    adapter = app.url_map.bind("localhost")
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefix) or rule.endpoint == "static":
            continue
        combos = slug_resources if {"slug", "resource"} <= rule.arguments else [{}]
        for combo in combos:
            args = {k: v for k, v in combo.items() if k in rule.arguments}
            for name in rule.arguments - set(args):
                if name not in values:
                    break
                args[name] = values[name]
            else:
                for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                    out.append((rule, method, adapter.build(rule.endpoint, args, method=method)))
    return out


def _call(client, method, url):
    body = {"version": 1, "name": "hijacked", "reason": "hijack", "code": "H", "price": "1"}
    return client.open(url, method=method, json=body if method in ("POST", "PATCH", "PUT", "DELETE") else None)


def test_cross_tenant_matrix_every_id_route_answers_404(app, shop, api):
    """For every id-bearing API rule and method, tenant B gets 404 for tenant A's object (an entity
    and a numbered document, each with the plan that includes it)."""
    features = ("api_things.use", "api_invoices.use")
    owner_a = api(shop(*features))
    owner_b = api(shop(*features))
    thing = _thing(owner_a, code="MINE")
    invoice = owner_a.post("/api/v1/api_invoices/invoices", json={"customer": "A", "total": "5.00"}).json
    _thing(owner_b, code="THEIRS")
    combos = [{"slug": "api_things", "resource": "things", "object_id": thing["id"]},
              {"slug": "api_invoices", "resource": "invoices", "object_id": invoice["id"]}]
    values = {"thing_id": thing["id"], "name": "issue"}
    requests = [(rule, method, url) for rule, method, url in _api_requests(app, combos, values)
                if {a for a in rule.arguments if a == "id" or a.endswith("_id")}]
    covered = {(rule.endpoint, method) for rule, method, _url in requests}
    assert {("core_api.item", "GET"), ("core_api.item", "PATCH"), ("core_api.item", "DELETE"),
            ("core_api.run_transition", "POST"), ("core_api.print_html", "GET"), ("core_api.print_pdf", "GET"),
            ("api_things_api.summary", "GET")} <= covered
    assert any("/api_invoices/invoices/" in url for _r, _m, url in requests)
    for rule, method, url in requests:
        response = _call(owner_b, method, url)
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.is_json and response.json["error"] == "not_found", (method, url)
    # each URL answers its owner (what B got was no 404 by accident)
    for rule, method, url in requests:
        if method == "GET" and "/print" not in url:
            assert owner_a.get(url).status_code == 200, url
    assert owner_a.get(f"/api/v1/api_invoices/invoices/{invoice['id']}").json == invoice
    # and the object is untouched, while its owner still reads it
    assert owner_a.get(f"{THINGS}/{thing['id']}").json == thing
    # lists, totals and the plugin's own counts are per tenant too
    listed = owner_b.get(THINGS).json
    assert listed["total"] == 1 and [i["code"] for i in listed["items"]] == ["THEIRS"]
    assert owner_b.get(f"{THINGS}?q=MINE").json["total"] == 0
    assert owner_b.get("/api/v1/api_things/stats").json == {"count": 1}


def test_tier_matrix_every_plugin_route_answers_404_without_the_feature(app, shop, api, login):
    """Every generic and blueprint route under the plugin's prefix answers 404, like an unknown one."""
    full = api(shop("api_things.use", "api_things.premium", "api_invoices.use"))
    thing = _thing(full)
    invoice = full.post("/api/v1/api_invoices/invoices", json={"customer": "A"}).json
    lacking = api(shop())  # tier profi: none of the fixture plugins' features
    half = api(shop("api_things.use"))  # the plugin is active, the premium resource is not
    unknown = lacking.get("/api/v1/no_such_plugin/things").json
    from core.api.resources import resources

    with app.app_context():
        slug_resources = [{"slug": s, "resource": res, "object_id": invoice["id"] if s == "api_invoices" else thing["id"]}
                          for (s, res) in resources() if s in ("api_things", "api_invoices")]
    values = {"thing_id": thing["id"], "name": "issue"}
    prefixes = ("/api/v1/api_things/", "/api/v1/api_invoices/")
    requests = [(rule, method, url) for rule, method, url in _api_requests(app, slug_resources, values)
                if url.startswith(prefixes)]
    assert len({rule.rule for rule, _m, _u in requests}) >= 8  # 5 generic rules + 3 of the blueprint
    assert {"/api/v1/api_things/premium-things", THINGS, "/api/v1/api_invoices/invoices"} <= {
        url for _r, _m, url in requests}
    for rule, method, url in requests:
        response = _call(lacking, method, url)
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json == unknown, (method, url)
    for rule, method, url in requests:
        if "/premium-things" in url:
            response = _call(half, method, url)
            assert response.status_code == 404 and response.json == unknown, (method, url)
    assert full.get("/api/v1/api_things/premium-things").json["total"] == 1
    assert half.get(THINGS).status_code == 200

    # the UI pages under /api_things/ (the UI's generic pages included) are gated the same way
    app.config["WTF_CSRF_ENABLED"] = False  # reach the gate with form posts; CSRF is tested elsewhere
    browser = login(app.test_client(), lacking.user)
    pages = [(rule, method, url) for rule, method, url in _api_requests(app, slug_resources, values, prefix="/")
             if url.startswith(("/api_things/", "/api_invoices/"))]
    assert pages, "the UI registers generic pages for entities"
    for rule, method, url in pages:
        response = browser.open(url, method=method, data={"name": "x"} if method == "POST" else None)
        assert response.status_code == 404, (method, url, response.status_code)


# --- OpenAPI, docs page, health ---------------------------------------------------------------------


def test_openapi_document_is_valid_and_covers_generic_and_custom_routes(app, client):
    from openapi_spec_validator import validate

    spec = client.get("/api/v1/openapi.json").json
    validate(spec)
    paths = spec["paths"]
    assert set(paths[THINGS]) == {"get", "post"}
    assert set(paths[THINGS + "/{id}"]) >= {"get", "patch", "delete"}
    assert "/api/v1/api_things/stats" in paths and "/api/v1/me" in paths and "/healthz" in paths
    thing = spec["components"]["schemas"]["ApiThingsThing"]
    assert thing["properties"]["price"] == {"type": "string", "format": "decimal"}
    assert thing["properties"]["id"]["readOnly"] is True
    assert set(thing["required"]) == {"code", "name", "price"}
    params = {p["name"] for p in paths[THINGS]["get"]["parameters"]}
    assert params == {"page", "per_page", "sort", "q", "kind", "active", "code"}

    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/v1/api_things/things/{id}" in html and "ApiThingsThing" in html and "<script" not in html


def test_healthz_reports_the_database(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path):
    from core import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                      "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "unreachable"}


def test_unknown_api_urls_and_methods_answer_json(app, client):
    missing = client.get("/api/v1/deeply/nested/unknown/url/here")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"
    wrong = client.put("/api/v1/me")
    assert wrong.status_code == 405 and wrong.json["error"] == "method_not_allowed"
