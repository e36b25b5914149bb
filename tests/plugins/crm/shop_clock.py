"""Today as the test shops see it: tenants are created in Europe/Moscow (the default), and the CRM dates
things by the shop's day, which is UTC's next day from 21:00 UTC on."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

SHOP_ZONE = "Europe/Moscow"


def shop_today() -> date:
    return datetime.now(ZoneInfo(SHOP_ZONE)).date()
