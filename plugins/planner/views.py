"""The planner's pages: the day grid (bays x time), the week, the booking form, quick booking
(``planner.quick``), tomorrow's arrivals and the settings (hours, days off, online page, feeds).

Every page works as plain HTML forms; ``planner.js`` only adds the quick-booking dialog and keyboard
moves in the grid on top.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import wraps

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm.exc import StaleDataError

from core import audit
from core.api.errors import translate_errors
from core.db import db
from core.i18n import domain
from core.web import feature_unavailable

from . import service, staffing
from .models import Bay, Booking, DayOff, WorkingHours
from .schemas import BookingCreateSchema, BookingInSchema
from .service import ADVANCED, PlannerError
from .settings import PlannerSettingsSchema, load_settings, save_settings

_ = domain("planner").gettext

bp = Blueprint("planner_ui", __name__, url_prefix="/planner", template_folder="templates",
               static_folder="static", static_url_path="/static")
BASIC = "planner.basic"
QUICK = "planner.quick"


def ui_view(permission: str, feature: str = BASIC):
    def decorate(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            if not (current_user and current_user.is_authenticated):
                return redirect(url_for("core_auth.login", next=request.full_path.rstrip("?")))
            tenant = g.get("tenant")
            if tenant is None or not tenant.has(feature):
                return feature_unavailable("planner", feature)
            if not current_user.can(permission):
                abort(403)
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def _today() -> date:
    return datetime.now(timezone.utc).astimezone(service.tenant_zone()).date()


def _day_arg(default: date | None = None) -> date:
    try:
        return date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        return default or _today()


@bp.app_template_test("planner_same_text")
def _same_text(value, other) -> bool:
    """``jobs|reject('planner_same_text', reason)``: the same words, whatever the case and spaces."""
    return " ".join(str(value or "").split()).casefold() == " ".join(str(other or "").split()).casefold()


@bp.app_template_filter("planner_hhmm")
def _hhmm(value: datetime) -> str:
    return value.strftime("%H:%M")


def _ctx() -> dict:
    tenant = g.get("tenant")
    return {"has_quick": tenant.has(QUICK), "has_advanced": tenant.has(ADVANCED),
            "has_crm": tenant.has("crm.clients") and "crm" in tenant.plugins,
            "can_create": current_user.can("planner.booking.create"),
            "can_update": current_user.can("planner.booking.update"),
            "can_convert": current_user.can("planner.booking.update") and service.can_convert(),
            "status_label": service.status_label, "bay_type_label": service.bay_type_label,
            "source_label": source_label, "sources": SOURCE_CHOICES}


# --- the day grid -------------------------------------------------------------------------------------

def _grid(day: date, bays: list[Bay], bookings: list[Booking], schedule: service.Schedule, step: int):
    """Rows of (local time, cells); a cell is ("booking", booking, rowspan) at a booking's first row,
    ("covered",) under it, ("free", iso) when the bay is open, ("closed",) otherwise."""
    tz = schedule.tz
    opening = {b.id: schedule.open_intervals(day, b.id) for b in bays}
    spans = [iv for ivs in opening.values() for iv in ivs]
    if not spans:
        first = service.local_instant(day, time(9), tz)
        last = service.local_instant(day, time(18), tz)
    else:
        first, last = min(s for s, _e in spans), max(e for _s, e in spans)
    for bk in bookings:  # bookings outside today's hours (hours changed since) still show
        first, last = min(first, bk.start_at), max(last, bk.end_at)
    day_start, day_end = service.day_range_utc(day, tz)
    first, last = max(first, day_start), min(last, day_end)
    # Align the first row to the slot grid of the local day.
    local_first = first.astimezone(tz)
    minutes = (local_first.hour * 60 + local_first.minute) // step * step
    cursor = service.local_instant(day, time(minutes // 60, minutes % 60), tz)
    rows_at = []
    while cursor < last:
        rows_at.append(cursor)
        cursor += timedelta(minutes=step)
    placed: set[tuple] = set()
    rows = []
    for index, at in enumerate(rows_at):
        row_end = at + timedelta(minutes=step)
        cells = []
        for bay in bays:
            # A sequence holds each bay only during its segments there (Booking.spans_on).
            here = [(bk, s, e) for bk in bookings for s, e in bk.spans_on(bay.id) if s < row_end and e > at]
            if here:
                bk, held_from, held_until = here[0]
                if (bk.id, bay.id, held_from) in placed:
                    cells.append(("covered",))
                    continue
                placed.add((bk.id, bay.id, held_from))
                span = sum(1 for r in rows_at[index:] if r < held_until)
                step_no = next((n for n, seg in enumerate(bk.segments, 1) if seg.start_at == held_from), None) \
                    if bk.sequential else None
                cells.append(("booking", bk, max(span, 1), [h[0] for h in here[1:]],
                              (held_from, held_until, step_no)))
            elif any(s <= at and row_end <= e for s, e in opening[bay.id]):
                cells.append(("free", service.local_iso(at, tz)[:16]))
            else:
                cells.append(("closed",))
        rows.append((at.astimezone(tz), cells))
    return rows


CARRIED = ("client_id", "vehicle_id", "reason")
SUGGESTED_MINUTES = 60  # the quick form's default length: the earliest free hour is offered
SUGGESTION_TRIES = 40  # earliest start times looked at for one where the carried car is free too


@bp.get("/")
@ui_view("planner.booking.read")
def day_page():
    tenant = service.tenant_row()
    tz = service.tenant_zone(tenant)
    settings = load_settings(tenant)
    # "Book in planner" from the car's card: the client, the car and the reason ride along on every free
    # cell (and the day links), so picking a cell opens the form filled in: two clicks to a booking.
    prefill = _prefill() if any(request.args.get(k) for k in CARRIED) else {}
    carry = {k: prefill[k] for k in CARRIED if prefill.get(k)}
    suggestion = None
    if carry and not request.args.get("date") and g.tenant.has(ADVANCED):
        # The earliest free hour when the car itself is free too (it may be booked already).
        car = carry.get("vehicle_id")
        fit = next(((fit_day, slot) for fit_day, slot in service.earliest_fits(SUGGESTED_MINUTES, limit=SUGGESTION_TRIES)
                    if car is None or service.find_vehicle_conflict(int(car), slot.start, slot.end) is None), None)
        if fit is not None:
            fit_day, slot = fit
            suggestion = {"day": fit_day, "bay_id": slot.bay_ids[0], "start": service.local_iso(slot.start, tz)[:16],
                          "at": slot.start.astimezone(tz)}
    day = suggestion["day"] if suggestion else _day_arg()
    bays = service.active_bays()
    start, end = service.day_range_utc(day, tz)
    bookings = service.bookings_between(start, end)
    bays = _with_bays_of(bays, bookings)
    schedule = service.Schedule.load(tz, (day, day))
    view = service.day_view(day, with_load=True) if g.tenant.has(ADVANCED) else None
    assignments = staffing.day_assignments(day)
    assigned_names = {a["bay_id"]: a["user_name"] for a in assignments}
    return render_template(
        "planner/day.html", day=day, today=_today(), prev_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
        bays=bays, rows=_grid(day, bays, bookings, schedule, settings["slot_minutes"]), step=settings["slot_minutes"],
        closed=schedule.days_off.get(day) if day in schedule.days_off else None,
        load={item["bay_id"]: item for item in view["load"]} if view else {}, tz=tz,
        technicians=assigned_names, assigned={a["bay_id"]: a["user_id"] for a in assignments},
        staff=_staff() if current_user.can("planner.staffing.manage") else [], carry=carry,
        carried_text=" · ".join(v for v in (prefill.get("vehicle"), prefill.get("client_name")) if v),
        suggestion=suggestion, suggested_minutes=SUGGESTED_MINUTES, **_ctx())


def _with_bays_of(bays: list[Bay], bookings: list[Booking]) -> list[Bay]:
    """``bays`` plus the bays out of service that hold some of ``bookings``: such a bay still shows
    (in the day and the week alike) while it has bookings."""
    shown = {b.id for b in bays}
    missing = {i for bk in bookings for i in bk.bay_ids if i not in shown}
    if missing:
        bays = bays + list(db.session.scalars(select(Bay).where(Bay.id.in_(missing)).order_by(Bay.position, Bay.id)))
    return bays


def _staff() -> list[tuple[int, str]]:
    """Active users of the shop who can be put on a bay."""
    from core.models import User

    return [(u.id, u.name or u.email) for u in db.session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.name, User.email))]


@bp.post("/assignments")
@ui_view("planner.staffing.manage")
def assignments_save():
    """The day page's "who works which bay" form: one select per bay (empty: nobody)."""
    day = _day_arg()
    items = []
    for key, value in request.form.items():
        if key.startswith("bay-") and value:
            try:
                items.append({"bay_id": int(key[4:]), "user_id": int(value)})
            except ValueError:
                abort(400)
    try:
        staffing.set_day_assignments(day, items, actor=current_user)
    except PlannerError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("Technicians saved."), "success")
    return redirect(url_for("planner_ui.day_page", date=day.isoformat()))


