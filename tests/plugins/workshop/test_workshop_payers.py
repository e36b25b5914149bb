"""Several payers per work order: exact splitting, the insurer's excess, VAT per payer."""
from decimal import Decimal

API = "/api/v1/workshop"
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.workshop import money

amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("10000000"), places=2)


@st.composite
def percent_lists(draw):
    """Between 1 and 6 percentages with two decimals that add up to exactly 100."""
    n = draw(st.integers(min_value=1, max_value=6))
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=10000), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 10000]
    return [Decimal(b - a) / 100 for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=300, deadline=None)
@given(total=amounts, percents=percent_lists())
def test_percentage_shares_always_add_up_to_the_line_to_the_kopeck(total, percents):
    parts = money.split_by_percent(total, percents)
    assert sum(parts) == total
    for part, pct in zip(parts, percents):
        assert part == part.quantize(Decimal("0.01"))
        assert abs(part - total * pct / 100) < Decimal("0.01")  # never more than a kopeck off its exact share


@settings(max_examples=200, deadline=None)
@given(total=amounts, percents=percent_lists(), fixed=st.lists(amounts, max_size=3))
def test_fixed_and_percentage_shares_add_up_to_the_line(total, percents, fixed):
    shares = [money.Share(("fixed", i), amount=a) for i, a in enumerate(fixed)]
    shares += [money.Share(("pct", i), percent=p) for i, p in enumerate(percents)]
    if sum(fixed) > total:
        try:
            money.split_line(total, shares, "client")
        except money.SplitError:
            return
        raise AssertionError("fixed shares above the line's amount must be refused")
    split = money.split_line(total, shares, "client")
    assert sum(amount for _payer, amount in split) == total
    assert all(amount >= 0 for _payer, amount in split)


def test_vat_modes_and_excess():
    assert money.vat(Decimal("1200.00"), "included", Decimal("20")) == (Decimal("1000.00"), Decimal("200.00"),
                                                                       Decimal("1200.00"))
    assert money.vat(Decimal("1000.00"), "on_top", Decimal("20")) == (Decimal("1000.00"), Decimal("200.00"),
                                                                     Decimal("1200.00"))
    assert money.vat(Decimal("1000.00"), "none", Decimal("20"))[1] == 0
    after, moved = money.apply_excess({None: Decimal("10"), 1: Decimal("300")}, {1: Decimal("500")}, None)
    assert after == {None: Decimal("310"), 1: Decimal("0")} and moved == {1: Decimal("300")}


def test_client_and_insurer_share_an_order(shop):
    client, car = shop.client_and_car()
    insurer = shop.insurer()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"], odometer=81000)
    body = shop.line(wo["id"], name="Ремонт двери передней левой", fixed_price="10000.00")["line"]
    paint = shop.line(wo["id"], "part-lines", name="Краска и материалы", quantity="1", price="3333.33")["line"]

    # Only an insurer-marked counterparty can be an insurer; the excess belongs to insurers only.
    r = shop.api.put(f"{API}/work-orders/{wo['id']}/payers",
                     json={"payers": [{"kind": "insurer", "counterparty_id": client["id"]}]})
    assert r.status_code == 422 and "counterparty_id" in r.get_json()["fields"]["0"]
    r = shop.api.put(f"{API}/work-orders/{wo['id']}/payers",
                     json={"payers": [{"kind": "fleet", "counterparty_id": insurer["id"], "excess": "5"}]})
    assert r.status_code == 422 and "excess" in r.get_json()["fields"]["0"]
    r = shop.api.put(f"{API}/work-orders/{wo['id']}/payers", json={"payers": [
        {"kind": "insurer", "counterparty_id": insurer["id"], "claim_number": "ОСАГО ХХХ 0123456789",
         "excess": "1000.00"}]})
    assert r.status_code == 200, r.get_json()
    payer_id = r.get_json()["payers"][0]["id"]

    shares = f"{API}/work-orders/{wo['id']}/labor-lines/{body['id']}/shares"
    r = shop.api.put(shares, json={"shares": [{"payer_id": payer_id, "percent": "60"},
                                              {"payer_id": None, "percent": "30"}]})
    assert r.status_code == 422  # 90 %
    r = shop.api.put(shares, json={"shares": [{"payer_id": payer_id, "amount": "10000.01"}]})
    assert r.status_code == 422  # more than the line
    r = shop.api.put(shares, json={"shares": [{"payer_id": payer_id, "percent": "100"}]})
    assert r.status_code == 200, r.get_json()
    r = shop.api.put(f"{API}/work-orders/{wo['id']}/part-lines/{paint['id']}/shares",
                     json={"shares": [{"payer_id": payer_id, "percent": "33.33"}, {"percent": "66.67"}]})
    assert r.status_code == 200, r.get_json()
    line = r.get_json()["line"]
    assert [s["share_amount"] for s in line["shares"]] == ["1111.00", "2222.33"]  # largest remainder

    totals = shop.api.get(f"{API}/work-orders/{wo['id']}/totals").get_json()
    by_kind = {p["kind"]: p for p in totals["payers"]}
    assert by_kind["insurer"]["lines"] == "11111.00" and by_kind["insurer"]["excess"] == "-1000.00"
    assert by_kind["insurer"]["total"] == "10111.00" and by_kind["insurer"]["claim_number"].startswith("ОСАГО")
    assert by_kind["client"]["lines"] == "2222.33" and by_kind["client"]["total"] == "3222.33"
    assert totals["total"] == "13333.33" == str(sum(Decimal(p["total"]) for p in totals["payers"]))

    # The line gets cheaper than a fixed share: refused, nothing changed.
    shop.api.put(shares, json={"shares": [{"payer_id": payer_id, "amount": "9000.00"}]})
    r = shop.api.patch(f"{API}/work-orders/{wo['id']}/labor-lines/{body['id']}", json={"fixed_price": "8000.00"})
    assert r.status_code == 422
    assert shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"][0]["fixed_price"] == "10000.00"
    printed = shop.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True)
    assert "СПАО «Ингосстрах»" in printed and "ОСАГО ХХХ 0123456789" in printed


def test_vat_follows_the_tenant_setting_when_the_order_was_made(shop):
    with shop.ctx() as s:
        from core.models import Tenant

        row = s.get(Tenant, shop.tenant.id)
        row.vat_mode, row.vat_rate = "on_top", Decimal("20.00")
        s.commit()
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    shop.line(wo["id"], name="Диагностика ходовой", hours="0.7", rate="1500.00")  # 1050.00
    with shop.ctx() as s:
        row = s.get(Tenant, shop.tenant.id)
        row.vat_mode = "none"  # a later change does not rewrite the existing order
        s.commit()
    got = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()
    assert (got["vat_mode"], got["totals"]["net"], got["totals"]["vat"], got["total"]) == \
        ("on_top", "1050.00", "210.00", "1260.00")
