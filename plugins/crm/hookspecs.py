"""Hooks the CRM defines for other plugins (added to the plugin manager by the core host because the
CRM module exposes this module as its ``hookspecs`` attribute). Called through the tenant's proxy."""
from __future__ import annotations

from core.hookspecs import hookspec


@hookspec
def crm_service_book_entries(vehicle_id):
    """Return the service-book entries your plugin knows for vehicle ``vehicle_id`` (a list of dicts):

    ``date`` (date), ``mileage`` (int or None), ``work`` (list of str: what was done), ``parts`` (list of
    str: parts replaced), ``performed_by`` (str: technician or shop), ``amount`` (Decimal or None),
    ``source`` (str, e.g. ``"workshop.work_order"``), ``reference`` (``{"resource": ..., "id": ...}``
    or None). The CRM merges every plugin's entries, newest first."""


@hookspec
def crm_last_visits(vehicle_ids):
    """Return ``{vehicle_id: {"date": date, "mileage": int|None, "reference": {...}}}`` with the last
    visit of each of ``vehicle_ids`` you know of (the workshop does); search results show it."""


@hookspec
def crm_clients_merged(target_id, source_id):
    """Client ``source_id`` is being merged into ``target_id`` (inside the merge's transaction, before
    the source is deleted): repoint your rows from source to target. Return ``{table: rows_moved}``."""


@hookspec
def crm_message_channels():
    """Return a list of message channels: objects with ``kind`` and ``send(message) -> str`` (the
    provider's message id). ``message`` is a :class:`plugins.crm.messages.Message` with ``recipient``,
    ``subject`` and ``body`` filled in; raise :class:`plugins.crm.messages.ChannelError` when sending
    fails (it is retried with back-off, or failed at once with ``permanent=True``). Called with the
    tenant context pushed. A channel of kind ``"sms"`` or ``"email"`` replaces the CRM's built-in one;
    any other kind (2-10 of ``a-z0-9_``, e.g. ``"tg"``) adds a channel templates and mailings can use,
    and says how to find a client's address: ``recipient(client) -> str | None`` (a per-client handle
    your plugin keeps; None: the client has none) or ``client_field = "phone" | "email"`` (the client's
    first one, with the consent ``consent = "sms" | "email"`` names, by default the field's own); an
    optional ``title`` names it in forms and lists."""


@hookspec
def crm_visits(date_to):
    """Return the client visits you know of up to ``date_to`` (inclusive), in bulk, for the CRM's
    reports: a list of dicts ``client_id`` (int), ``date`` (date), ``amount`` (Decimal or None: what the
    visit earned) and ``booked`` (bool: a planned visit such as a booking, not one that happened), and
    optionally ``advisor_id`` (int or None: the service advisor, a user id, who booked the visit or ran
    the order), ``labour`` and ``parts`` (Decimal or None: the labour and the parts part of ``amount``)
    for the service advisor statistics, ``jobs`` and ``technicians`` (lists of str: the names of the
    jobs done and of who did them) for the client filters. The workshop answers with closed work
    orders, the planner with bookings. The CRM's manual service-book entries (work done elsewhere) are
    never visits."""


@hookspec
def crm_vehicle_actions(vehicle_id, client_id, reason):
    """Links your plugin offers for a car wherever the CRM shows it (the reminders' "due soon" list,
    the vehicle card): a list of ``{"label": str, "url": str}``. ``reason`` is a short text (e.g. the
    service that is due) or None."""