@bp.get("/week")
@ui_view("planner.booking.read")
def week_page():
    tz = service.tenant_zone()
    day = _day_arg()
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=i) for i in range(7)]
    start, _e = service.day_range_utc(days[0], tz)
    _s, end = service.day_range_utc(days[-1], tz)
    bookings = service.bookings_between(start, end)
    bays = _with_bays_of(service.active_bays(), bookings)
    by_day: dict[date, dict[int, list[Booking]]] = {d: {b.id: [] for b in bays} for d in days}
    for bk in bookings:
        local_day = bk.start_at.astimezone(tz).date()
        if local_day in by_day:
            for bay_id in bk.bay_ids:
                if bay_id in by_day[local_day]:
                    by_day[local_day][bay_id].append(bk)
    schedule = service.Schedule.load(tz, (days[0], days[-1]))
    return render_template("planner/week.html", days=days, bays=bays, by_day=by_day, tz=tz, today=_today(),
                           prev_week=monday - timedelta(days=7), next_week=monday + timedelta(days=7),
                           days_off=schedule.days_off, **_ctx())


@bp.get("/arrivals")
@ui_view("planner.booking.read")
def arrivals_page():
    tz = service.tenant_zone()
    day = _day_arg(_today() + timedelta(days=1))
    bays = {b.id: b for b in db.session.scalars(select(Bay))}
    items = service.arrivals(day)
    return render_template("planner/arrivals.html", day=day, items=items, bays=bays, tz=tz,
                           parts=service.parts_status([b.id for b in items]),
                           prev_day=day - timedelta(days=1), next_day=day + timedelta(days=1), **_ctx())


