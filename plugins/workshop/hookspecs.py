"""Hooks the workshop defines for other plugins (added to the plugin manager by the core host because the
workshop module exposes this module as its ``hookspecs`` attribute). Called through the tenant's proxy,
so a plugin the tenant does not have is never asked. Implement them with ``@hookimpl(optionalhook=True)``
when your plugin also runs without the workshop. Documented in docs/plugins.md."""
from __future__ import annotations

from core.hookspecs import hookspec


@hookspec
def workshop_funnel_bookings(start, end):
    """The first stage of the workshop's sales funnel: the bookings you know of whose visit starts in
    ``[start, end)`` (aware UTC datetimes bounding the shop's days). Return ``{"count": int, "amount":
    Decimal or None, "converted": int, "cancelled": int}`` (``count`` required; ``amount`` the planned
    value when you can price it; ``converted``: how many became service orders; ``cancelled``: cancelled
    or no-shows, included in ``count``) or None. The planner answers (plugins/planner/workshop_bridge.py);
    the workshop adds up every answer and shows no bookings stage when nobody answers."""
