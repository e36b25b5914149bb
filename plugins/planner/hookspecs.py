"""Hooks the planner defines for other plugins (added to the plugin manager by the core host because the
planner module exposes this module as its ``hookspecs`` attribute). Called through the tenant's proxy,
so a plugin the tenant does not have is never asked. Implement them with ``@hookimpl(optionalhook=True)``
when your plugin also runs without the planner. Documented in docs/plugins.md."""
from __future__ import annotations

from core.hookspecs import hookspec


@hookspec(firstresult=True)
def planner_booking_convert(booking, actor):
    """Open a document (the workshop: a service order) from a booking, in the caller's transaction (do
    not commit). ``booking`` is a plain dict: ``id``, ``start`` (local ISO date-time), ``bay`` (name),
    ``bay_id``, ``client_id``, ``vehicle_id``, ``client_name``, ``client_phone``, ``vehicle`` (text),
    ``reason``, ``planned_jobs`` (list of str), ``advisor_id``; ``actor`` is the user converting.

    Return ``{"resource": str, "id": int, "number": str, "url": str}`` for the document made (or the one
    already made from this booking: never make two), ``{"error": message, "status": 403|409|422}`` to
    refuse, or None when your plugin cannot convert for this tenant. The first answer wins; the planner
    then moves the booking to ``converted`` and keeps the link."""


@hookspec
def planner_booking_parts_status(booking_ids):
    """The state of the parts for the bookings ``booking_ids`` (a list of int), e.g. "all reserved" or
    "2 of 3 ordered": return ``{booking_id: str}`` (leave out bookings you know nothing about) or None.
    The arrivals list shows a "Parts" column only when some plugin answers."""


@hookspec
def planner_job_catalog(query, vehicle_id):
    """Jobs the shop offers, for the planned jobs of a booking: a list of dicts ``code`` (str or None),
    ``name`` (str), ``standard_hours`` (Decimal), ``bay_type`` (one of the planner's bay types or None).
    ``query`` is the text typed (match code or name; empty: the first jobs of the catalog), at most 50
    answers; ``vehicle_id`` is the CRM car of the booking or None (use its make/model norms when known)."""


@hookspec(firstresult=True)
def planner_client_by_phone(phone):
    """The client directory's client with this phone number, for a booking made on the public online
    page (``phone`` as the visitor typed it): return ``{"client_id": int}`` or None (no such client, or
    no directory in the tenant's plan). Only a lookup: never create a client here (the page asks no
    consent to messages). The first answer wins; the booking is then linked to that client."""


@hookspec(firstresult=True)
def planner_client_from_booking(client, vehicle, create, actor):
    """The client directory's client and car for a booking typed as free text, so it can become a
    service order. ``client`` is ``{"name": str, "phone": str}``, ``vehicle`` ``{"make": str, "model":
    str, "plate": str, "text": str}`` (``text`` the booking's car as typed; the other keys the planner's
    reading of it, corrected by the user), ``actor`` the user (None for the demo data).

    Find the client by phone and the car by plate; with ``create`` true, make whichever is missing (in
    the caller's transaction, audited, never committed), with ``create`` false only look. Return
    ``{"client_id": int | None, "client_name": str, "vehicle_id": int | None, "vehicle": str}`` (what was
    found or made, None where nothing was), ``{"error": message, "status": 409|422, "field": str}`` to
    refuse (``field``: ``client_name``, ``client_phone``, ``plate``, ``make`` or ``model``), ``{"error":
    "forbidden", "status": 403}`` when ``actor`` may not add what is missing, or None when there is no directory for this tenant. The first answer wins."""
