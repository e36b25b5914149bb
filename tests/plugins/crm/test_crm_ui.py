"""Reception's pages: the generic client form carries several phones in one input; the search page."""
import re


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    return m.group(1)


def test_client_form_takes_several_phones_and_edit_is_not_its_own_duplicate(crm):
    c = crm.client
    page = c.get("/crm/clients/new").get_data(as_text=True)
    r = c.post("/crm/clients/new", data={"csrf_token": _csrf(page), "name": "Иванов Иван", "kind": "person",
                                         "phones": "8 916 123-45-67, +7 903 111 22 33"})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    url = r.headers["Location"]
    form = c.get(url + "/edit").get_data(as_text=True)
    assert 'value="+79161234567, +79031112233"' in form
    data = {"csrf_token": _csrf(form), "name": "Иванов Иван И.", "kind": "person", "phones": "+79161234567"}
    version = re.search(r'name="version"[^>]*value="(\d+)"', form)
    if version:
        data["version"] = version.group(1)
    assert c.post(url + "/edit", data=data).status_code == 302
    # A second client with the same phone is shown the first one instead of being saved.
    page = c.get("/crm/clients/new").get_data(as_text=True)
    r = c.post("/crm/clients/new", data={"csrf_token": _csrf(page), "name": "Дубль", "kind": "person",
                                         "phones": "89161234567"})
    assert r.status_code == 422 and "already belongs to Иванов Иван И." in r.get_data(as_text=True)
    results = c.get("/crm/search?q=4567").get_data(as_text=True)
    assert "Иванов Иван И." in results and "+79161234567" in results


def test_import_page_lists_bad_rows(crm, user, api_client):
    import io

    admin = api_client(user(role="admin", tenant=crm.tenant))
    page = admin.get("/crm/import").get_data(as_text=True)
    bad = "name,phones\nПетров,+7 916 100-00-01\n,+7 916 100-00-02\n".encode()
    r = admin.post("/crm/import", data={"csrf_token": _csrf(page), "kind": "clients",
                                        "file": (io.BytesIO(bad), "c.csv")})
    assert r.status_code == 422 and "<td>3</td><td>name</td>" in r.get_data(as_text=True)
    good = "name,phones\nПетров,+7 916 100-00-01\n".encode()
    r = admin.post("/crm/import", data={"csrf_token": _csrf(page), "kind": "clients",
                                        "file": (io.BytesIO(good), "c.csv")})
    assert r.status_code == 200 and "Imported: 1." in r.get_data(as_text=True)
    assert crm.client.get("/crm/import").status_code == 403  # a service advisor does not import


def test_the_shell_around_a_plugin_page_speaks_the_users_language(crm):
    """The header (menu, log out) is the core's: a plugin page that translates with its own domain must
    not turn it into English."""
    crm.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    page = crm.client.get("/crm/search?q=").get_data(as_text=True)
    assert "Меню" in page and "Выйти" in page and "Log out" not in page
    crm.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    page = crm.client.get("/crm/search?q=").get_data(as_text=True)
    assert "Log out" not in page and "Skip to content" not in page


def test_the_plan_widget_names_modules_not_built_yet_as_such(app, tenant, user, login):
    owner = login(app.test_client(), user(role="owner", tenant=tenant(tier="profi")))
    owner.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = owner.get("/").get_data(as_text=True)
    ready, _sep, later = page.partition("In your plan, not available yet:")
    assert "Clients and cars" in ready and "Warehouse" in later and "Warehouse" not in ready  # no pages yet
    icon = owner.get("/favicon.ico")
    assert icon.status_code == 301 and owner.get(icon.headers["Location"]).status_code == 200