@bp.get("/my-calendar")
@ui_view("planner.booking.read")
def my_calendar():
    """The signed-in user's calendar feed URL: the bookings on the bays they work (the secret is made
    on the first visit)."""
    token = staffing.feed_token(current_user.id, actor=current_user)
    db.session.commit()
    url = url_for("planner_public.technician_calendar", station=g.tenant.slug, user_id=current_user.id,
                  token=token, _external=True)
    return render_template("planner/my_calendar.html", feed_url=url, day=_today(), **_ctx())


@bp.post("/my-calendar/rotate")
@ui_view("planner.booking.read")
def my_calendar_rotate():
    staffing.feed_token(current_user.id, rotate=True, actor=current_user)
    db.session.commit()
    flash(_("New calendar link made; the old one no longer works."), "success")
    return redirect(url_for("planner_ui.my_calendar"))


# --- technicians' skills (planner.advanced) --------------------------------------------------------------

def _skills_page(errors: dict | None = None, typed: dict | None = None, status: int = 200):
    source = staffing.skills_source()
    known = staffing.technician_skills() if source == "workshop" else {}
    people = []
    for user_id, name in _staff():
        if typed is not None and user_id in typed:
            skills = typed[user_id]
        elif source == "workshop":
            skills = ", ".join(sorted(known.get(user_id, ())))
        else:
            skills = ", ".join(staffing.user_skills(user_id))
        people.append({"id": user_id, "name": name, "skills": skills})
    return render_template("planner/skills.html", people=people, source=source, errors=errors or {},
                           day=_today(), **_ctx()), status


@bp.get("/skills")
@ui_view("planner.staffing.manage", feature=ADVANCED)
def skills_page():
    """Technicians' skills for slots by skill (earliest fit, the online page's skill). Shops with the
    workshop's employee cards keep skills there: this page then only shows them."""
    return _skills_page()


@bp.post("/skills")
@ui_view("planner.staffing.manage", feature=ADVANCED)
def skills_save():
    if staffing.skills_source() != "planner":
        abort(409)
    typed = {user_id: request.form.get(f"skills-{user_id}", "") for user_id, _name in _staff()
             if request.form.get(f"skills-{user_id}") is not None}
    errors = {}
    for user_id, text in typed.items():
        try:
            with db.session.begin_nested():  # one person's bad line does not stop the others' check
                staffing.set_user_skills(user_id, [p for p in (x.strip() for x in text.split(",")) if p],
                                         actor=current_user)
        except PlannerError as exc:
            errors[user_id] = [exc.message]
    if errors:
        db.session.rollback()
        return _skills_page(errors, typed, 422)
    db.session.commit()
    flash(_("Skills saved."), "success")
    return redirect(url_for("planner_ui.skills_page"))


# --- booking forms ------------------------------------------------------------------------------------

