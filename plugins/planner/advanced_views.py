"""The ``planner.advanced`` pages: the day plan (load per bay with buffers, technicians, bookings in
order) and "Find a time" (the earliest fits for a job or a chain of bays, one click to book them).

A tenant without ``planner.advanced`` gets the upgrade page (404), as for any feature it lacks.
"""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from core import audit
from core.api.errors import translate_errors
from core.db import db
from core.i18n import domain

from . import service
from .models import BAY_TYPES, Bay
from .schemas import BookingCreateSchema
from .service import ADVANCED, PlannerError
from .settings import load_settings
from .views import _ctx, _day_arg, _today, ui_view

_ = domain("planner").gettext

bp = Blueprint("planner_advanced", __name__, url_prefix="/planner", template_folder="templates")

MAX_STEPS = 3  # the form's rows; the API takes up to service.MAX_SEGMENTS


# --- the day plan ------------------------------------------------------------------------------------------

@bp.get("/plan")
@ui_view("planner.booking.read", feature=ADVANCED)
def day_plan():
    """Per bay: capacity, buffer, bookable, booked and load, the technician and the bookings in order
    (a sequence shows each of its segments on its own bay); the day's total on top."""
    day = _day_arg()
    tz = service.tenant_zone()
    view = service.day_view(day, with_load=True)
    load = {item["bay_id"]: item for item in view["load"]}
    technicians = {a["bay_id"]: a["user_name"] for a in view["assignments"]}
    per_bay: dict[int, list[dict]] = {b["id"]: [] for b in view["bays"]}
    for item in view["bookings"]:
        if item["status"] in ("cancelled", "no_show"):
            continue
        pieces = item["segments"] or [{"bay_id": bay_id, "start": item["start"], "end": item["end"]}
                                      for bay_id in item["bay_ids"]]
        for number, piece in enumerate(pieces, 1):
            if piece["bay_id"] in per_bay:
                per_bay[piece["bay_id"]].append({**item, "at": piece["start"][11:16], "until": piece["end"][11:16],
                                                 "step": number if item["segments"] else None,
                                                 "steps": len(item["segments"])})
    for items in per_bay.values():
        items.sort(key=lambda x: (x["at"], x["id"]))
    own_buffers = {b.id: b.buffer_percent for b in db.session.scalars(select(Bay))}
    return render_template("planner/day_plan.html", day=day, today=_today(), tz=tz, bays=view["bays"], load=load,
                           own_buffers=own_buffers, can_edit_bays=current_user.can("planner.bay.update"),
                           shop_buffer=load_settings(service.tenant_row())["buffer_percent"],
                           total=view["load_total"], technicians=technicians, per_bay=per_bay, closed=view["closed"],
                           prev_day=day - timedelta(days=1), next_day=day + timedelta(days=1), **_ctx())


@bp.post("/plan/buffers")
@ui_view("planner.bay.update", feature=ADVANCED)
def save_bay_buffers():
    """The share of capacity each bay keeps free (empty: the shop's setting), from the day plan."""
    day = _day_arg()
    bays = {b.id: b for b in db.session.scalars(select(Bay))}
    wanted: dict[int, int | None] = {}
    for key, raw in request.form.items():
        if not key.startswith("buffer-"):
            continue
        try:
            bay = bays[int(key[7:])]
        except (ValueError, KeyError):
            abort(400)
        raw = raw.strip()
        if raw and not (raw.isdigit() and 0 <= int(raw) <= 90):
            flash(_("%(bay)s: enter a share from 0 to 90, or leave it empty for the shop's setting.",
                    bay=bay.name), "error")
            return redirect(url_for("planner_advanced.day_plan", date=day.isoformat()))
        wanted[bay.id] = int(raw) if raw else None
    for bay_id, percent in wanted.items():
        bay = bays[bay_id]
        if bay.buffer_percent != percent:
            audit.record("update", bay, changes={"buffer_percent": [bay.buffer_percent, percent]}, user=current_user)
            bay.buffer_percent = percent
    db.session.commit()
    flash(_("Buffers saved."), "success")
    return redirect(url_for("planner_advanced.day_plan", date=day.isoformat()))


# --- find a time -----------------------------------------------------------------------------------------------

