"""Validators and search keys of the CRM (pure functions: no database)."""
import pytest

from plugins.crm.normalize import (InvalidValue, deletions, fold_plate, inn_with_check, name_keys, normalize_email,
                                   normalize_phone, phone_digits_reversed, plate_keys, validate_inn, validate_vin)


def message(fn, value):
    with pytest.raises(InvalidValue) as exc:
        fn(value)
    return str(exc.value.message)


def test_vin_rules():
    assert validate_vin("1m8gdm9axkp042788") == "1M8GDM9AXKP042788"  # North American, check digit X ok
    assert "17 characters" in message(validate_vin, "XTA2190")
    assert "I, O or Q" in message(validate_vin, "XTA21900O12345678")
    assert "check digit" in message(validate_vin, "1M8GDM9A1KP042788")
    # Outside North America the 9th character is not a check digit: accepted as written.
    assert validate_vin("XTA219000K0123456") == "XTA219000K0123456"
    assert validate_vin("WVW ZZZ 6RZ-CY123456") == "WVWZZZ6RZCY123456"


def test_phone_normalised_to_e164_and_reversed():
    for written in ("8 (916) 123-45-67", "+7 916 123 45 67", "79161234567", "9161234567"):
        assert normalize_phone(written) == "+79161234567"
    assert phone_digits_reversed("+79161234567") == "76543216197"
    assert "not a valid phone number" in message(normalize_phone, "123")
    assert "not a phone number" in message(normalize_phone, "call me")


def test_email_and_inn():
    assert normalize_email(" Ivan@Mail.RU ") == "Ivan@mail.ru"
    assert "e-mail address" in message(normalize_email, "ivan@")
    assert validate_inn("7707083893") == "7707083893"
    assert validate_inn("500100732259") == "500100732259"
    assert "check digits" in message(validate_inn, "7707083894")
    assert "10 digits" in message(validate_inn, "12345")
    assert validate_inn(inn_with_check("123456789")) and validate_inn(inn_with_check("1234567890"))


def test_plate_folding_and_keys():
    assert fold_plate("а 123 вс-77") == "A123BC77"
    assert fold_plate("A123ВС 777") == "A123BC777"  # Latin A, Cyrillic В and С
    assert fold_plate("к001мм|rus 99") == "K001MMRUS99"
    assert plate_keys("A123BC77") == ["A123BC77", "123BC77", "23BC77", "3BC77", "BC77", "C77"]


def test_name_keys_cover_one_typo():
    words, typo = name_keys("ООО «Ромашка-Авто»")
    assert words == ["ромашка", "авто"]
    # substitution, insertion, deletion and swap all share a one-deletion key with the original
    for typed in ("ромошка", "ромашкка", "рмашка", "рoмашка".replace("o", "о"), "рмоашка"):
        assert deletions(typed) & (typo | {"ромашка"}) or typed in typo
    assert name_keys("Семёнов Пётр")[0] == ["семенов", "петр"]
