"""Normalised search keys and validators for the CRM: plates, VINs, phones, INN, names.

Everything here is pure (no database): keys are computed once, when a row is written, and the search
looks them up through ordinary b-tree indexes (ARCHITECTURE.md: search keys are normalised when written).
Validators raise :class:`InvalidValue` with a translatable message.
"""
from __future__ import annotations

import re
import unicodedata

import phonenumbers

from core.i18n import domain

_l = domain("crm").lazy_gettext


class InvalidValue(ValueError):
    """A value that cannot be accepted; ``message`` is a lazy translatable string."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


# --- plates ----------------------------------------------------------------------------------------

# Cyrillic letters that look like Latin ones on Russian plates (ГОСТ Р 50577 uses exactly these 12).
CYRILLIC_LOOKALIKES = str.maketrans({
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H",
    "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X",
})
_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def fold_plate(value: str | None) -> str:
    """``а 123 вс-77`` -> ``A123BC77``: upper-case, separators removed, Cyrillic look-alikes to Latin."""
    if not value:
        return ""
    return _NOT_ALNUM.sub("", value.upper()).translate(CYRILLIC_LOOKALIKES)


def plate_keys(plate: str, min_len: int = 3) -> list[str]:
    """Every suffix of a folded plate (length >= ``min_len``): a prefix lookup on these finds any
    substring of the plate (``123B`` finds ``A123BC77``) through a plain index."""
    return [plate[i:] for i in range(0, max(len(plate) - min_len + 1, 0))]


# --- VIN -------------------------------------------------------------------------------------------

VIN_ALPHABET = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9))), **dict(zip("JKLMN", range(1, 6))), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10)))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def clean_vin(value: str | None) -> str:
    """Upper-case, separators removed, Cyrillic look-alikes folded (a VIN is typed from a document)."""
    return fold_plate(value)


def vin_check_digit(vin: str) -> str:
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS))
    rem = total % 11
    return "X" if rem == 10 else str(rem)


def validate_vin(value: str) -> str:
    """Return the normalised VIN or raise :class:`InvalidValue` saying what is wrong.

    The check digit (9th character) is mandatory only for North American VINs (first character 1-5);
    elsewhere (Europe, Russia, Asia) manufacturers are not bound to it, so it is not checked.
    """
    vin = clean_vin(value)
    if len(vin) != 17:
        raise InvalidValue(_l("A VIN has 17 characters; this one has %(n)s.", n=len(vin)))
    bad = sorted({c for c in vin if c in "IOQ"})
    if bad:
        raise InvalidValue(_l("A VIN never contains the letters I, O or Q (found: %(chars)s).", chars=", ".join(bad)))
    if not VIN_ALPHABET.match(vin):
        raise InvalidValue(_l("A VIN contains only Latin letters and digits."))
    if vin[0] in "12345" and vin_check_digit(vin) != vin[8]:
        raise InvalidValue(_l("The check digit of this North American VIN does not match: probably a typo."))
    return vin


# --- phones ----------------------------------------------------------------------------------------

DEFAULT_REGION = "RU"


def normalize_phone(value: str, region: str = DEFAULT_REGION) -> str:
    """Any written form (``8 (916) 123-45-67``, ``+7 916 1234567``) -> E.164 (``+79161234567``)."""
    text = (value or "").strip()
    if not text:
        raise InvalidValue(_l("Enter a phone number."))
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidValue(_l("%(value)s is not a phone number.", value=text)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue(_l("%(value)s is not a valid phone number (check the number of digits and the code).",
                              value=text))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_digits_reversed(e164: str) -> str:
    """``+79161234567`` -> ``76543216197``: a prefix lookup on this finds a phone by its last digits."""
    return "".join(c for c in e164 if c.isdigit())[::-1]


def format_phone(e164: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


# --- e-mail ----------------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")


def normalize_email(value: str) -> str:
    text = (value or "").strip()
    if not _EMAIL.match(text):
        raise InvalidValue(_l("%(value)s is not an e-mail address (expected name@domain.tld).", value=text))
    local, _, host = text.rpartition("@")
    return f"{local}@{host.lower()}"


# --- INN (Russian taxpayer number) -----------------------------------------------------------------

_INN10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _inn_digit(digits: str, weights) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights)) % 11 % 10


def validate_inn(value: str) -> str:
    inn = re.sub(r"\s+", "", value or "")
    if not inn.isdigit() or len(inn) not in (10, 12):
        raise InvalidValue(_l("An INN has 10 digits (organisation) or 12 digits (person)."))
    if len(inn) == 10:
        ok = _inn_digit(inn, _INN10) == int(inn[9])
    else:
        ok = _inn_digit(inn, _INN11) == int(inn[10]) and _inn_digit(inn, _INN12) == int(inn[11])
    if not ok:
        raise InvalidValue(_l("The INN's check digits do not match: probably a typo."))
    return inn


def inn_with_check(prefix: str) -> str:
    """Complete a 9- or 10-digit prefix to a valid INN (demo data, benchmarks, tests)."""
    if len(prefix) == 9:
        return prefix + str(_inn_digit(prefix, _INN10))
    p11 = prefix + str(_inn_digit(prefix, _INN11))
    return p11 + str(_inn_digit(p11, _INN12))


# --- names -----------------------------------------------------------------------------------------

# Legal forms say nothing about which company it is; they would match half the directory.
LEGAL_FORMS = frozenset({"ооо", "оао", "зао", "пао", "ао", "ип", "нко", "llc", "ltd", "inc", "gmbh", "co"})
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
TYPO_MIN_LEN = 4  # one typo in a 3-letter word matches too much


def name_words(name: str) -> list[str]:
    """``ООО «Ромашка-Авто»`` -> ``['ромашка', 'авто']``: lower-case, ё -> е, legal forms dropped."""
    text = unicodedata.normalize("NFKC", name or "").lower().replace("ё", "е")
    words = [w for w in _WORD.findall(text) if w not in LEGAL_FORMS]
    seen, out = set(), []
    for w in words:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def deletions(word: str) -> set[str]:
    """The word with one character removed, every way (a deletion neighbourhood, as in SymSpell):
    two words within one edit (insert, delete, substitute, swap) share at least one of these keys."""
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def name_keys(name: str) -> tuple[list[str], set[str]]:
    """(words for prefix search, one-deletion keys for typo search)."""
    words = name_words(name)
    typo: set[str] = set()
    for w in words:
        if len(w) >= TYPO_MIN_LEN:
            typo |= deletions(w)
    return words, typo


def typo_keys(name: str) -> set[str]:
    """``<word minus one letter>/<word>`` for every word of 4+ letters: a lookup by the deletion finds the
    correctly spelled word too, so a typo'd surname can be corrected and combined with the first name."""
    return {f"{d}/{w}" for w in name_words(name) if len(w) >= TYPO_MIN_LEN for d in deletions(w)}


def name_pairs(name: str) -> list[str]:
    """Adjacent word pairs (``иванов иван``, ``иван петрович``): "Иванов Иван" is a common pair of
    common words; a key of its own finds exactly those people instead of intersecting two huge lists."""
    words = name_words(name)
    return [f"{a} {b}" for a, b in zip(words, words[1:])]
