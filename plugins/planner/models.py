"""Planner tables: bays, the shop's working time (hours, breaks, days off) and bookings.

Times of day (working hours, breaks) are the shop's wall-clock times in ``Tenant.timezone``; instants
(booking start and end) are stored in UTC and converted at the edges (API, UI), so a booking keeps its
real moment across a DST change.
"""
from __future__ import annotations

import secrets
from datetime import date, datetime, time, timezone

from sqlalchemy import (JSON, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text,
                        Time, UniqueConstraint, false)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from core.db import TenantScoped, db
from core.models import utcnow

BAY_TYPES = ("lift", "alignment", "diagnostics", "body", "other")
STATUSES = ("requested", "confirmed", "arrived", "converted", "no_show", "cancelled")
# Bookings in these states no longer hold their bay: a new booking may take the time.
RELEASED_STATUSES = ("cancelled", "no_show")
SOURCES = ("phone", "walk_in", "online")


class UTCDateTime(TypeDecorator):
    """An instant: aware UTC in Python on both databases.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the value is stored as naive UTC text
    (which also sorts and compares correctly there) and made aware again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _new_ics_token() -> str:
    return secrets.token_urlsafe(24)


class Bay(TenantScoped, db.Model):
    """A bay (post): a lift, an alignment stand, a diagnostics place..."""

    __tablename__ = "planner_bay"
    __table_args__ = (
        Index("ix_planner_bay_order", "tenant_id", "active", "position"),
        CheckConstraint("type IN ('lift', 'alignment', 'diagnostics', 'body', 'other')", name="type"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(20), default="lift")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Secret of the bay's calendar feed URL (no login): rotate it to revoke old subscriptions.
    ics_token: Mapped[str] = mapped_column(String(64), default=_new_ics_token)
    # planner.advanced: the share of this bay's capacity kept free for walk-ins and overruns; NULL: the
    # shop's ``buffer_percent`` setting.
    buffer_percent: Mapped[int | None] = mapped_column(Integer)


class WorkingHours(TenantScoped, db.Model):
    """Opening hours for one weekday (0 = Monday). ``bay_id`` NULL: the shop's hours; a row with a bay
    overrides the shop's hours for that bay on that weekday. No row for a weekday: closed."""

    __tablename__ = "planner_working_hours"
    __table_args__ = (
        Index("ix_planner_hours_weekday", "tenant_id", "weekday", "bay_id"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("opens < closes", name="order"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    bay_id: Mapped[int | None] = mapped_column(ForeignKey("planner_bay.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)


class Break(TenantScoped, db.Model):
    """A daily break (lunch) in local time; ``weekday`` NULL means every working day."""

    __tablename__ = "planner_break"
    __table_args__ = (
        Index("ix_planner_break_weekday", "tenant_id", "weekday"),
        CheckConstraint("starts < ends", name="order"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    weekday: Mapped[int | None] = mapped_column(Integer)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)
    title: Mapped[str] = mapped_column(String(120), default="")


class DayOff(TenantScoped, db.Model):
    """A holiday or a day off for the whole shop."""

    __tablename__ = "planner_day_off"
    __table_args__ = (UniqueConstraint("tenant_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(120), default="")


class Booking(TenantScoped, db.Model):
    """A visit booked on a bay. ``end_at`` is stored (start + duration) so overlap checks and the day
    view are one index range scan."""

    __tablename__ = "planner_booking"
    __table_args__ = (
        Index("ix_planner_booking_bay_start", "tenant_id", "bay_id", "start_at"),
        Index("ix_planner_booking_start", "tenant_id", "start_at"),
        Index("ix_planner_booking_status_start", "tenant_id", "status", "start_at"),
        CheckConstraint("duration_minutes > 0", name="duration"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    bay_id: Mapped[int] = mapped_column(ForeignKey("planner_bay.id", ondelete="RESTRICT"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    client_name: Mapped[str] = mapped_column(String(200), default="")
    client_phone: Mapped[str] = mapped_column(String(40), default="")
    vehicle: Mapped[str] = mapped_column(String(200), default="")
    client_id: Mapped[int | None] = mapped_column(Integer)  # crm_client.id when the tenant has the CRM
    vehicle_id: Mapped[int | None] = mapped_column(Integer)  # crm_vehicle.id
    reason: Mapped[str] = mapped_column(Text, default="")
    planned_jobs: Mapped[list] = mapped_column(JSON, default=list)
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="requested")
    source: Mapped[str] = mapped_column(String(20), default="phone")
    # The document the booking became (``planner_booking_convert``): {resource, id, number, url}.
    converted_to: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Optimistic locking: a save based on an old version is refused (409) instead of overwriting.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # planner.advanced: a sequence (diagnostics, then the lift...): the bays are held one after another
    # as its ``segments`` say, not all of them from start to end. Conflict checks read the segments.
    sequential: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    bay: Mapped[Bay] = relationship(lazy="raise")
    extra_bays: Mapped[list["BookingBay"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="BookingBay.bay_id"
    )
    segments: Mapped[list["BookingSegment"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="BookingSegment.position"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def bay_ids(self) -> list[int]:
        if self.sequential:
            return list(dict.fromkeys(seg.bay_id for seg in self.segments))
        return [self.bay_id] + [link.bay_id for link in self.extra_bays]

    def spans_on(self, bay_id: int) -> list[tuple[datetime, datetime]]:
        """When the booking holds ``bay_id``: its segments on that bay, or its whole time."""
        if self.sequential:
            return [(seg.start_at, seg.end_at) for seg in self.segments if seg.bay_id == bay_id]
        return [(self.start_at, self.end_at)] if bay_id in self.bay_ids else []


class BookingBay(TenantScoped, db.Model):
    """Further bays a booking occupies at the same time (``planner.advanced``: jobs over several bays).
    The booking's own ``bay_id`` is its first bay and is not repeated here."""

    __tablename__ = "planner_booking_bay"
    __table_args__ = (
        UniqueConstraint("tenant_id", "booking_id", "bay_id", name="uq_planner_booking_bay_link"),
        Index("ix_planner_booking_bay_bay", "tenant_id", "bay_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("planner_booking.id", ondelete="CASCADE"))
    bay_id: Mapped[int] = mapped_column(ForeignKey("planner_bay.id", ondelete="RESTRICT"))


class BookingSegment(TenantScoped, db.Model):
    """One step of a sequential booking (``planner.advanced``): a bay from ``start_at`` to ``end_at``;
    the steps follow one another without a gap. ``end_at`` is stored so the overlap check is an index
    range scan on (tenant, bay, start), like the bookings'."""

    __tablename__ = "planner_booking_segment"
    __table_args__ = (
        UniqueConstraint("tenant_id", "booking_id", "position", name="uq_planner_booking_segment_position"),
        Index("ix_planner_booking_segment_bay_start", "tenant_id", "bay_id", "start_at"),
        Index("ix_planner_booking_segment_start", "tenant_id", "start_at"),
        CheckConstraint("duration_minutes > 0", name="duration"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("planner_booking.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    bay_id: Mapped[int] = mapped_column(ForeignKey("planner_bay.id", ondelete="RESTRICT"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer)


class BayAssignment(TenantScoped, db.Model):
    """The technician who works a bay on one local date (one per bay and day)."""

    __tablename__ = "planner_bay_assignment"
    __table_args__ = (
        UniqueConstraint("tenant_id", "date", "bay_id", name="uq_planner_bay_assignment_day"),
        # The technician's calendar feed reads their days by user.
        Index("ix_planner_bay_assignment_user", "tenant_id", "user_id", "date"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    bay_id: Mapped[int] = mapped_column(ForeignKey("planner_bay.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column("date", Date)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))


class TechnicianSkill(TenantScoped, db.Model):
    """A technician's skill, kept by the planner only for shops without the workshop (whose employee
    cards hold the skills otherwise)."""

    __tablename__ = "planner_technician_skill"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "skill", name="uq_planner_technician_skill"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    skill: Mapped[str] = mapped_column(String(80))


class TechnicianFeed(TenantScoped, db.Model):
    """The secret of a technician's calendar feed URL (created on first request; rotate to revoke)."""

    __tablename__ = "planner_technician_feed"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", name="uq_planner_technician_feed_user"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    ics_token: Mapped[str] = mapped_column(String(64), default=_new_ics_token)


MODELS = [Bay, WorkingHours, Break, DayOff, Booking, BookingBay, BookingSegment, BayAssignment, TechnicianSkill, TechnicianFeed]
