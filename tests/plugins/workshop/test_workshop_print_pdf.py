"""The work order PDF has a real text layer in the shop's language: Cyrillic for a Russian shop,
Chinese for a shop set to zh (the fonts must carry the glyphs, else the text would be missing)."""
from io import BytesIO

API = "/api/v1/workshop"
from pypdf import PdfReader


def _pdf_text(shop, order_id) -> str:
    r = shop.api.get(f"{API}/work-orders/{order_id}/print.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    return "".join(page.extract_text() for page in PdfReader(BytesIO(r.data)).pages)


def _order_with_lines(shop):
    c, car = shop.client_and_car("Петров Пётр Сергеевич")
    wo = shop.work_order(client_id=c["id"], vehicle_id=car["id"], odometer=48000)
    shop.line(wo["id"], name="Замена масла ДВС", hours="1.5", rate="2000.00")
    shop.line(wo["id"], "part-lines", name="Фильтр масляный", quantity="1", price="850.00")
    return wo


def _language(shop, code):
    from core.models import Tenant

    with shop.ctx() as session:
        session.get(Tenant, shop.tenant.id).language = code
        session.commit()
    shop.api.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)  # the shop's language decides


def test_the_work_order_pdf_carries_cyrillic_text(shop):
    wo = _order_with_lines(shop)
    _language(shop, "ru")
    text = _pdf_text(shop, wo["id"])
    assert "Заказ-наряд" in text and wo["number"] in text
    assert "Петров Пётр Сергеевич" in text and "Замена масла ДВС" in text and "Фильтр масляный" in text


def test_the_work_order_pdf_is_in_chinese_for_a_chinese_shop(shop):
    wo = _order_with_lines(shop)
    _language(shop, "zh")
    text = _pdf_text(shop, wo["id"])
    assert "维修工单" in text and wo["number"] in text  # "Work order" in the zh catalog
    assert "Петров Пётр Сергеевич" in text  # the client's name stays as written


def test_the_print_is_in_the_shops_language_whoever_prints_it(shop):
    """An owner who reads the UI in English prints a Russian shop's work order in Russian."""
    wo = _order_with_lines(shop)
    _language(shop, "ru")
    shop.api.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = shop.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True)
    assert "Заказ-наряд" in page and "Work order" not in page
    assert shop.api.get(f"{API}/work-orders/999999").get_json()["message"].isascii()  # the UI stays English


def test_the_shops_logo_is_printed(shop):
    import base64

    from PIL import Image

    from core.branding import set_logo
    from core.models import Tenant

    png = BytesIO()
    Image.new("RGB", (300, 100), (10, 120, 200)).save(png, format="PNG")
    wo = _order_with_lines(shop)
    page = shop.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True)
    assert "data:image/png;base64," not in page  # no logo, no empty image
    with shop.ctx() as session:
        set_logo(session.get(Tenant, shop.tenant.id), png.getvalue())
        session.commit()
    page = shop.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True)
    uri = page.split('class="logo" src="', 1)[1].split('"', 1)[0]
    logo = Image.open(BytesIO(base64.b64decode(uri.removeprefix("data:image/png;base64,"))))
    assert logo.size == (300, 100) and logo.getpixel((5, 5))[:3] == (10, 120, 200)
    r = shop.api.get(f"{API}/work-orders/{wo['id']}/print.pdf")
    assert r.status_code == 200 and PdfReader(BytesIO(r.data)).pages[0].images  # the PDF embeds it
