"""Who works which bay on which day, technicians' skills and their calendar feeds.

Skills have one owner per shop: when the workshop plugin is active for the tenant its employee cards
hold them (read through the core's entity registry, never by importing the workshop), otherwise the
planner's own ``planner_technician_skill`` rows do. Skills compare case-insensitively.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import and_, or_, select

from core import audit
from core.db import db
from core.i18n import domain
from core.models import User
from core.tenancy import current_tenant

from .models import RELEASED_STATUSES, Bay, BayAssignment, Booking, TechnicianFeed, TechnicianSkill, _new_ics_token
from .service import PlannerError, day_range_utc, overlapping, tenant_zone

_ = domain("planner").gettext

MAX_SKILLS = 50


def _norm(skill: str) -> str:
    return " ".join(str(skill).split()).casefold()


# --- assignments ---------------------------------------------------------------------------------------

def assignments_between(first: date, last: date) -> dict[tuple[date, int], int]:
    """(day, bay_id) -> user_id for the days first..last."""
    rows = db.session.execute(select(BayAssignment.day, BayAssignment.bay_id, BayAssignment.user_id)
                              .where(BayAssignment.day >= first, BayAssignment.day <= last))
    return {(r.day, r.bay_id): r.user_id for r in rows}


def day_assignments(day: date) -> list[dict]:
    rows = db.session.execute(
        select(BayAssignment.bay_id, BayAssignment.user_id, User.name, User.email)
        .join(User, User.id == BayAssignment.user_id).where(BayAssignment.day == day)
        .order_by(BayAssignment.bay_id))
    return [{"bay_id": r.bay_id, "user_id": r.user_id, "user_name": r.name or r.email} for r in rows]


def _check_user(user_id) -> User:
    # session.get may answer from the identity map, so the tenant is compared explicitly as well:
    # another shop's user looks exactly like a missing one.
    user = db.session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None or user.tenant_id != current_tenant().id or not user.active:
        raise PlannerError(_("No such technician."), field_name="user_id")
    return user


def set_day_assignments(day: date, items: list, *, actor=None) -> list[dict]:
    """Replace the day's assignments with ``items`` ([{bay_id, user_id}], one per bay); audited per
    row; the caller commits."""
    if not isinstance(items, list):
        raise PlannerError(_("Send a list of assignments."), field_name="assignments")
    wanted: dict[int, int] = {}
    bay_ids = set(db.session.scalars(select(Bay.id)))
    for item in items:
        if not isinstance(item, dict):
            raise PlannerError(_("Send a list of assignments."), field_name="assignments")
        bay_id = item.get("bay_id")
        if not isinstance(bay_id, int) or isinstance(bay_id, bool) or bay_id not in bay_ids:
            raise PlannerError(_("No such bay."), field_name="bay_id")
        if bay_id in wanted:
            raise PlannerError(_("A bay can have one technician per day."), field_name="bay_id")
        wanted[bay_id] = _check_user(item.get("user_id")).id
    current = {a.bay_id: a for a in db.session.scalars(select(BayAssignment).where(BayAssignment.day == day))}
    for bay_id, row in current.items():
        if bay_id not in wanted:
            audit.record("delete", row, changes={"user_id": [row.user_id, None], "date": [day.isoformat(), None]},
                         user=actor)
            db.session.delete(row)
        elif wanted[bay_id] != row.user_id:
            audit.record("update", row, changes={"user_id": [row.user_id, wanted[bay_id]]}, user=actor)
            row.user_id = wanted[bay_id]
    for bay_id, user_id in wanted.items():
        if bay_id not in current:
            row = BayAssignment(bay_id=bay_id, day=day, user_id=user_id)
            db.session.add(row)
            db.session.flush()
            audit.record("create", row, changes={"bay_id": [None, bay_id], "user_id": [None, user_id],
                                                 "date": [None, day.isoformat()]}, user=actor)
    db.session.flush()
    return day_assignments(day)


# --- skills --------------------------------------------------------------------------------------------

def _employee_model():
    """The workshop's employee model when the workshop and its employee cards are in this tenant's
    plan, else None (skills the shop cannot edit there would silently block every skilled search)."""
    tenant = current_tenant()
    if "workshop" not in tenant.plugins:
        return None
    entity = current_app.extensions["garage"].entities.get(("workshop", "employees"))
    if entity is None or not tenant.has(entity.feature):
        return None
    return entity.model


def skills_source() -> str:
    return "workshop" if _employee_model() is not None else "planner"


def technician_skills(user_ids=None) -> dict[int, set[str]]:
    """user_id -> normalised skills, from the workshop's employees or the planner's own table."""
    model = _employee_model()
    out: dict[int, set[str]] = {}
    if model is not None:
        q = select(model.user_id, model.skills).where(model.user_id.is_not(None))
        if hasattr(model, "active"):
            q = q.where(model.active.is_(True))
        if user_ids is not None:
            q = q.where(model.user_id.in_(list(user_ids)))
        for user_id, skills in db.session.execute(q):
            out.setdefault(user_id, set()).update(_norm(s) for s in (skills or []) if str(s).strip())
        return out
    q = select(TechnicianSkill.user_id, TechnicianSkill.skill)
    if user_ids is not None:
        q = q.where(TechnicianSkill.user_id.in_(list(user_ids)))
    for user_id, skill in db.session.execute(q):
        out.setdefault(user_id, set()).add(_norm(skill))
    return out


def user_skills(user_id: int) -> list[str]:
    _check_user(user_id)
    model = _employee_model()
    if model is not None:
        return sorted(technician_skills([user_id]).get(user_id, set()))
    return list(db.session.scalars(select(TechnicianSkill.skill).where(TechnicianSkill.user_id == user_id)
                                   .order_by(TechnicianSkill.skill)))


def set_user_skills(user_id: int, skills, *, actor=None) -> list[str]:
    """Replace a technician's skills in the planner's table (shops without the workshop only)."""
    _check_user(user_id)
    if _employee_model() is not None:
        raise PlannerError(_("Skills are kept on the employee cards of the workshop; edit them there."), 409)
    if not isinstance(skills, list) or len(skills) > MAX_SKILLS:
        raise PlannerError(_("Send a list of at most %(max)s skills.", max=MAX_SKILLS), field_name="skills")
    wanted: dict[str, str] = {}
    for skill in skills:
        text = " ".join(str(skill).split()) if isinstance(skill, str) else ""
        if not 0 < len(text) <= 80:
            raise PlannerError(_("A skill is 1 to 80 characters long."), field_name="skills")
        wanted.setdefault(_norm(text), text)
    current = {_norm(r.skill): r for r in db.session.scalars(select(TechnicianSkill)
                                                             .where(TechnicianSkill.user_id == user_id))}
    before = sorted(r.skill for r in current.values())
    for key, row in current.items():
        if key not in wanted:
            db.session.delete(row)
    for key, text in wanted.items():
        if key not in current:
            db.session.add(TechnicianSkill(user_id=user_id, skill=text))
    db.session.flush()
    after = user_skills(user_id)
    if before != after:
        user = db.session.get(User, user_id)
        audit.record("update", user, changes={"planner_skills": [before, after]}, user=actor)
    return after


def skilled_users(skill: str) -> set[int]:
    wanted = _norm(skill)
    return {user_id for user_id, skills in technician_skills().items() if wanted in skills}


# --- the technician's calendar feed --------------------------------------------------------------------

def feed_token(user_id: int, *, rotate: bool = False, actor=None) -> str:
    _check_user(user_id)
    feed = db.session.scalars(select(TechnicianFeed).where(TechnicianFeed.user_id == user_id)).first()
    if feed is None:
        feed = TechnicianFeed(user_id=user_id, ics_token=_new_ics_token())
        db.session.add(feed)
        db.session.flush()
        audit.record("create", feed, changes={"ics_token": [None, "***"]}, user=actor)
    elif rotate:
        feed.ics_token = _new_ics_token()
        audit.record("update", feed, changes={"ics_token": ["***", "*** (new)"]}, user=actor)
    return feed.ics_token


def feed_owner(user_id: int, token: str) -> TechnicianFeed | None:
    import hmac

    feed = db.session.scalars(select(TechnicianFeed).where(TechnicianFeed.user_id == user_id)).first()
    if feed is None or not hmac.compare_digest(feed.ics_token.encode(), token.encode()):
        return None
    return feed


def technician_bookings(user_id: int, start: datetime, end: datetime) -> list[Booking]:
    """Live bookings between start and end on a bay the technician is assigned to on the booking's
    local day."""
    tz = tenant_zone()
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    days = {(r.day, r.bay_id) for r in db.session.execute(
        select(BayAssignment.day, BayAssignment.bay_id)
        .where(BayAssignment.user_id == user_id, BayAssignment.day >= first, BayAssignment.day <= last))}
    if not days:
        return []
    from .public import on_bays

    # In SQL: per bay, the runs of consecutive assigned days as one start_at range each (a technician
    # on the same bay all week is one condition), so only their own bookings are read.
    runs: list = []
    for bay_id in sorted({b for _d, b in days}):
        assigned = sorted(d for d, b in days if b == bay_id)
        run_start = prev = assigned[0]
        for day in assigned[1:] + [None]:
            if day is not None and day == prev + timedelta(days=1):
                prev = day
                continue
            lo, _e = day_range_utc(run_start, tz)
            _s, hi = day_range_utc(prev, tz)
            runs.append(and_(on_bays([bay_id]), Booking.start_at >= lo, Booking.start_at < hi))
            if day is not None:
                run_start = prev = day
    q = (select(Booking).where(or_(*runs), *overlapping(start, end), Booking.status.not_in(RELEASED_STATUSES))
         .order_by(Booking.start_at, Booking.id))
    return list(db.session.scalars(q))


def feed_window() -> tuple[datetime, datetime]:
    now = datetime.now(timezone.utc)
    return now - timedelta(days=30), now + timedelta(days=90)


__all__ = ["assignments_between", "day_assignments", "set_day_assignments", "technician_skills", "skilled_users",
           "set_user_skills", "user_skills", "skills_source", "feed_token", "feed_owner", "technician_bookings",
           "day_range_utc"]