FORM_FIELDS = ("bay_id", "start", "duration_minutes", "client_name", "client_phone", "vehicle", "reason",
               "status", "version", "client_id", "vehicle_id", "advisor_id", "source")
# Emptied on the form means "none": the directory client or car unlinked, no advisor.
CLEARABLE_REFS = ("client_id", "vehicle_id", "advisor_id")
SOURCE_CHOICES = ("phone", "walk_in", "online")


def source_label(source: str) -> str:
    labels = {"phone": _("Phone"), "walk_in": _("Walk-in"), "online": _("Online")}
    return labels.get(source, source)


def _form_data(partial: bool) -> tuple[dict, dict]:
    raw = {k: request.form.get(k, "").strip() for k in FORM_FIELDS if request.form.get(k) is not None}
    raw = {k: (None if v == "" and k in CLEARABLE_REFS else v) for k, v in raw.items()
           if v != "" or k in ("client_phone", "vehicle", "reason") + CLEARABLE_REFS}
    if "source" not in raw and request.form.get("then") == "convert":
        raw["source"] = "walk_in"  # "Save and open a service order": the car is here already
    if "planned_jobs" in request.form:
        raw["planned_jobs"] = [line.strip() for line in request.form["planned_jobs"].splitlines() if line.strip()]
    bay_ids = request.form.getlist("bay_ids")  # the multi-select of planner.advanced: the exact set
    if bay_ids:
        raw["bay_ids"] = bay_ids
    steps, step_errors = _form_steps()
    if step_errors:
        return {}, step_errors
    if steps:  # bays one after another: the steps replace the bays and the length above
        raw["segments"] = steps
        for key in ("bay_id", "bay_ids", "duration_minutes"):
            raw.pop(key, None)
    schema = BookingInSchema() if partial else BookingCreateSchema()
    try:
        return schema.load(raw, partial=partial), {}
    except ValidationError as err:
        return {}, translate_errors(err.messages)


STEP_ROWS = 4  # step rows on the full form (the API takes up to service.MAX_SEGMENTS)


def _form_steps() -> tuple[list[dict] | None, dict]:
    """The step rows of the full form (``planner.advanced``): ``step_bay`` (``bay:<id>`` or
    ``type:<bay type>``) with ``step_minutes``, in order; empty rows are skipped. None when no row is
    filled (a plain booking), else the segments for :func:`service.save_booking`."""
    steps = []
    for where, minutes in zip(request.form.getlist("step_bay"), request.form.getlist("step_minutes")):
        where, minutes = where.strip(), minutes.strip()
        if not where and not minutes:
            continue
        kind, _sep, value = where.partition(":")
        if kind == "bay" and value.isdigit():
            step = {"bay_id": int(value)}
        elif kind == "type" and value in service.BAY_TYPES:
            step = {"bay_type": value}
        else:
            return None, {"segments": [_("Each segment needs either a bay or a bay type.")]}
        if not minutes.isdigit() or not 5 <= int(minutes) <= service.MAX_DURATION_MINUTES:
            return None, {"segments": [_("Each segment lasts from 5 to %(max)s minutes.",
                                         max=service.MAX_DURATION_MINUTES)]}
        steps.append({**step, "duration_minutes": int(minutes)})
    return steps or None, {}


def _step_rows(booking: Booking | None) -> list[tuple[str, str]]:
    """The step rows to show: as posted (a form sent back with errors), else the booking's steps."""
    if request.method == "POST":
        rows = list(zip(request.form.getlist("step_bay"), request.form.getlist("step_minutes")))
    elif booking is not None and booking.sequential:
        rows = [(f"bay:{seg.bay_id}", str(seg.duration_minutes)) for seg in booking.segments]
    else:
        rows = []
    return rows + [("", "")] * max(STEP_ROWS - len(rows), 0)


def _prefill() -> dict:
    """Client, car and reason given in the URL (the CRM's "Book in planner" link: ``client_id``,
    ``vehicle_id``, ``reason``): the directory fills in the name, phone and car. Ids the tenant does
    not have (or no client directory) are left out silently: the form is then simply empty."""
    values: dict = {}
    reason = (request.args.get("reason") or "").strip()[:2000]
    if reason:
        values["reason"] = reason
    for key in ("client_id", "vehicle_id"):
        ref = request.args.get(key, type=int)
        if ref is None:
            continue
        try:
            found = service._check_crm_refs({key: ref})
        except PlannerError:
            continue
        values[key] = ref
        values.update({k: v for k, v in found.items() if v})
    return values


