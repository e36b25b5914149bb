"""Photos: intake photos on a service order and a technician's photos of a job, uploaded as multipart
through the API and the pages (phone camera inputs), checked by content and size, thumbnails on the
pages, the service order's print, served only to the same shop with permission, deletable (audited)."""
import io
import re

from PIL import Image

API = "/api/v1/workshop"


def image_bytes(fmt="PNG", size=(800, 600), color=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def upload(api, url, data, name="photo.png", **fields):
    return api.post(url, data={"file": (io.BytesIO(data), name), **fields}, content_type="multipart/form-data")


def _service_order(shop):
    client, car = shop.client_and_car()
    return shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"], "odometer": 1000})


def _ui(shop, login):
    ui = shop.app.test_client()
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(ui, shop.user)
    return ui


def _csrf(ui, url):
    return re.search(r'name="csrf_token" value="([^"]+)"', ui.get(url).get_data(as_text=True)).group(1)


def test_intake_photos_upload_view_print_and_delete(shop, make_shop, login):
    so = _service_order(shop)
    png = image_bytes("PNG")
    r = upload(shop.api, f"{API}/service-orders/{so['id']}/photos", png, kind="damage", caption="Скол на двери")
    assert r.status_code == 201, r.get_json()
    photo = r.get_json()
    assert (photo["kind"], photo["caption"], photo["content_type"], photo["width"], photo["height"], photo["size"]) == (
        "damage", "Скол на двери", "image/png", 800, 600, len(png))
    jpeg = upload(shop.api, f"{API}/service-orders/{so['id']}/photos", image_bytes("JPEG"), name="dash.jpg",
                  kind="dashboard").get_json()
    assert jpeg["content_type"] == "image/jpeg"
    listed = shop.api.get(f"{API}/service-orders/{so['id']}/photos").get_json()["items"]
    assert [p["id"] for p in listed] == [photo["id"], jpeg["id"]]

    f = shop.api.get(photo["file_url"])
    assert f.status_code == 200 and f.data == png and f.mimetype == "image/png"
    assert f.headers["X-Content-Type-Options"] == "nosniff"
    thumb = shop.api.get(photo["thumb_url"])
    assert thumb.mimetype == "image/jpeg" and max(Image.open(io.BytesIO(thumb.data)).size) == 480

    # The file is in the store under the tenant's prefix.
    from core.storage import files_dir

    with shop.ctx():
        from plugins.workshop.photos import Photo, get_photo

        row = get_photo(photo["id"])
        assert row.key.startswith(f"{shop.tenant.id}/workshop/photos/")
        stored = files_dir(shop.app) / row.key
        assert stored.read_bytes() == png

    # The page shows the thumbnails and a camera-friendly upload form; the print embeds them.
    ui = _ui(shop, login)
    page = ui.get(f"/workshop/service-orders/{so['id']}").get_data(as_text=True)
    assert f'src="/workshop/photos/{photo["id"]}/thumb"' in page and "Скол на двери" in page
    assert 'accept="image/*" capture="environment"' in page and 'enctype="multipart/form-data"' in page
    assert ui.get(f"/workshop/photos/{photo['id']}/thumb").mimetype == "image/jpeg"
    printed = shop.api.get(f"{API}/service-orders/{so['id']}/print").get_data(as_text=True)
    assert printed.count('src="data:image/jpeg;base64,') == 2 and "Photos at reception" in printed
    assert shop.api.get(f"{API}/service-orders/{so['id']}/print.pdf").status_code == 200

    # Upload through the page (multipart form with the CSRF token).
    token = _csrf(ui, f"/workshop/service-orders/{so['id']}")
    r = ui.post(f"/workshop/service-orders/{so['id']}/photos", data={
        "csrf_token": token, "file": (io.BytesIO(image_bytes("WEBP")), "x.webp"), "kind": "other"},
        content_type="multipart/form-data")
    assert r.status_code == 302
    assert len(shop.api.get(f"{API}/service-orders/{so['id']}/photos").get_json()["items"]) == 3

    # Another shop: 404 for the photo, its file and its thumbnail, in the API and the pages.
    other = make_shop()
    for url in (photo["file_url"], photo["thumb_url"], f"{API}/photos/{photo['id']}",
                f"{API}/service-orders/{so['id']}/photos"):
        assert other.api.get(url).status_code == 404, url
    assert other.api.delete(f"{API}/photos/{photo['id']}").status_code == 404
    other_ui = _ui(other, login)
    assert other_ui.get(f"/workshop/photos/{photo['id']}/file").status_code == 404
    # Within the shop a role without the document's read permission gets 403 (none of the built-in
    # roles lacks it: the shop takes it from its cashiers' role).
    cashier = make_shop(role="cashier", t=shop.tenant)
    assert cashier.api.get(photo["file_url"]).status_code == 200
    assert cashier.api.delete(f"{API}/photos/{photo['id']}").status_code == 403
    with shop.ctx() as s:
        from sqlalchemy import select

        from core.models import Role

        role = s.execute(select(Role).where(Role.key == "cashier")).scalar_one()
        role.permissions = [p for p in role.permissions if p != "workshop.service_order.read"]
        s.commit()
    for url in (photo["file_url"], photo["thumb_url"], f"{API}/photos/{photo['id']}"):
        assert cashier.api.get(url).status_code == 403, url

    # Delete: 204, audited, the files leave the store.
    assert shop.api.delete(f"{API}/photos/{photo['id']}").status_code == 204
    assert shop.api.get(photo["file_url"]).status_code == 404
    assert not stored.exists()
    with shop.ctx() as s:
        from sqlalchemy import select

        from core.audit import AuditLog

        actions = s.execute(select(AuditLog.action).where(AuditLog.object_type == "workshop_photo",
                                                          AuditLog.object_id == photo["id"])
                            .order_by(AuditLog.id)).scalars().all()
        assert actions == ["create", "delete"]
        assert s.get(Photo, photo["id"]) is None


def test_uploads_are_checked_by_content_and_size_with_translated_errors(shop):
    so = _service_order(shop)
    url = f"{API}/service-orders/{so['id']}/photos"
    fake = upload(shop.api, url, b"<?php echo 'hi'; ?>" * 10, name="evil.jpg")
    assert fake.status_code == 422
    assert fake.get_json()["fields"]["file"] == ["This file is not a photo (JPEG, PNG, WebP or GIF)."]
    truncated = upload(shop.api, url, image_bytes("PNG")[:200], name="cut.png")
    assert truncated.status_code == 422 and "file" in truncated.get_json()["fields"]
    ru = shop.api.post(url, data={"file": (io.BytesIO(b"not an image"), "a.jpg")},
                       content_type="multipart/form-data", headers={"Accept-Language": "ru"})
    assert ru.status_code == 422 and "не фотография" in ru.get_json()["fields"]["file"][0]
    missing = shop.api.post(url, data={"kind": "damage"}, content_type="multipart/form-data")
    assert missing.status_code == 422 and missing.get_json()["fields"]["file"] == ["Choose a photo to upload."]
    bad_kind = upload(shop.api, url, image_bytes(), kind="selfie")
    assert bad_kind.status_code == 422 and "kind" in bad_kind.get_json()["fields"]

    shop.app.config["WORKSHOP_PHOTO_MAX_BYTES"] = 2 * 1024 * 1024
    big = Image.effect_noise((1400, 1400), 100).convert("RGB")
    out = io.BytesIO()
    big.save(out, "PNG")
    assert out.tell() > 2 * 1024 * 1024
    r = upload(shop.api, url, out.getvalue())
    assert r.status_code == 422 and r.get_json()["fields"]["file"] == ["The photo is too large: at most 2 MB."]
    assert shop.api.get(url).get_json()["items"] == []  # nothing was stored

    # A closed (cancelled) service order takes no more photos.
    shop.transition("service-orders", so["id"], "cancel")
    assert upload(shop.api, url, image_bytes()).status_code == 409


def test_technician_adds_a_photo_to_his_job(make_shop, login):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = owner.line(wo["id"], name="Замена колодок", hours="1", rate="2000.00", technician_id=tech.user.id)["line"]
    owner.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    owner.transition("work-orders", wo["id"], "approve")

    r = upload(tech.api, f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}/photos", image_bytes("JPEG"),
               name="pads.jpg", caption="Изношенные колодки")
    assert r.status_code == 201 and r.get_json()["labor_line_id"] == line["id"]
    assert r.get_json()["kind"] == "job"

    # The phone page: the job shows its photo and an upload form with the camera input.
    ui = _ui(tech, login)
    page = ui.get("/workshop/my-jobs").get_data(as_text=True)
    assert f'/workshop/photos/{r.get_json()["id"]}/thumb' in page
    assert f'action="/workshop/work-orders/{wo["id"]}/labor-lines/{line["id"]}/photos"' in page
    assert 'accept="image/*" capture="environment"' in page
    token = _csrf(ui, "/workshop/my-jobs")
    posted = ui.post(f"/workshop/work-orders/{wo['id']}/labor-lines/{line['id']}/photos", data={
        "csrf_token": token, "file": (io.BytesIO(image_bytes("PNG")), "p.png"), "next": "/workshop/my-jobs"},
        content_type="multipart/form-data")
    assert posted.status_code == 302 and posted.headers["Location"].endswith("/workshop/my-jobs")
    bad = ui.post(f"/workshop/work-orders/{wo['id']}/labor-lines/{line['id']}/photos", data={
        "csrf_token": token, "file": (io.BytesIO(b"text"), "p.png"), "next": "/workshop/my-jobs"},
        content_type="multipart/form-data", follow_redirects=True)
    assert "This file is not a photo" in bad.get_data(as_text=True)
    items = owner.api.get(f"{API}/work-orders/{wo['id']}/photos").get_json()["items"]
    assert [p["labor_line_id"] for p in items] == [line["id"], line["id"]]
    owner_page = _ui(owner, login).get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert all(f'/workshop/photos/{p["id"]}/thumb' in owner_page for p in items)
