"""Instant search: one box that finds a client or a car by whatever reception has at hand.

All keys live in ``crm_search_key`` (index ``tenant_id, key``), normalised when written
(:mod:`plugins.crm.indexing`):

=================  =====================================================  =========
what is typed      how it is matched                                     key
=================  =====================================================  =========
full VIN           equality on the reversed VIN                          ``v:``
last 4-16 of VIN   prefix of the reversed VIN                            ``v:``
plate, any part    prefix of one of the plate's suffixes, after folding  ``p:``
                   Cyrillic look-alikes to Latin (``а123вс`` = A123BC)
former plate       the same on the car's earlier plates (ranked below   ``o:``
                   any current-plate match; the result names it)
phone, any format  E.164 equality; the national number or its last 4+    ``t:``
                   digits as a prefix of the reversed digits
name / company     word prefix                                           ``n:``
INN               equality                                              ``i:``
two name words     "surname first-name" (either order), the last a prefix ``f:``
one typo in name   one-deletion neighbourhood (SymSpell-style); the      ``d:``/``n:``
                   corrected word then pairs with the next word          ``f:``
=================  =====================================================  =========

Every candidate reading of the query becomes one index range scan with its own small LIMIT, and all of
them go to the database as ONE ``UNION ALL`` statement, which also brings the cars found (the index
covers the ids: no table row is read per hit); one more fetches the clients shown with their phones and
cars. The one-typo scans of a name word run as a second statement, and only when the word as typed did
not fill its own scan (a correctly typed common name never needs them). So a search is 2 statements, 3-4
with a typo. No scan of a table, whatever the size of the shop.

A hit scores by how exact it is; scores of different tokens add up (``иванов а123`` ranks Ivanov's
A123.. car first); the best come first.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import NamedTuple

from core.db import tenant_sql

from .normalize import (InvalidValue, TYPO_MIN_LEN, deletions, fold_plate, name_words, normalize_phone,
                        phone_digits_reversed)

FANOUT = 30  # rows one range scan may bring back; short prefixes are capped, exact keys rank first anyway
TOP = "\uffff"  # above every character a key holds: [p, p + TOP) is "starts with p"
_PHONE_CHARS = re.compile(r"^[\d\s()+\-.]+$")
_HAS_DIGIT = re.compile(r"\d")
VIN_CHARS = re.compile(r"^[A-HJ-NPR-Z0-9]+$")
LATIN_ONLY = re.compile(r"^[A-Za-z0-9]+$")

# Score of each kind of match (higher = more exact).
S_EXACT = 100
S_PHONE_NATIONAL = 95
S_VIN_SUFFIX = 85
S_PLATE_PREFIX = 80
S_PHONE_SUFFIX = 75
S_PLATE_PART = 65
S_FORMER_PLATE_EXACT = 64  # the whole former plate: below any match of a current plate
S_NAME_WORD = 60
S_FORMER_PLATE = 55
S_NAME_PREFIX = 50
S_NAME_TYPO = 30

WHOLE_QUERY_PHONE = -1
WHOLE_QUERY_PLATE = -2


class _Plan:
    """The range scans to run: (token index, what, score, lower bound, exact keys or None).

    ``typo``: the one-typo scans of each name word, kept aside as (scan number of the word's own
    prefix scan, its typo scans); :func:`search` runs them only where the word itself found too little.
    """

    def __init__(self):
        self.scans: list[tuple[int, str, int, str | None, list[str] | None]] = []
        self.rows: list = []
        self.typo: list[tuple[int, list[tuple[int, str, int, str | None, list[str] | None]]]] = []

    def prefix(self, token: int, what: str, score: int, prefix: str) -> None:
        self.scans.append((token, what, score, prefix, None))

    def exact(self, token: int, what: str, score: int, keys: list[str]) -> None:
        self.scans.append((token, what, score, None, keys))


def _plan_phone(q: str, plan: _Plan) -> None:
    digits = re.sub(r"\D", "", q)
    if len(digits) < 4 or not _PHONE_CHARS.match(q):
        return
    if len(digits) >= 10:
        try:
            plan.exact(WHOLE_QUERY_PHONE, "phone", S_EXACT, ["t:" + phone_digits_reversed(normalize_phone(q))])
        except InvalidValue:
            pass
        # The national number alone (country code typed differently, or an 8 in front).
        plan.prefix(WHOLE_QUERY_PHONE, "phone", S_PHONE_NATIONAL, "t:" + digits[-10:][::-1])
    else:
        plan.prefix(WHOLE_QUERY_PHONE, "phone", S_PHONE_SUFFIX, "t:" + digits[::-1])


def _plan_inn(token: str, index: int, plan: _Plan) -> None:
    if token.isdigit() and len(token) in (10, 12):
        plan.exact(index, "inn", S_EXACT, ["i:" + token])


def _plan_vehicle(token: str, index: int, plan: _Plan) -> None:
    folded = fold_plate(token)
    if len(folded) < 3:
        return
    if len(folded) == 17 and VIN_CHARS.match(folded):
        plan.exact(index, "vin", S_EXACT, ["v:" + folded[::-1]])
    elif 4 <= len(folded) < 17 and VIN_CHARS.match(folded):
        plan.prefix(index, "vin", S_VIN_SUFFIX, "v:" + folded[::-1])
    if _HAS_DIGIT.search(folded) and len(folded) <= 12:
        plan.prefix(index, "plate", S_PLATE_PART, "p:" + folded)
        plan.prefix(index, "former_plate", S_FORMER_PLATE, "o:" + folded)


def _plan_name(word: str, index: int, plan: _Plan) -> None:
    if len(word) < 2:
        return
    plan.prefix(index, "name", S_NAME_PREFIX, "n:" + word)
    if len(word) >= TYPO_MIN_LEN:
        near = sorted(deletions(word))
        typo = [(index, "name~", S_NAME_TYPO, None, ["n:" + w for w in near]),  # one letter too many
                (index, "name~", S_NAME_TYPO, f"d:{word}/", None)]  # one letter missing
        typo += [(index, "name~", S_NAME_TYPO, f"d:{w}/", None) for w in near]  # one letter wrong, or swapped
        plan.typo.append((len(plan.scans) - 1, typo))


def _corrected(key: str) -> str:
    """The correctly spelled word a typo hit stands for (``d:ивнов/иванов`` -> ``иванов``)."""
    return key.split("/", 1)[1] if key.startswith("d:") else key[2:]


def _tokens(q: str) -> list[str]:
    return [t for t in re.split(r"[\s,;]+", q) if t]


def plan(q: str) -> _Plan:
    p = _Plan()
    q = (q or "").strip()
    if len(q) < 2:
        return p
    _plan_phone(q, p)
    tokens = _tokens(q)
    # A whole phone number ("8 (912) 345-67-89": 10+ digits, nothing but phone punctuation) is not also
    # read as plates and VIN tails: "(912)" as a plate part brought 30 unrelated cars along with the owner.
    whole_phone = len(re.sub(r"\D", "", q)) >= 10 and _PHONE_CHARS.match(q) is not None
    joined = fold_plate(q)
    if len(tokens) > 1 and _HAS_DIGIT.search(joined) and not whole_phone:  # "а 123 вс 77": a plate with spaces
        _plan_vehicle(joined, WHOLE_QUERY_PLATE, p)
    for i, token in enumerate(tokens):
        if (_HAS_DIGIT.search(token) or (LATIN_ONLY.match(token) and len(token) >= 4)) and not whole_phone:
            _plan_vehicle(token, i, p)
        _plan_inn(token, i, p)
        if not _HAS_DIGIT.search(token):
            for word in name_words(token):
                _plan_name(word, i, p)
    # Two adjacent words as a pair key, typed in either order ("Иван Иванов" finds "Иванов Иван ...").
    for i, (a, b) in enumerate(zip(tokens, tokens[1:])):
        wa, wb = name_words(a), name_words(b)
        if len(wa) == 1 and len(wb) == 1 and len(wa[0]) >= 2 and len(wb[0]) >= 1:
            p.prefix(i, "name2", S_NAME_WORD, f"f:{wa[0]} {wb[0]}")
            p.prefix(i, "name2", S_NAME_WORD, f"f:{wb[0]} {wa[0]}")
    return p




class _Vehicle(NamedTuple):
    id: int
    vin: str | None
    plate: str | None
    make: str | None
    model: str | None
    year: int | None
    client_id: int | None


def _lookup(p: _Plan, start: int = 0, vehicles: dict | None = None) -> list[tuple[int, int, str, str, int | None, int | None]]:
    """Run every scan of the plan from ``start`` on in one statement: rows (scan number, token, what, key,
    client, vehicle).

    Written as SQL text: building a 20-branch UNION with the expression language cost more than the
    database took to run it. Every branch is an index range scan on ``(tenant_id, key)``; the tenant is
    bound by :func:`core.db.tenant_sql`. With ``vehicles`` (a dict to fill, id -> :class:`_Vehicle`), the
    cars found come back in the same statement (a primary-key join per hit) instead of a second round
    trip. The text depends only on the plan's shape, so PostgreSQL's driver prepares it once it repeats.
    """
    if len(p.scans) <= start:
        return []
    branches, params = [], {}
    for n, (_token, _what, _score, prefix, keys) in enumerate(p.scans[start:], start):
        if keys is not None:
            names = []
            for j, key in enumerate(keys):
                params[f"k{n}_{j}"] = key
                names.append(f":k{n}_{j}")
            cond = f"key IN ({', '.join(names)})"
        else:
            params[f"lo{n}"], params[f"hi{n}"] = prefix, prefix + TOP
            cond = f"key >= :lo{n} AND key < :hi{n}"
        branches.append(f"SELECT * FROM (SELECT {n} AS scan, key, client_id, vehicle_id FROM crm_search_key "
                        f"WHERE tenant_id = :tenant_id AND {cond} LIMIT {FANOUT}) AS s{n}")
    sql = " UNION ALL ".join(branches)
    if vehicles is None:
        rows = tenant_sql(sql, **params).all()
    else:
        rows = tenant_sql(
            f"SELECT s.scan, s.key, s.client_id, s.vehicle_id, v.id, v.vin, v.plate, v.make, v.model, v.year, "
            f"v.client_id FROM ({sql}) AS s LEFT JOIN crm_vehicle v ON v.tenant_id = :tenant_id "
            f"AND v.id = s.vehicle_id", **params).all()
        for r in rows:
            if r[4] is not None:
                vehicles[r[4]] = _Vehicle(*r[4:])
    return [(r[0], p.scans[r[0]][0], p.scans[r[0]][1], r[1], r[2], r[3]) for r in rows]


# Hand-written SQL for the fetches too: the expression language and the ORM's tenant criteria cost more
# CPU than the database spends on these primary-key lookups. The tenant is bound by tenant_sql.
_ID_BUCKETS = (1, 5, 20, 50, 100)


def _id_list(name: str, values, params: dict) -> str:
    """Bind parameters for ``IN (...)``, padded (with a repeated id) to one of a few lengths: the
    statement's text repeats, so PostgreSQL's driver can prepare it instead of planning it anew."""
    ids = sorted({int(v) for v in values})
    size = next((b for b in _ID_BUCKETS if b >= len(ids)), len(ids))
    ids += [ids[-1]] * (size - len(ids))
    names = []
    for j, value in enumerate(ids):
        params[f"{name}{j}"] = value
        names.append(f":{name}{j}")
    return ", ".join(names)


class _Hits:
    def __init__(self):
        self.clients: dict[int, dict[int, tuple[int, str]]] = defaultdict(dict)
        self.vehicles: dict[int, dict[int, tuple[int, str]]] = defaultdict(dict)

    def add(self, table, obj_id: int, token: int, score: int, match: str) -> None:
        if table[obj_id].get(token, (0, ""))[0] < score:
            table[obj_id][token] = (score, match)


def _score(token_scores: dict[int, tuple[int, str]]) -> int:
    """Sum over the query's tokens; the whole query read as one plate stands instead of its parts when it
    scores more; the whole query read as a phone adds."""
    per_token = sum(v[0] for k, v in token_scores.items() if k >= 0)
    whole_plate = token_scores.get(WHOLE_QUERY_PLATE, (0, ""))[0]
    return max(per_token, whole_plate) + token_scores.get(WHOLE_QUERY_PHONE, (0, ""))[0]


def _second_pass(q: str, p: _Plan, hits: _Hits) -> None:
    """A typo in one word of a multi-word name ("Ивонов Иван"): correct the word from the first pass's
    keys and look the corrected pair up, so the right Ivanov Ivan wins over every other Ivanov."""
    tokens = _tokens(q)
    words = [name_words(t) for t in tokens]
    if len(tokens) < 2 or _HAS_DIGIT.search(q) or any(row[2] == "name2" for row in p.rows):
        return  # one word, or the pair as typed already matched: nothing to correct
    fixes: dict[int, set[str]] = defaultdict(set)
    for _scan, token, what, key, _client, _vehicle in p.rows:
        if what == "name~" and len(fixes[token]) < 3:
            fixes[token].add(_corrected(key))
    fixes = {t: f for t, f in fixes.items() if f}
    if not fixes:
        return
    second = _Plan()
    for i in range(len(tokens) - 1):
        if len(words[i]) != 1 or len(words[i + 1]) != 1:
            continue
        left = {words[i][0]} | fixes.get(i, set())
        right = {words[i + 1][0]} | fixes.get(i + 1, set())
        for a in sorted(left):
            for b in sorted(right):
                if (a, b) != (words[i][0], words[i + 1][0]):
                    second.prefix(i, "name2~", S_NAME_WORD - 5, f"f:{a} {b}")
                    second.prefix(i, "name2~", S_NAME_WORD - 5, f"f:{b} {a}")
    for _scan, token, _what, _key, client_id, _vehicle in _lookup(second):
        if client_id is not None:
            hits.add(hits.clients, client_id, token, S_NAME_WORD - 5, "name~")
            hits.add(hits.clients, client_id, token + 1, S_NAME_WORD - 5, "name~")


def _typo_phase(p: _Plan, limit: int) -> None:
    """Run the one-typo scans of the words that need them, as a second statement, and add their rows.

    A word whose own prefix scan came back full (``FANOUT`` rows: at least that many names start with
    it) skips them: each of those hits outscores any typo hit of the word (50-60 against 30), so with
    ``limit <= FANOUT`` a typo hit could only be ranked in by the query's other words, whose own scans
    are capped samples too. So does a word of a two-word pair found as typed ("Каровнин Иван" is a
    client): the pair scores 120, a typo reading of it at most 90, and the person asked for is found
    (the same rule as :func:`_second_pass`). Everything else (a misspelt word, a rare name alone, a
    small shop) runs them as before. This keeps the ~15 typo scans per word away from the common case
    of a correctly typed name.
    """
    if not p.typo:
        return
    per_scan: dict[int, int] = defaultdict(int)
    paired: set[int] = set()  # tokens of a two-word pair found as typed ("Иванов Иван" is someone's name)
    for row in p.rows:
        per_scan[row[0]] += 1
        if row[2] == "name2":
            paired |= {row[1], row[1] + 1}
    start = len(p.scans)
    for name_scan, typo_scans in p.typo:
        if limit > FANOUT:
            p.scans.extend(typo_scans)
        elif per_scan.get(name_scan, 0) < FANOUT and typo_scans[0][0] not in paired:
            p.scans.extend(typo_scans)
    p.rows = p.rows + _lookup(p, start)


def search(q: str, limit: int = 20) -> list[dict]:
    """Ranked results: ``{"type": "vehicle"|"client", "score", "matched", "vehicle", "client",
    "vehicles", "last_visit"}``; the client of a car is its current owner."""
    from .services import last_visits

    p = plan(q)
    hits = _Hits()
    vehicle_rows: dict[int, _Vehicle] = {}
    p.rows = _lookup(p, vehicles=vehicle_rows if any(s[1] in ("vin", "plate", "former_plate") for s in p.scans)
                     else None)
    former: dict[int, str] = {}  # vehicle -> the former plate it was found by
    _typo_phase(p, limit)
    for scan, token, what, key, client_id, vehicle_id in p.rows:
        score = p.scans[scan][2]
        if what == "name" and key == p.scans[scan][3]:
            score = S_NAME_WORD  # the whole word, not just its beginning
        if what == "former_plate":
            suffix, _bar, whole = key[2:].partition("|")
            if whole == suffix == p.scans[scan][3][2:]:
                score = S_FORMER_PLATE_EXACT
            if vehicle_id not in former or score == S_FORMER_PLATE_EXACT:
                former[vehicle_id] = whole
        if vehicle_id is not None:
            hits.add(hits.vehicles, vehicle_id, token, score, what)
        elif what == "name2":  # a pair stands for both of its tokens
            hits.add(hits.clients, client_id, token, score, "name")
            hits.add(hits.clients, client_id, token + 1, score, "name")
        elif client_id is not None:
            hits.add(hits.clients, client_id, token, score, what)
    _second_pass(q, p, hits)
    if not hits.clients and not hits.vehicles:
        return []

    # The cars came with the keys (_lookup); their owners and the listed clients' cars are fetched below.
    plate_tokens = {s[0]: s[3][2:] for s in p.scans if s[1] == "plate"}

    results = []  # (score, type, vehicle row or None, client id)
    owners_matched = set()
    for vid, token_scores in hits.vehicles.items():
        v = vehicle_rows.get(vid)
        if v is None:
            continue
        scores = dict(token_scores)
        for token, typed in plate_tokens.items():  # exact and leading plate matches rank higher
            if token in scores and scores[token][1] == "plate" and v.plate:
                if v.plate == typed:
                    scores[token] = (S_EXACT, "plate")
                elif v.plate.startswith(typed):
                    scores[token] = (S_PLATE_PREFIX, "plate")
        for token, value in hits.clients.get(v.client_id, {}).items():  # "петров а123": owner matched too
            scores.setdefault(token, value)
        if v.client_id in hits.clients:
            owners_matched.add(v.client_id)
        results.append((_score(scores), "vehicle", v, v.client_id, sorted({m for _s, m in scores.values()})))
    for cid, token_scores in hits.clients.items():
        if cid not in owners_matched:
            results.append((_score(token_scores), "client", None, cid, sorted({m for _s, m in token_scores.values()})))
    results.sort(key=lambda r: (-r[0], r[1] != "vehicle", r[2].id if r[2] is not None else r[3]))
    results = results[:limit]

    client_ids = {r[3] for r in results if r[3] is not None}
    listed_clients = [r[3] for r in results if r[1] == "client"]
    clients = {}
    phones: dict[int, list[str]] = defaultdict(list)
    owned: dict[int, list] = defaultdict(list)
    if client_ids:
        # The clients with their phones and, for clients listed as such, their cars: one statement (a
        # UNION ALL of two primary-key / indexed lookups, the columns shared positionally).
        params: dict = {}
        sql = ("SELECT 0 AS part, c.id AS id, c.name AS s1, c.kind AS s2, p.e164 AS s3, NULL AS s4, "
               "p.position AS n, NULL AS owner FROM crm_client c LEFT JOIN crm_client_phone p "
               "ON p.client_id = c.id AND p.tenant_id = :tenant_id "
               f"WHERE c.tenant_id = :tenant_id AND c.id IN ({_id_list('c', client_ids, params)})")
        if listed_clients:
            sql += (" UNION ALL SELECT 1, v.id, v.vin, v.plate, v.make, v.model, v.year, v.client_id "
                    "FROM crm_vehicle v WHERE v.tenant_id = :tenant_id "
                    f"AND v.client_id IN ({_id_list('o', listed_clients, params)})")
        for part, row_id, s1, s2, s3, s4, n, owner in tenant_sql(sql + " ORDER BY part, id, n", **params):
            if part == 0:
                clients.setdefault(row_id, (row_id, s1, s2))
                if s3:
                    phones[row_id].append(s3)
            else:
                owned[owner].append(_Vehicle(row_id, s1, s2, s3, s4, n, owner))
    shown = [r[2].id for r in results if r[2] is not None] + [v.id for vs in owned.values() for v in vs[:5]]
    visits = last_visits(shown)

    def vehicle_dict(v) -> dict:
        return {"id": v.id, "vin": v.vin, "plate": v.plate, "make": v.make, "model": v.model, "year": v.year,
                "client_id": v.client_id}

    def client_dict(cid) -> dict | None:
        c = clients.get(cid)
        return None if c is None else {"id": c[0], "name": c[1], "kind": c[2], "phones": phones.get(c[0], [])}

    out = []
    for total, kind, v, cid, matched in results:
        item = {"type": kind, "score": total, "matched": matched,
                "vehicle": vehicle_dict(v) if v is not None else None, "client": client_dict(cid)}
        if v is not None and "former_plate" in matched:
            item["former_plate"] = former.get(v.id)  # found by a plate the car no longer has
        if kind == "client":
            cars = owned.get(cid, [])[:5]
            item["vehicles"] = [{**vehicle_dict(x), "last_visit": visits.get(x.id)} for x in cars]
            item["last_visit"] = max((visits[x.id] for x in cars if x.id in visits),
                                     key=lambda visit: visit.get("date") or "", default=None)
        else:
            item["vehicles"] = []
            item["last_visit"] = visits.get(v.id)
        out.append(item)
    return out