def _render_form(template: str, *, booking: Booking | None, values: dict, errors: dict, status: int = 200):
    tz = service.tenant_zone()
    from core.models import User

    advisors = list(db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name, User.email)))
    vehicle_id = str(values.get("vehicle_id") or (booking.vehicle_id if booking else "") or "")
    catalog = service.job_catalog("", int(vehicle_id) if vehicle_id.isdigit() else None) \
        if template == "planner/booking_form.html" else []
    if template == "planner/booking_form.html" and g.tenant.has(ADVANCED):
        values = {**values, "steps": _step_rows(booking)}
    return render_template(template, booking=booking, values=values, errors=errors, bays=service.active_bays(),
                           advisors=advisors, catalog=catalog, bay_types=service.BAY_TYPES,
                           slot_minutes=load_settings(service.tenant_row())["slot_minutes"],
                           statuses=("requested", "confirmed", "arrived"),
                           booking_local=booking.start_at.astimezone(tz) if booking else None,
                           actions=_actions(booking) if booking else [], **_ctx()), status


def _actions(booking: Booking) -> list[tuple[str, str]]:
    labels = {"confirm": _("Confirm"), "arrive": _("Arrived"), "no-show": _("No-show"), "cancel": _("Cancel booking")}
    return [(action, labels[action]) for action, (sources, _t) in service.TRANSITIONS.items()
            if booking.status in sources and action in labels]


def _save(data: dict, booking: Booking | None) -> Booking | dict:
    """Save or return field errors (the transaction is rolled back on errors)."""
    try:
        saved = service.save_booking(data, booking, actor=current_user)
        db.session.commit()
        return saved
    except PlannerError as exc:
        db.session.rollback()
        return exc.errors or {"_form": [exc.message]}
    except StaleDataError:
        db.session.rollback()
        return {"_form": [_("This booking was changed by someone else meanwhile. Reload it and try again.")]}


@bp.route("/bookings/new", methods=["GET", "POST"])
@ui_view("planner.booking.create")
def new_booking():
    if request.method == "GET":
        values = {"bay_id": request.args.get("bay_id", type=int), "start": request.args.get("start", ""),
                  "duration_minutes": request.args.get("duration", type=int) or 60, "status": "confirmed",
                  "advisor_id": current_user.id, "source": "phone", **_prefill()}
        return _render_form("planner/booking_form.html", booking=None, values=values, errors={})
    data, errors = _form_data(partial=False)
    if not errors:
        result = _save(data, None)
        if isinstance(result, Booking):
            return _saved(result)
        errors = result
    return _render_form("planner/booking_form.html", booking=None, values=dict(request.form), errors=errors,
                        status=409 if "_form" in errors else 422)


def _saved(booking: Booking):
    """After a new booking: back to its day, or (the "Save and open a service order" button, for a car
    that is already here) straight on to the service order."""
    flash(_("Booking #%(id)s saved.", id=booking.id), "success")
    if request.form.get("then") == "convert" and current_user.can("planner.booking.update") and service.can_convert():
        return _convert_and_show(booking.id)
    return redirect(url_for("planner_ui.day_page", date=booking.start_at.astimezone(service.tenant_zone()).date().isoformat()))


def _get_booking(booking_id: int) -> Booking:
    booking = db.session.scalars(select(Booking).where(Booking.id == booking_id)).first()
    if booking is None:
        abort(404)
    return booking


@bp.route("/bookings/<int:booking_id>", methods=["GET", "POST"])
@ui_view("planner.booking.read")
def edit_booking(booking_id: int):
    booking = _get_booking(booking_id)
    tz = service.tenant_zone()
    if request.method == "GET":
        values = service.booking_json(booking, tz)
        values["start"] = values["start"][:16]
        return _render_form("planner/booking_form.html", booking=booking, values=values, errors={})
    if not current_user.can("planner.booking.update"):
        abort(403)
    data, errors = _form_data(partial=True)
    data.pop("status", None)  # status moves only through the action buttons
    if not errors:
        result = _save(data, booking)
        if isinstance(result, Booking):
            flash(_("Booking #%(id)s saved.", id=result.id), "success")
            return redirect(url_for("planner_ui.day_page", date=result.start_at.astimezone(tz).date().isoformat()))
        errors = result
        booking = _get_booking(booking_id)
    return _render_form("planner/booking_form.html", booking=booking, values=dict(request.form), errors=errors,
                        status=409 if "_form" in errors else 422)


@bp.post("/bookings/<int:booking_id>/convert")
@ui_view("planner.booking.update")
def booking_convert(booking_id: int):
    """One click from the arrivals list or the booking page: the service order is opened (through the
    ``planner_booking_convert`` hook) and shown; a refusal comes back to the booking page."""
    return _convert_and_show(booking_id)


