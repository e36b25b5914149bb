"""Test plugin: another SMS provider offered through the CRM's ``crm_message_channels`` hook. It keeps
what it was asked to send; a recipient ending in 0 is refused permanently (a blocked number); one ending
in 9 makes the call die like a killed worker (not a ChannelError: the send job itself crashes)."""
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="crm_channel_test", version="1.0", title="SMS provider (test)",
                    features={"crm_channel_test.use": "SMS provider (test)"}, requires=("crm",))

SENT: list = []
CRASH = False


class WorkerDied(BaseException):
    """Stands for the process being killed mid-call: nothing in the send job catches it."""


class OtherSms:
    kind = "sms"

    def send(self, message):
        from plugins.crm.messages import ChannelError

        if message.recipient.endswith("0"):
            raise ChannelError("number blocked", permanent=True)
        if message.recipient.endswith("9") and CRASH:
            SENT.append((message.recipient, message.body))  # the provider got it, then the worker died
            raise WorkerDied("killed")
        SENT.append((message.recipient, message.body))
        return f"other-{len(SENT)}"


HANDLES: dict = {}  # client id -> messenger chat handle (a client who started the shop's bot)
DELIVERED: list = []


class Messenger:
    """A new kind of channel: the client's address is the handle this plugin keeps per client."""

    kind = "tg"
    title = "Telegram"

    def recipient(self, client):
        return HANDLES.get(client.id)

    def send(self, message):
        DELIVERED.append((message.recipient, message.body))
        return f"tg-{len(DELIVERED)}"


class Viber:
    """Another new kind that reuses the client's phone (and the SMS consent)."""

    kind = "viber"
    client_field = "phone"

    def send(self, message):
        DELIVERED.append((message.recipient, message.body))
        return "viber"


@hookimpl
def crm_message_channels():
    return [OtherSms(), Messenger(), Viber()]
