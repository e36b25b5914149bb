"""The CRM's built-in message channels, offered through its own ``crm_message_channels`` hook:
e-mail over SMTP (``smtplib``) and SMS through SMS.ru's HTTP API. Settings come from
:func:`plugins.crm.messages.settings` (the tenant's CRM settings over the app's ``CRM_MESSAGES``).

A channel has ``kind`` (``"sms"``/``"email"``) and ``send(message) -> provider id``; it raises
:class:`~plugins.crm.messages.ChannelError` on failure (``permanent=True`` when retrying cannot help).
"""
from __future__ import annotations

import json
import smtplib
import socket
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid

from core.i18n import domain

from .messages import ChannelError, settings

_ = domain("crm").gettext
TIMEOUT = 15  # seconds; the job must not hang on a dead server


class EmailChannel:
    kind = "email"

    def send(self, message) -> str:
        conf = settings()
        if not conf["smtp_host"] or not conf["mail_from"]:
            raise ChannelError(_("E-mail is not set up: give the SMTP server and the sender address."),
                               permanent=True)
        mail = EmailMessage()
        mail["From"] = conf["mail_from"]
        mail["To"] = message.recipient
        mail["Subject"] = message.subject or conf["shop_name"]
        msgid = make_msgid(domain=conf["mail_from"].rpartition("@")[2] or None)
        mail["Message-ID"] = msgid
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(conf["smtp_host"], conf["smtp_port"], timeout=TIMEOUT) as smtp:
                if conf["smtp_starttls"]:
                    smtp.starttls()
                if conf["smtp_user"]:
                    smtp.login(conf["smtp_user"], conf["smtp_password"])
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(_("The mail server refused the address: %(error)s", error=exc), permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(_("The mail server failed: %(error)s", error=exc)) from exc
        return msgid


class SmsRuChannel:
    """SMS.ru: ``GET {base}/sms/send?api_id=&to=&msg=&json=1`` answers ``{"status": "OK", "sms":
    {"7925...": {"status": "OK", "sms_id": "..."}}}`` or ``{"status": "ERROR", "status_text": ...}``."""

    kind = "sms"

    def send(self, message) -> str:
        conf = settings()
        if not conf["sms_ru_api_id"]:
            raise ChannelError(_("SMS is not set up: give the SMS.ru api_id."), permanent=True)
        to = "".join(ch for ch in message.recipient if ch.isdigit())
        params = {"api_id": conf["sms_ru_api_id"], "to": to, "msg": message.body, "json": 1}
        if conf["sms_sender"]:
            params["from"] = conf["sms_sender"]
        url = conf["sms_ru_base_url"].rstrip("/") + "/sms/send?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except (urllib.error.URLError, socket.timeout, OSError, ValueError) as exc:
            raise ChannelError(_("The SMS gateway failed: %(error)s", error=exc)) from exc
        if answer.get("status") != "OK":
            raise ChannelError(_("The SMS gateway refused: %(error)s",
                                 error=answer.get("status_text") or answer.get("status_code")))
        one = (answer.get("sms") or {}).get(to) or {}
        if one.get("status") != "OK":
            # Per-number errors (a bad number, a blocked one) do not get better on retry.
            raise ChannelError(_("The SMS gateway refused the number: %(error)s",
                                 error=one.get("status_text") or one.get("status_code")), permanent=True)
        return str(one.get("sms_id") or "")


BUILTIN = [EmailChannel(), SmsRuChannel()]