def _convert_and_show(booking_id: int):
    booking = _get_booking(booking_id)
    try:
        link = service.convert_booking(booking, actor=current_user)
        db.session.commit()
    except service.ConvertedAlready as exc:
        db.session.rollback()
        flash(exc.message, "info")
        link = exc.link
    except (PlannerError, StaleDataError) as exc:
        db.session.rollback()
        current = _get_booking(booking_id)
        if current.converted_to:  # a double click, or a colleague: show the order made meanwhile
            return redirect(current.converted_to.get("url") or url_for("planner_ui.edit_booking", booking_id=booking_id))
        if getattr(exc, "field_name", None) == "client_id" and service.can_link_directory():
            # Typed as free text: find or add the client and the car first, on one confirm page.
            return redirect(url_for("planner_ui.booking_client", booking_id=booking_id))
        flash(getattr(exc, "message", None) or _("This booking was changed by someone else meanwhile. "
                                                "Reload it and try again."), "error")
        return redirect(url_for("planner_ui.edit_booking", booking_id=booking_id))
    else:
        flash(_("Booking #%(id)s is %(number)s now.", id=booking_id, number=link.get("number") or ""), "success")
    return redirect(link.get("url") or url_for("planner_ui.edit_booking", booking_id=booking_id))


CLIENT_FIELDS = ("client_name", "client_phone", "make", "model", "plate")


@bp.route("/bookings/<int:booking_id>/client", methods=["GET", "POST"])
@ui_view("planner.booking.update")
def booking_client(booking_id: int):
    """"Open a service order" for a booking typed as free text: a confirm page filled in from the
    booking (the car's text read as make, model and plate) shows whether the client and the car are
    on file (by phone and plate); saving finds or adds them, links the booking and opens the service
    order, all in one transaction."""
    booking = _get_booking(booking_id)
    if not service.can_link_directory():
        abort(404)
    if booking.status not in ("requested", "confirmed", "arrived"):
        flash(_("A booking that is %(status)s cannot be changed.", status=service.status_label(booking.status)), "error")
        return redirect(url_for("planner_ui.edit_booking", booking_id=booking_id))
    errors: dict = {}
    refused = None  # the HTTP status of a refusal (403, 409, 422)
    if request.method == "GET":
        parts = service.vehicle_parts(booking.vehicle)
        values = {"client_name": booking.client_name, "client_phone": booking.client_phone,
                  **{k: parts[k] for k in ("make", "model", "plate")}}
    else:
        values = {k: " ".join((request.form.get(k) or "").split())[:200] for k in CLIENT_FIELDS}
        if not values["client_name"]:
            errors["client_name"] = [_("Enter the client's name.")]
        if not (values["plate"] or values["make"]):
            errors["plate"] = [_("Enter the car's plate or make.")]
    client = {"name": values["client_name"], "phone": values["client_phone"]}
    vehicle = {"make": values["make"], "model": values["model"], "plate": values["plate"], "text": booking.vehicle}
    if request.method == "POST" and not errors:
        convert = service.can_convert()
        try:
            service.link_to_directory(booking, client, vehicle, actor=current_user)
            link = service.convert_booking(booking, actor=current_user) if convert else None
            db.session.commit()
        except (PlannerError, StaleDataError) as exc:
            db.session.rollback()
            refused = getattr(exc, "status", 409)
            errors = getattr(exc, "errors", None) or {"_form": [getattr(exc, "message", None) or _(
                "This booking was changed by someone else meanwhile. Reload it and try again.")]}
            booking = _get_booking(booking_id)
        else:
            if link is None:
                flash(_("Booking #%(id)s saved.", id=booking_id), "success")
                return redirect(url_for("planner_ui.edit_booking", booking_id=booking_id))
            flash(_("Booking #%(id)s is %(number)s now.", id=booking_id, number=link.get("number") or ""), "success")
            return redirect(link.get("url") or url_for("planner_ui.edit_booking", booking_id=booking_id))
    try:  # what the directory has already (only a look: nothing is added before the user confirms)
        on_file = service.directory_match(client, vehicle, create=False, actor=current_user) or {}
    except PlannerError as exc:
        on_file = {}
        if not errors:
            refused, errors = exc.status, exc.errors or {"_form": [exc.message]}
    status = 200 if not errors else (refused or 422)
    return render_template("planner/booking_client.html", booking=booking, values=values, errors=errors,
                           on_file=on_file, **_ctx()), status


