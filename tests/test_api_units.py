"""Parts of the API that need no database: the Money field, message translation coverage."""
from __future__ import annotations

import inspect
from decimal import Decimal

import marshmallow
import pytest
from marshmallow import Schema, ValidationError, fields, validate

from core.api.errors import MARSHMALLOW_MESSAGES, english_template
from core.api.fields import Money


class PriceSchema(Schema):
    price = Money(required=True)


@pytest.mark.parametrize("raw, amount", [
    ("12.5", Decimal("12.50")), ("0", Decimal("0.00")), (7, Decimal("7.00")), (Decimal("1.10"), Decimal("1.10")),
    (" 3.00 ", Decimal("3.00")), ("-4.2", Decimal("-4.20")),
])
def test_money_loads_exact_decimals(raw, amount):
    loaded = PriceSchema().load({"price": raw})["price"]
    assert loaded == amount and isinstance(loaded, Decimal) and loaded.as_tuple().exponent == -2


@pytest.mark.parametrize("raw, message", [
    (1.5, "Not a valid amount of money."), (True, "Not a valid amount of money."), ("abc", "Not a valid amount of money."),
    ("NaN", "Not a valid amount of money."), ("1.005", "At most two decimal places."), ([], "Not a valid amount of money."),
    ("1e20", "Amount too large."),
])
def test_money_refuses_floats_and_fractions_of_a_kopeck(raw, message):
    with pytest.raises(ValidationError) as err:
        PriceSchema().load({"price": raw})
    assert err.value.messages == {"price": [message]}


def test_money_dumps_two_decimals_as_a_string():
    assert PriceSchema().dump({"price": Decimal("5")}) == {"price": "5.00"}
    assert PriceSchema().dump({"price": None}) == {"price": None}


def _default_messages():
    """Every default message marshmallow ships: fields, validators, Schema."""
    found = set()
    for _name, cls in inspect.getmembers(marshmallow.fields, inspect.isclass):
        for klass in cls.__mro__:
            found.update(m for m in getattr(klass, "default_error_messages", {}).values() if isinstance(m, str))
    found.update(Schema._default_error_messages.values())
    for _name, cls in inspect.getmembers(marshmallow.validate, inspect.isclass):
        for attr in ("default_message", "message_min", "message_max", "message_all", "message_equal"):
            value = getattr(cls, attr, None)
            if isinstance(value, str):
                found.add(value)
    return found


def test_every_builtin_marshmallow_message_has_a_translatable_msgid():
    """Formatting each template the way marshmallow does must land on one of our gettext msgids."""
    samples = {"input": "x", "obj_type": "datetime", "awareness": "naive", "choices": "a, b", "values": "a",
               "min": 1, "max": 2, "equal": 3, "other": 4}
    range_ops = [("greater than or equal to", "less than or equal to"), ("greater than", "less than")]
    missing = []
    for template in _default_messages():
        candidates = []
        if "{min_op}" in template or "{max_op}" in template:
            for min_op, _ in range_ops:
                for _x, max_op in range_ops:
                    candidates.append(template.format(min_op=min_op, max_op=max_op).format(**samples))
        else:
            # only datetimes and times have an awareness
            for obj_type in ("datetime", "time") if "{awareness}" in template else ("datetime", "date", "time"):
                candidates.append(template.replace("{input!r}", "'x'").format(**{**samples, "obj_type": obj_type}))
        missing += [c for c in candidates if english_template(c) is None]
    assert missing == []
    assert len(MARSHMALLOW_MESSAGES) == len({m._args[0] for m in MARSHMALLOW_MESSAGES})


def test_validator_messages_come_back_through_gettext():
    from flask import Flask
    from flask_babel import Babel

    from core.api.errors import translate_errors

    class S(Schema):
        n = fields.Int(validate=validate.Range(min=1, max=5))

    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        with pytest.raises(ValidationError) as err:
            S().load({"n": 9})
        assert translate_errors(err.value.messages) == {"n": ["Must be greater than or equal to 1 and less than or equal to 5."]}
