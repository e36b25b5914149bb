"""The CRM's per-tenant settings form (``Tenant.plugin_settings["crm"]``): quiet hours, retries, SMTP and
SMS.ru. Import-light on purpose: the plugin's manifest refers to it when the plugin is loaded."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.i18n import domain

_l = domain("crm").lazy_gettext

_HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error=_l("Enter a time as HH:MM."))


class MessageSettingsSchema(Schema):
    """``Tenant.plugin_settings["crm"]``; the app config ``CRM_MESSAGES`` dict gives installation
    defaults (e.g. one SMTP relay for every shop). The SMS.ru address is installation-only
    (``CRM_MESSAGES["sms_ru_base_url"]``, default ``https://sms.ru``): a shop has no reason to change
    it, and a tenant-chosen URL would let the server fetch arbitrary addresses."""

    quiet_from = fields.String(load_default="21:00", validate=_HHMM, metadata={"label": _l("Quiet hours from")})
    quiet_to = fields.String(load_default="09:00", validate=_HHMM, metadata={"label": _l("Quiet hours until")})
    max_attempts = fields.Integer(load_default=5, validate=validate.Range(min=1, max=20),
                                  metadata={"label": _l("Send attempts before giving up")})
    retry_minutes = fields.Integer(load_default=5, validate=validate.Range(min=1, max=1440),
                                   metadata={"label": _l("First retry after (minutes; doubles each time)")})
    smtp_host = fields.String(load_default="", metadata={"label": _l("SMTP server")})
    smtp_port = fields.Integer(load_default=25, validate=validate.Range(min=1, max=65535),
                               metadata={"label": _l("SMTP port")})
    smtp_starttls = fields.Boolean(load_default=False, metadata={"label": _l("SMTP STARTTLS")})
    smtp_user = fields.String(load_default="", metadata={"label": _l("SMTP user")})
    smtp_password = fields.String(load_default="", metadata={"label": _l("SMTP password")})
    mail_from = fields.String(load_default="", metadata={"label": _l("Sender e-mail address")})
    sms_ru_api_id = fields.String(load_default="", metadata={"label": _l("SMS.ru api_id")})
    sms_sender = fields.String(load_default="", metadata={"label": _l("SMS sender name")})
    review_request_days = fields.Integer(load_default=3, validate=validate.Range(min=0, max=60),
                                         metadata={"label": _l("Ask for a review this many days after the work order closed")})