@bp.post("/bookings/<int:booking_id>/<action>")
@ui_view("planner.booking.update")
def booking_action(booking_id: int, action: str):
    if action not in service.TRANSITIONS:
        abort(404)
    booking = _get_booking(booking_id)
    try:
        service.apply_transition(booking, action, actor=current_user)
        db.session.commit()
        flash(_("Booking #%(id)s is %(status)s now.", id=booking.id, status=service.status_label(booking.status)),
              "success")
    except PlannerError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    back = request.form.get("next") or url_for("planner_ui.edit_booking", booking_id=booking_id)
    return redirect(back if back.startswith("/") and not back.startswith("//") else "/planner/")


# --- quick booking (planner.quick) -----------------------------------------------------------------------

@bp.route("/quick", methods=["GET", "POST"])
@ui_view("planner.booking.create", feature=QUICK)
def quick_booking():
    """Two clicks: a free cell opens this small form (a dialog with JS, a page without) with the bay
    and the time filled in; client, car and reason, then save."""
    if request.method == "GET":
        values = {"bay_id": request.args.get("bay_id", type=int), "start": request.args.get("start", ""),
                  "duration_minutes": request.args.get("duration", type=int) or 60, **_prefill()}
        template = "planner/_quick_form.html" if request.args.get("fragment") else "planner/quick.html"
        return _render_form(template, booking=None, values=values, errors={})
    data, errors = _form_data(partial=False)
    if not errors:
        data.setdefault("status", "confirmed")
        result = _save(data, None)
        if isinstance(result, Booking):
            return _saved(result)
        errors = result
    return _render_form("planner/quick.html", booking=None, values=dict(request.form), errors=errors,
                        status=409 if "_form" in errors else 422)


# --- settings: slots, online page, working hours, days off, feeds -------------------------------------------

def _weekday_names() -> list[str]:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


def _settings_page(errors: dict | None = None, status: int = 200, hours_form: dict | None = None):
    tenant = service.tenant_row()
    hours: dict[int, list[tuple[str, str]]] = {wd: [] for wd in range(7)}  # every span (split shifts)
    for row in db.session.scalars(select(WorkingHours).where(WorkingHours.bay_id.is_(None))
                                  .order_by(WorkingHours.weekday, WorkingHours.opens)):
        hours[row.weekday].append((f"{row.opens:%H:%M}", f"{row.closes:%H:%M}"))
    if hours_form is not None:  # a refused save shows what was typed, not the stored hours
        hours = hours_form
    days_off = list(db.session.scalars(select(DayOff).where(DayOff.day >= _today() - timedelta(days=30))
                                       .order_by(DayOff.day)))
    bays = list(db.session.scalars(select(Bay).order_by(Bay.position, Bay.id)))
    public_url = url_for("planner_public.book_page", station=tenant.slug, _external=True)
    return render_template("planner/settings.html", settings=load_settings(tenant), hours=hours,
                           weekdays=_weekday_names(), days_off=days_off, bays=bays, public_url=public_url,
                           tenant=tenant, errors=errors or {}, has_online=g.tenant.has("planner.online_booking"),
                           **_ctx()), status


@bp.get("/settings")
@ui_view("planner.settings.manage")
def settings_page():
    return _settings_page()


@bp.post("/settings")
@ui_view("planner.settings.manage")
def settings_save():
    tenant = service.tenant_row()
    form = request.form
    data = {k: form.get(k) for k in ("slot_minutes", "buffer_percent", "online_name", "online_address",
                                     "online_hours_text", "online_duration_minutes", "online_days_ahead",
                                     "online_skill")
            if form.get(k) is not None}
    # Only what the page shows: without planner.online_booking the page has no online fields, and an
    # absent checkbox or list must not switch the page off or wipe the services (kept for an upgrade).
    if g.tenant.has("planner.online_booking"):
        data["online_enabled"] = form.get("online_enabled") == "on"
        data["online_services"] = [line.strip() for line in form.get("online_services", "").splitlines()
                                   if line.strip()]
    before = load_settings(tenant)
    try:
        after = save_settings(tenant, PlannerSettingsSchema().load(data, partial=True))  # no defaults for fields not on the page
    except ValidationError as err:
        db.session.rollback()
        errors = translate_errors(err.messages)
        # A list field's errors come per line ({index: [...]}): show them as one message list.
        errors = {k: [m for msgs in v.values() for m in msgs] if isinstance(v, dict) else v for k, v in errors.items()}
        return _settings_page(errors, 422)
    audit.record("settings", tenant, object_type="planner_settings", changes=audit.diff(before, after))
    db.session.commit()
    flash(_("Settings saved."), "success")
    return redirect(url_for("planner_ui.settings_page"))


