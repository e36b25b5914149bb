"""Import of vehicles: odometer values are checked in the validation pass with the other fields, so the
per-row report lists every bad row and nothing is written."""
import io


def _upload(c, text):
    return c.post("/api/v1/crm/import/vehicles", data={"file": (io.BytesIO(text.encode()), "cars.csv")})


def test_bad_odometer_values_are_reported_per_row_and_nothing_is_written(crm, user, api_client):
    from sqlalchemy import func, select

    from plugins.crm.models import OdometerReading, Vehicle

    c = api_client(user(role="admin", tenant=crm.tenant))
    csv = ("plate;make;odometer\n"
           "А001АА77;Kia;45 000\n"      # row 2: fine (a thousands separator)
           "А002АА77;Kia;-5\n"          # row 3: negative
           "А003АА77;Kia;много\n"       # row 4: not a number
           "А004АА77;Kia;12.5\n"        # row 5: not whole
           "А005АА77;Kia;99999999\n"    # row 6: more than any odometer shows
           "А006АА77;Kia;\n")           # row 7: no reading, fine
    r = _upload(c, csv)
    assert r.status_code == 422, r.get_json()
    report = {row["row"]: row["errors"] for row in r.get_json()["rows"]}
    assert set(report) == {3, 4, 5, 6}
    assert all(set(errors) == {"odometer"} and "whole number" in errors["odometer"][0] for errors in report.values())
    with crm.ctx() as s:
        assert s.scalar(select(func.count(Vehicle.id))) == 0
        assert s.scalar(select(func.count(OdometerReading.id))) == 0

    r = _upload(c, "plate;make;odometer\nА001АА77;Kia;45 000\nА006АА77;Kia;45000.0\n")
    assert r.status_code == 201, r.get_json()
    with crm.ctx() as s:
        assert sorted(s.scalars(select(OdometerReading.value))) == [45000, 45000]
