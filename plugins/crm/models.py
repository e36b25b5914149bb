"""CRM tables: counterparties with phones and e-mails, vehicles with plate/owner history, drivers,
odometer readings, search keys, manual service-book entries and recommendations.

Normalised search columns (``e164``/``digits_rev`` of phones, ``vin_rev`` and the folded ``plate`` of
vehicles, the name/plate rows of :class:`SearchKey`) are written by the models themselves (validators
and the session hooks in :mod:`plugins.crm.indexing`), so the generic REST API, the importer and the
services all keep them right without knowing about them.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core.db import Money, TenantScoped, db
from core.models import utcnow

from .normalize import (InvalidValue, clean_vin, fold_plate, normalize_email, normalize_phone,
                        phone_digits_reversed)

# Keys are compared byte-wise so that ``key >= 'p:A12' AND key < 'p:A12\uffff'`` is exactly "starts
# with" and uses the index. SQLite's default collation is binary already; PostgreSQL's may be a locale.
KeyString = String(64).with_variant(String(64, collation="C"), "postgresql")

CLIENT_KINDS = ("person", "company")
FUELS = ("petrol", "diesel", "hybrid", "electric", "lpg", "cng", "other")
ODOMETER_SOURCES = ("intake", "work_order", "client", "import", "telematics")
URGENCIES = ("low", "normal", "high", "critical")
RECOMMENDATION_SOURCES = ("visit", "inspection", "manual")
RECOMMENDATION_STATES = ("open", "accepted", "declined", "dismissed")


class TextList(list):
    """A list that prints as ``a, b`` (how a form input shows the phones of a client)."""

    def __str__(self) -> str:
        return ", ".join(self)


class Client(TenantScoped, db.Model):
    """A counterparty: a person or a company; a client, a supplier and/or an insurer."""

    __tablename__ = "crm_client"
    __table_args__ = (
        Index(None, "tenant_id", "name"),
        Index(None, "tenant_id", "inn"),
        Index(None, "tenant_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="person")
    name: Mapped[str] = mapped_column(String(200))
    is_client: Mapped[bool] = mapped_column(Boolean, default=True)
    is_supplier: Mapped[bool] = mapped_column(Boolean, default=False)
    is_insurer: Mapped[bool] = mapped_column(Boolean, default=False)
    # Company details (kind == "company"; a sole trader may have a 12-digit INN too).
    inn: Mapped[str | None] = mapped_column(String(12))
    kpp: Mapped[str | None] = mapped_column(String(9))
    legal_address: Mapped[str | None] = mapped_column(String(500))
    bank_name: Mapped[str | None] = mapped_column(String(200))
    bank_bik: Mapped[str | None] = mapped_column(String(9))
    bank_account: Mapped[str | None] = mapped_column(String(20))
    bank_corr_account: Mapped[str | None] = mapped_column(String(20))
    # Consent to messages (152-FZ / 38-FZ want the date it was given).
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_sms_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_email: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_email_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str | None] = mapped_column(String(80))  # advertising channel
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    phone_rows: Mapped[list["ClientPhone"]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="ClientPhone.position", lazy="selectin")
    email_rows: Mapped[list["ClientEmail"]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="ClientEmail.position", lazy="selectin")

    __mapper_args__ = {"version_id_col": version}

    # The API speaks in plain lists of strings; the rows carry the normalised search keys.
    @property
    def phones(self) -> list[str]:
        return TextList(p.e164 for p in self.phone_rows)

    @phones.setter
    def phones(self, values) -> None:
        wanted = []
        for value in values or []:
            e164 = normalize_phone(value)
            if e164 not in wanted:
                wanted.append(e164)
        existing = {p.e164: p for p in self.phone_rows}
        rows = []
        for position, e164 in enumerate(wanted):
            row = existing.get(e164) or ClientPhone(e164=e164)
            row.position = position
            rows.append(row)
        self.phone_rows = rows

    @property
    def emails(self) -> list[str]:
        return TextList(e.email for e in self.email_rows)

    @emails.setter
    def emails(self, values) -> None:
        wanted = []
        for value in values or []:
            email = normalize_email(value)
            if email.lower() not in [w.lower() for w in wanted]:
                wanted.append(email)
        existing = {e.email.lower(): e for e in self.email_rows}
        rows = []
        for position, email in enumerate(wanted):
            row = existing.get(email.lower()) or ClientEmail(email=email)
            row.email = email
            row.position = position
            rows.append(row)
        self.email_rows = rows

    @validates("consent_sms", "consent_email")
    def _stamp_consent(self, key, value):
        # The date of consent is part of the consent: stamp it when it is given, clear it when withdrawn.
        stamp = f"{key}_at"
        if value and not getattr(self, key, False) and getattr(self, stamp, None) is None:
            setattr(self, stamp, utcnow())
        elif not value:
            setattr(self, stamp, None)
        return bool(value)


class ClientPhone(TenantScoped, db.Model):
    __tablename__ = "crm_client_phone"
    __table_args__ = (
        Index(None, "tenant_id", "digits_rev"),
        Index(None, "tenant_id", "client_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20))
    digits_rev: Mapped[str] = mapped_column(KeyString)
    label: Mapped[str | None] = mapped_column(String(40))  # mobile, work, wife...
    position: Mapped[int] = mapped_column(Integer, default=0)
    client: Mapped[Client] = relationship(back_populates="phone_rows")

    @validates("e164")
    def _normalise(self, key, value):
        e164 = normalize_phone(value)
        self.digits_rev = phone_digits_reversed(e164)
        return e164


class ClientEmail(TenantScoped, db.Model):
    __tablename__ = "crm_client_email"
    __table_args__ = (
        Index(None, "tenant_id", "email"),
        Index(None, "tenant_id", "client_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    position: Mapped[int] = mapped_column(Integer, default=0)
    client: Mapped[Client] = relationship(back_populates="email_rows")


class Vehicle(TenantScoped, db.Model):
    __tablename__ = "crm_vehicle"
    __table_args__ = (
        UniqueConstraint("tenant_id", "vin"),  # NULLs are distinct: cars without a VIN are fine
        Index(None, "tenant_id", "vin_rev"),
        Index(None, "tenant_id", "plate"),
        Index(None, "tenant_id", "client_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("crm_client.id", ondelete="SET NULL"))  # owner
    vin: Mapped[str | None] = mapped_column(String(17))
    vin_rev: Mapped[str | None] = mapped_column(KeyString)
    plate: Mapped[str | None] = mapped_column(String(16))
    make: Mapped[str | None] = mapped_column(String(60))
    model: Mapped[str | None] = mapped_column(String(60))
    generation: Mapped[str | None] = mapped_column(String(60))
    year: Mapped[int | None] = mapped_column(Integer)
    engine: Mapped[str | None] = mapped_column(String(60))
    fuel: Mapped[str | None] = mapped_column(String(10))
    transmission: Mapped[str | None] = mapped_column(String(20))
    colour: Mapped[str | None] = mapped_column(String(40))
    odometer_unit: Mapped[str] = mapped_column(String(2), default="km")
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # Not lazy="joined": the generic API locks rows FOR UPDATE, which PostgreSQL refuses on an outer join.
    owner: Mapped[Client | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @validates("vin")
    def _vin(self, key, value):
        vin = clean_vin(value) or None
        self.vin_rev = vin[::-1] if vin else None
        return vin

    @validates("plate")
    def _plate(self, key, value):
        return fold_plate(value) or None


class PlateHistory(TenantScoped, db.Model):
    """Plates change (re-registration, a new region); the history keeps the old ones findable."""

    __tablename__ = "crm_vehicle_plate"
    __table_args__ = (Index(None, "tenant_id", "vehicle_id"), Index(None, "tenant_id", "plate"))
    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    plate: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Ownership(TenantScoped, db.Model):
    """Who owned the car when: a new owner keeps the car's history (it belongs to the car)."""

    __tablename__ = "crm_vehicle_owner"
    __table_args__ = (Index(None, "tenant_id", "vehicle_id"), Index(None, "tenant_id", "client_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("crm_client.id", ondelete="SET NULL"))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VehicleDriver(TenantScoped, db.Model):
    __tablename__ = "crm_vehicle_driver"
    __table_args__ = (UniqueConstraint("tenant_id", "vehicle_id", "client_id"), Index(None, "tenant_id", "client_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    note: Mapped[str | None] = mapped_column(String(200))


class OdometerReading(TenantScoped, db.Model):
    """Append-only: a wrong reading is flagged (or outweighed by later ones), never edited away."""

    __tablename__ = "crm_odometer_reading"
    __table_args__ = (Index(None, "tenant_id", "vehicle_id", "read_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    read_on: Mapped[date] = mapped_column(Date)
    value: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20), default="client")
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))


class SearchKey(TenantScoped, db.Model):
    """Normalised lookup keys of clients (``n:`` name word, ``d:`` name word minus one letter, ``t:``
    reversed phone digits) and vehicles (``p:`` plate suffix, ``v:`` reversed VIN).

    A search is one statement of a few index range scans ``key >= :prefix AND key < :prefix || U+FFFF``
    (portable to SQLite and PostgreSQL, no extension, no full scan).
    """

    __tablename__ = "crm_search_key"
    __table_args__ = (
        # Covering: a search's range scans read the ids from the index alone (PostgreSQL index-only
        # scans, SQLite covering index), no table row per hit.
        Index(None, "tenant_id", "key", "client_id", "vehicle_id"),
        Index(None, "tenant_id", "client_id"),
        Index(None, "tenant_id", "vehicle_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(KeyString)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))


class ServiceEntry(TenantScoped, db.Model):
    """A manual service-book entry: work done elsewhere, or before the shop used this system."""

    __tablename__ = "crm_service_entry"
    __table_args__ = (Index(None, "tenant_id", "vehicle_id", "performed_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    performed_on: Mapped[date] = mapped_column(Date)
    mileage: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    parts: Mapped[list] = mapped_column(JSON, default=list)
    performed_by: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Recommendation(TenantScoped, db.Model):
    """Deferred work: stays on the car until accepted or dismissed; a decline is kept with its date."""

    __tablename__ = "crm_recommendation"
    __table_args__ = (
        Index(None, "tenant_id", "vehicle_id", "state"),
        Index(None, "tenant_id", "state", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    job: Mapped[str | None] = mapped_column(String(200))
    parts: Mapped[list] = mapped_column(JSON, default=list)
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    source: Mapped[str] = mapped_column(String(12), default="visit")
    state: Mapped[str] = mapped_column(String(10), default="open")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    declined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


ALL_MODELS = [Client, ClientPhone, ClientEmail, Vehicle, PlateHistory, Ownership, VehicleDriver,
              OdometerReading, SearchKey, ServiceEntry, Recommendation]

__all__ = [m.__name__ for m in ALL_MODELS] + ["InvalidValue", "ALL_MODELS"]