@bp.post("/settings/hours")
@ui_view("planner.settings.manage")
def hours_save():
    """The shop's hours per weekday: every span of the day (a split shift is two spans; an empty pair
    of times removes a span, an empty day is closed). Per-bay hours are kept as they are (the
    working-hours list)."""
    errors: dict = {}
    spans: dict[int, list[tuple[time, time]]] = {}
    typed: dict[int, list[tuple[str, str]]] = {}
    for wd in range(7):
        opens_list, closes_list = request.form.getlist(f"opens_{wd}"), request.form.getlist(f"closes_{wd}")
        day_spans = []
        for opens, closes in zip(opens_list, closes_list):
            opens, closes = opens.strip(), closes.strip()
            if not opens and not closes:
                continue
            typed.setdefault(wd, []).append((opens, closes))
            try:
                o, c = time.fromisoformat(opens), time.fromisoformat(closes)
            except ValueError:
                errors[f"hours_{wd}"] = [_("Enter both times as HH:MM.")]
                continue
            if o >= c:
                errors[f"hours_{wd}"] = [_("Closing must be later than opening.")]
                continue
            day_spans.append((o, c))
        day_spans.sort()
        if any(later[0] < earlier[1] for earlier, later in zip(day_spans, day_spans[1:])):
            errors.setdefault(f"hours_{wd}", []).append(_("The spans of a day must not overlap."))
        if day_spans:
            spans[wd] = day_spans
    if errors:
        return _settings_page(errors, 422, hours_form={wd: typed.get(wd, []) for wd in range(7)})
    fmt = lambda pairs: ", ".join(f"{o:%H:%M}-{c:%H:%M}" for o, c in pairs)  # noqa: E731
    before_rows: dict[int, list] = {}
    for r in db.session.scalars(select(WorkingHours).where(WorkingHours.bay_id.is_(None))
                                .order_by(WorkingHours.weekday, WorkingHours.opens)):
        before_rows.setdefault(r.weekday, []).append((r.opens, r.closes))
    before = {wd: fmt(pairs) for wd, pairs in before_rows.items()}
    db.session.execute(delete(WorkingHours).where(WorkingHours.bay_id.is_(None))
                       .execution_options(synchronize_session=False))
    for wd, day_spans in spans.items():
        for o, c in day_spans:
            db.session.add(WorkingHours(weekday=wd, opens=o, closes=c))
    after = {wd: fmt(pairs) for wd, pairs in spans.items()}
    audit.record("update", None, object_type="planner_working_hours", changes=audit.diff(before, after))
    db.session.commit()
    flash(_("Working hours saved."), "success")
    return redirect(url_for("planner_ui.settings_page"))


@bp.post("/settings/days-off")
@ui_view("planner.settings.manage")
def day_off_add():
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        return _settings_page({"day": [_("Not a valid date (use YYYY-MM-DD).")]}, 422)
    if db.session.scalar(select(DayOff.id).where(DayOff.day == day)) is None:
        row = DayOff(day=day, title=request.form.get("title", "").strip()[:120])
        db.session.add(row)
        db.session.flush()
        audit.record("create", row, changes={"day": [None, day.isoformat()], "title": [None, row.title]})
        db.session.commit()
    flash(_("Day off added."), "success")
    return redirect(url_for("planner_ui.settings_page"))


@bp.post("/settings/days-off/<int:day_off_id>/delete")
@ui_view("planner.settings.manage")
def day_off_delete(day_off_id: int):
    row = db.session.scalars(select(DayOff).where(DayOff.id == day_off_id)).first()
    if row is None:
        abort(404)
    audit.record("delete", row, changes={"day": [row.day.isoformat(), None]})
    db.session.delete(row)
    db.session.commit()
    flash(_("Day off removed."), "success")
    return redirect(url_for("planner_ui.settings_page"))


@bp.post("/settings/bays/<int:bay_id>/new-feed-link")
@ui_view("planner.settings.manage")
def rotate_feed(bay_id: int):
    from .models import _new_ics_token

    bay = db.session.scalars(select(Bay).where(Bay.id == bay_id)).first()
    if bay is None:
        abort(404)
    bay.ics_token = _new_ics_token()
    audit.record("update", bay, changes={"ics_token": ["***", "*** (new)"]})
    db.session.commit()
    flash(_("The old calendar link of %(bay)s no longer works.", bay=bay.name), "success")
    return redirect(url_for("planner_ui.settings_page"))

