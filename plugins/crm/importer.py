"""CSV/XLSX import of clients and vehicles.

All-or-nothing per file: every row is validated first (the same schemas as the API, including the
duplicate checks against the directory and against earlier rows of the same file); if any row is bad
nothing is written and the report lists every bad row with its field errors (row numbers as the user
sees them in the spreadsheet: the header is row 1). A clean file is written in one transaction with one
audit row naming what was created. Half-imported files are what users hate most: fixing the sheet and
importing it again is simpler than finding which rows made it.

Columns (header names, case-insensitive; unknown columns are ignored):

* clients: ``name`` (required), ``kind`` (person/company), ``phones`` and ``emails`` (several separated
  by ``;`` or ``,``), ``inn``, ``kpp``, ``legal_address``, ``source``, ``notes``;
* vehicles: ``vin``, ``plate``, ``make``, ``model``, ``year``, ``engine``, ``fuel``, ``colour``,
  ``client_id`` or ``client_phone`` (the owner, found by phone), ``odometer`` (a reading, source import).
"""
from __future__ import annotations

import csv
import io
import re

from marshmallow import ValidationError

from core import audit
from core.db import db
from core.i18n import domain

from .models import Client, Vehicle
from .normalize import InvalidValue, clean_vin, fold_plate, normalize_phone
from .schemas import ClientSchema, VehicleSchema, find_phone_owner

_ = domain("crm").gettext
_l = domain("crm").lazy_gettext

KINDS = ("clients", "vehicles")
MAX_ROWS = 50_000
_SPLIT = re.compile(r"[;,\n]+")


class ImportRejected(ValueError):
    def __init__(self, message, rows: list[dict]):
        super().__init__(str(message))
        self.message = message
        self.rows = rows


def read_rows(filename: str, content: bytes) -> list[dict]:
    """Rows as dicts keyed by lower-cased header; empty rows skipped; ``_row`` is the sheet's row number."""
    if filename.lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
        except Exception:  # noqa: BLE001 - any unreadable workbook is the same answer to the user
            raise ImportRejected(_l("This is not a readable XLSX file."), []) from None
        raw = [["" if c is None else str(c).strip() for c in row] for row in sheet.iter_rows(values_only=True)]
    else:
        text = content.decode("utf-8-sig", errors="replace")
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        raw = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), dialect)]
    if not raw:
        raise ImportRejected(_l("The file is empty."), [])
    header = [h.strip().lower() for h in raw[0]]
    rows = []
    for number, values in enumerate(raw[1:], start=2):
        if not any(values):
            continue
        row = {h: (values[i] if i < len(values) else "") for i, h in enumerate(header) if h}
        row["_row"] = number
        rows.append(row)
    if len(rows) > MAX_ROWS:
        raise ImportRejected(_l("At most %(n)s rows per file.", n=MAX_ROWS), [])
    return rows


def _opt(row: dict, key: str):
    value = (row.get(key) or "").strip()
    return value or None


def _client_payload(row: dict) -> dict:
    payload = {"name": row.get("name", ""), "kind": _opt(row, "kind") or "person",
               "phones": [p.strip() for p in _SPLIT.split(row.get("phones") or row.get("phone") or "") if p.strip()],
               "emails": [e.strip() for e in _SPLIT.split(row.get("emails") or row.get("email") or "") if e.strip()]}
    for key in ("inn", "kpp", "legal_address", "source", "notes"):
        if _opt(row, key):
            payload[key] = _opt(row, key)
    return payload


def _vehicle_payload(row: dict, errors: dict) -> dict:
    payload = {}
    for key in ("vin", "plate", "make", "model", "engine", "fuel", "colour"):
        if _opt(row, key):
            payload[key] = _opt(row, key)
    if _opt(row, "year"):
        payload["year"] = _opt(row, "year")
    if _opt(row, "client_id"):
        payload["client_id"] = _opt(row, "client_id")
    elif _opt(row, "client_phone"):
        try:
            found = find_phone_owner([normalize_phone(row["client_phone"])])
        except InvalidValue as exc:
            errors["client_phone"] = [str(exc.message)]
            found = None
        if found:
            payload["client_id"] = found[0].id
        elif "client_phone" not in errors:
            errors["client_phone"] = [_("No client has the phone %(phone)s.", phone=row["client_phone"])]
    return payload


def _odometer(row: dict, errors: dict) -> int | None:
    """The row's ``odometer`` as an int (``45 000`` and a spreadsheet's ``45000.0`` too), or None; a bad
    value goes into ``errors`` in the validation pass, so that the report lists every bad row."""
    from .schemas import MAX_ODOMETER

    raw = _opt(row, "odometer")
    if raw is None:
        return None
    text = re.sub(r"[\s\u00a0]", "", raw)
    if re.fullmatch(r"\d+(\.0+)?", text) and int(text.split(".")[0]) <= MAX_ODOMETER:
        return int(text.split(".")[0])
    errors["odometer"] = [_("Mileage is a whole number from 0 to %(max)s.", max=MAX_ODOMETER)]
    return None


def _file_keys(kind: str, payload: dict) -> list[tuple[str, str]]:
    """The keys that must be unique within one file (checked even when the row has other errors)."""
    if kind == "vehicles":
        return [(f, v) for f, v in (("vin", clean_vin(payload.get("vin"))), ("plate", fold_plate(payload.get("plate"))))
                if v]
    keys = []
    for raw in payload.get("phones", []):
        try:
            keys.append(("phones", normalize_phone(raw)))
        except InvalidValue:
            pass
    return keys


def import_file(kind: str, filename: str, content: bytes, user=None) -> dict:
    rows = read_rows(filename, content)
    bad: list[dict] = []
    loaded: list[tuple[dict, dict]] = []
    seen: dict[str, int] = {}  # key -> first row number, for duplicates inside the file
    schema = ClientSchema() if kind == "clients" else VehicleSchema()
    for row in rows:
        errors: dict = {}
        payload = _client_payload(row) if kind == "clients" else _vehicle_payload(row, errors)
        if kind == "vehicles":
            row["_odometer"] = _odometer(row, errors)
        try:
            data = schema.load(payload)
        except ValidationError as exc:
            errors.update(exc.messages)
            data = None
        for field, value in _file_keys(kind, payload):
            if value in seen:
                errors.setdefault(field, []).append(
                    _("%(value)s is already in row %(row)s of this file.", value=value, row=seen[value]))
            else:
                seen[value] = row["_row"]
        if errors:
            errors.pop("duplicate_of", None)
            bad.append({"row": row["_row"], "errors": errors})
        else:
            loaded.append((row, data))
    if bad:
        raise ImportRejected(_l("%(n)s row(s) have errors; nothing was imported.", n=len(bad)), bad)
    created = []
    from .services import add_reading

    for row, data in loaded:
        obj = Client(**data) if kind == "clients" else Vehicle(**data)
        db.session.add(obj)
        db.session.flush()
        created.append(obj.id)
        if kind == "vehicles" and row.get("_odometer") is not None:
            add_reading(obj, row["_odometer"], source="import", user=user)
    audit.record("import", None, user=user, object_type=f"crm_{kind}",
                 changes={"file": [None, filename], "created": [None, created]})
    return {"created": len(created), "ids": created}