def _find_form() -> tuple[dict, list[dict] | None, int | None, dict]:
    """The search form: rows of (bay type, minutes; the first may take planned jobs instead), the
    technician skill and the first day. Returns (values, steps or None, single duration, errors)."""
    args = request.args
    values = {"from": args.get("from") or _today().isoformat(), "skill": (args.get("skill") or "").strip()[:80],
              "jobs": (args.get("jobs") or "").strip()[:2000], "rows": []}
    errors: dict = {}
    for n in range(MAX_STEPS):
        bay_type = args.get(f"bay_type_{n}") or ""
        minutes = (args.get(f"minutes_{n}") or "").strip()
        values["rows"].append({"bay_type": bay_type, "minutes": minutes})
        if bay_type and bay_type not in BAY_TYPES:
            errors[f"bay_type_{n}"] = [_("Unknown bay type.")]
        if minutes and (not minutes.isdigit() or not 5 <= int(minutes) <= 24 * 60):
            errors[f"minutes_{n}"] = [_("Enter a whole number from %(low)s to %(high)s.", low=5, high=24 * 60)]
    try:
        date.fromisoformat(values["from"])
    except ValueError:
        errors["from"] = [_("Not a valid date (use YYYY-MM-DD).")]
    if errors:
        return values, None, None, errors
    first = values["rows"][0]
    if not first["minutes"] and values["jobs"]:
        jobs = [j.strip() for j in values["jobs"].splitlines() if j.strip()]
        minutes = service.jobs_minutes(jobs)
        if not minutes:
            errors["jobs"] = [_("None of the planned jobs is in the job catalog: enter the duration.")]
            return values, None, None, errors
        first["minutes"] = str(minutes)
    rows = [r for r in values["rows"] if r["minutes"]]
    if not rows:
        errors["minutes_0"] = [_("Enter the duration or choose planned jobs from the catalog.")]
        return values, None, None, errors
    if len(rows) == 1:
        return values, None, int(rows[0]["minutes"]), errors
    if any(not r["bay_type"] for r in rows):
        errors["bay_type_1"] = [_("Choose the bay type of each step.")]
        return values, None, None, errors
    if values["skill"]:
        errors["skill"] = [_("A technician skill cannot be combined with segments.")]
        return values, None, None, errors
    return values, [{"bay_type": r["bay_type"], "duration_minutes": int(r["minutes"])} for r in rows], None, errors


@bp.get("/find")
@ui_view("planner.booking.read", feature=ADVANCED)
def find_time():
    """"Find a time": the earliest fits (buffers kept free), each with a button that opens the booking
    form filled in (a chain: the short form below)."""
    tz = service.tenant_zone()
    searched = any(request.args.get(k) for k in ("minutes_0", "jobs"))
    values, steps, duration, errors = _find_form() if searched else (
        {"from": _today().isoformat(), "skill": "", "jobs": "",
         "rows": [{"bay_type": "", "minutes": ""} for _n in range(MAX_STEPS)]}, None, None, {})
    fits = []
    if searched and not errors:
        found = service.earliest_fits(duration, steps=steps, bay_type=values["rows"][0]["bay_type"] or None,
                                      from_day=date.fromisoformat(values["from"]), skill=values["skill"] or None,
                                      limit=5)
        bays = {b.id: b.name for b in service.active_bays()}
        for day, slot in found:
            item = {"day": day, "start": slot.start.astimezone(tz), "end": slot.end.astimezone(tz),
                    "start_iso": service.local_iso(slot.start, tz)[:16]}
            if slot.segments:
                item["pieces"] = [(bays.get(bay_id, bay_id), s.astimezone(tz), e.astimezone(tz))
                                  for bay_id, s, e in slot.segments]
                item["segments"] = ",".join(f"{bay_id}:{int((e - s).total_seconds() // 60)}"
                                            for bay_id, s, e in slot.segments)
            else:
                item["bays"] = [(bay_id, bays.get(bay_id, bay_id)) for bay_id in slot.bay_ids]
                item["duration"] = duration
            fits.append(item)
    return render_template("planner/find_time.html", values=values, errors=errors, fits=fits, searched=searched,
                           bay_types=BAY_TYPES, day=_today(), **_ctx()), 422 if errors else 200


def _parse_chain(raw: str) -> list[dict]:
    steps = []
    for part in (raw or "").split(","):
        bay_id, _sep, minutes = part.partition(":")
        if not (bay_id.isdigit() and minutes.isdigit()):
            return []
        steps.append({"bay_id": int(bay_id), "duration_minutes": int(minutes)})
    return steps[:service.MAX_SEGMENTS]


@bp.route("/find/book", methods=["GET", "POST"])
@ui_view("planner.booking.create", feature=ADVANCED)
def book_chain():
    """Book a chain found by "Find a time": its segments and start come along; client, car, reason."""
    source = request.form if request.method == "POST" else request.args
    steps = _parse_chain(source.get("segments", ""))
    values = {k: source.get(k, "") for k in ("start", "segments", "client_name", "client_phone", "vehicle", "reason")}
    errors: dict = {}
    if not steps:
        errors["_form"] = [_("Choose a time with \"Find a time\" first.")]
    elif request.method == "POST":
        raw = {k: values[k] for k in ("start", "client_name", "client_phone", "vehicle", "reason")}
        try:
            data = BookingCreateSchema().load({**raw, "segments": steps, "status": "confirmed"})
        except ValidationError as err:
            errors = translate_errors(err.messages)
        else:
            try:
                booking = service.save_booking(data, actor=current_user)
                db.session.commit()
            except PlannerError as exc:
                db.session.rollback()
                in_form = exc.field_name in ("start", "client_name", "client_phone", "vehicle", "reason")
                errors = exc.errors if in_form else {"_form": [exc.message]}
            except StaleDataError:
                db.session.rollback()
                errors = {"_form": [_("This booking was changed by someone else meanwhile. Reload it and try again.")]}
            else:
                flash(_("Booking #%(id)s saved.", id=booking.id), "success")
                local_day = booking.start_at.astimezone(service.tenant_zone()).date()
                return redirect(url_for("planner_advanced.day_plan", date=local_day.isoformat()))
    bays = {b.id: b.name for b in service.active_bays()}
    pieces = [(bays.get(s["bay_id"], s["bay_id"]), s["duration_minutes"]) for s in steps]
    status = 200 if not errors else (409 if "_form" in errors and steps else 422)
    return render_template("planner/book_chain.html", values=values, errors=errors, pieces=pieces,
                           day=_today(), **_ctx()), status

