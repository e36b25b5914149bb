"""Instant search: one box that finds a client or a car by whatever reception has at hand.

Keys and how they are found (all are index range scans on normalised columns, no full scan):

=================  =====================================================  ==========================
what is typed      how it is matched                                     column (index)
=================  =====================================================  ==========================
full VIN           equality on the reversed VIN                          crm_vehicle.vin_rev
last 4-16 of VIN   prefix of the reversed VIN                            crm_vehicle.vin_rev
plate, any part    prefix of one of the plate's suffixes, after folding  crm_search_key ``p:``
                   Cyrillic look-alikes to Latin (``а123вс`` = A123BC)
phone, any format  E.164 equality; or last 4+ digits as a prefix of the   crm_client_phone.digits_rev
                   reversed digits
name / company     word prefix                                           crm_search_key ``n:``
one typo in name   one-deletion neighbourhood (SymSpell-style)           crm_search_key ``d:``/``n:``
=================  =====================================================  ==========================

Each token of the query is tried as every kind it could be; a hit scores by how exact it is, scores of
different tokens add up (``иванов а123`` ranks Ivanov's A123.. car first), and the best come first.
"""
from __future__ import annotations

import re
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.db import db

from .models import Client, ClientPhone, SearchKey, Vehicle
from .normalize import (InvalidValue, TYPO_MIN_LEN, deletions, fold_plate, name_words, normalize_phone,
                        phone_digits_reversed)

FANOUT = 50  # rows one lookup may bring back; short prefixes are capped, exact keys rank first anyway
TOP = "\uffff"  # above every character a key holds: [p, p + TOP) is "starts with p"
_PHONE_CHARS = re.compile(r"^[\d\s()+\-.]+$")
_HAS_DIGIT = re.compile(r"\d")
VIN_CHARS = re.compile(r"^[A-HJ-NPR-Z0-9]+$")

# Score of each kind of match (higher = more exact).
S_EXACT = 100
S_PHONE_NATIONAL = 95
S_VIN_SUFFIX = 85
S_PLATE_PREFIX = 80
S_PHONE_SUFFIX = 75
S_PLATE_PART = 65
S_NAME_WORD = 60
S_NAME_PREFIX = 50
S_NAME_TYPO = 30


def _starts_with(column, prefix: str):
    return (column >= prefix) & (column < prefix + TOP)


class _Hits:
    def __init__(self):
        self.clients: dict[int, dict[int, tuple[int, str]]] = defaultdict(dict)
        self.vehicles: dict[int, dict[int, tuple[int, str]]] = defaultdict(dict)

    def add(self, kind: str, obj_id: int, token: int, score: int, match: str) -> None:
        table = self.clients if kind == "client" else self.vehicles
        if table[obj_id].get(token, (0, ""))[0] < score:
            table[obj_id][token] = (score, match)


def _phone_lookups(q: str, hits: _Hits) -> None:
    digits = re.sub(r"\D", "", q)
    if len(digits) < 4 or not _PHONE_CHARS.match(q):
        return
    if len(digits) >= 10:
        try:
            e164 = normalize_phone(q)
        except InvalidValue:
            e164 = None
        if e164:
            for cid in db.session.scalars(select(ClientPhone.client_id)
                                          .where(ClientPhone.digits_rev == phone_digits_reversed(e164)).limit(FANOUT)):
                hits.add("client", cid, -1, S_EXACT, "phone")
        # The national part alone (country code typed differently or missing).
        prefix = digits[-10:][::-1]
        score = S_PHONE_NATIONAL
    else:
        prefix = digits[::-1]
        score = S_PHONE_SUFFIX
    for cid in db.session.scalars(select(ClientPhone.client_id)
                                  .where(_starts_with(ClientPhone.digits_rev, prefix)).limit(FANOUT)):
        hits.add("client", cid, -1, score, "phone")


def _vehicle_lookups(token: str, index: int, hits: _Hits) -> None:
    folded = fold_plate(token)
    if len(folded) < 3:
        return
    if len(folded) == 17 and VIN_CHARS.match(folded):
        for vid in db.session.scalars(select(Vehicle.id).where(Vehicle.vin_rev == folded[::-1]).limit(FANOUT)):
            hits.add("vehicle", vid, index, S_EXACT, "vin")
    elif 4 <= len(folded) < 17 and VIN_CHARS.match(folded) and _HAS_DIGIT.search(folded):
        rows = db.session.scalars(select(Vehicle.id).where(_starts_with(Vehicle.vin_rev, folded[::-1])).limit(FANOUT))
        for vid in rows:
            hits.add("vehicle", vid, index, S_VIN_SUFFIX, "vin")
    if _HAS_DIGIT.search(folded) and len(folded) <= 12:
        rows = db.session.execute(select(SearchKey.vehicle_id, SearchKey.key)
                                  .where(_starts_with(SearchKey.key, "p:" + folded)).limit(FANOUT)).all()
        for vid, key in rows:
            hits.add("vehicle", vid, index, S_PLATE_PART, "plate")
        if rows:
            # Exact and leading matches rank above a match in the middle of the plate.
            for vid, plate in db.session.execute(select(Vehicle.id, Vehicle.plate).where(
                    Vehicle.id.in_({r[0] for r in rows}), _starts_with(Vehicle.plate, folded))):
                hits.add("vehicle", vid, index, S_EXACT if plate == folded else S_PLATE_PREFIX, "plate")


def _name_lookups(word: str, index: int, hits: _Hits) -> None:
    if len(word) < 2:
        return
    for cid, key in db.session.execute(select(SearchKey.client_id, SearchKey.key)
                                       .where(_starts_with(SearchKey.key, "n:" + word)).limit(FANOUT)):
        hits.add("client", cid, index, S_NAME_WORD if key == "n:" + word else S_NAME_PREFIX, "name")
    if len(word) >= TYPO_MIN_LEN:
        near = deletions(word)
        keys = ["d:" + word] + ["d:" + w for w in near] + ["n:" + w for w in near]
        for cid in db.session.scalars(select(SearchKey.client_id).where(SearchKey.key.in_(keys)).limit(FANOUT)):
            hits.add("client", cid, index, S_NAME_TYPO, "name~")


def _tokens(q: str) -> list[str]:
    return [t for t in re.split(r"[\s,;]+", q) if t]


def find(q: str) -> _Hits:
    hits = _Hits()
    q = (q or "").strip()
    if len(q) < 2:
        return hits
    _phone_lookups(q, hits)
    tokens = _tokens(q)
    # "а 123 вс 77" is one plate typed with spaces: try the whole query too, as token -2.
    joined = fold_plate(q)
    if len(tokens) > 1 and _HAS_DIGIT.search(joined):
        _vehicle_lookups(joined, -2, hits)
    for i, token in enumerate(tokens):
        if _HAS_DIGIT.search(token):
            _vehicle_lookups(token, i, hits)
        else:
            for word in name_words(token):
                _name_lookups(word, i, hits)
    return hits


def _score(token_scores: dict[int, tuple[int, str]]) -> tuple[int, list[str]]:
    """Sum over the query's tokens; the whole query read as one plate (-2) stands instead of its parts
    when it scores more; the whole query read as a phone (-1) adds."""
    per_token = sum(v[0] for k, v in token_scores.items() if k >= 0)
    whole_plate = token_scores.get(-2, (0, ""))[0]
    total = max(per_token, whole_plate) + token_scores.get(-1, (0, ""))[0]
    return total, sorted({v[1] for v in token_scores.values()})


def _vehicle_dict(v: Vehicle) -> dict:
    return {"id": v.id, "vin": v.vin, "plate": v.plate, "make": v.make, "model": v.model, "year": v.year,
            "client_id": v.client_id}


def _client_dict(c: Client | None) -> dict | None:
    if c is None:
        return None
    return {"id": c.id, "name": c.name, "kind": c.kind, "phones": c.phones}


def search(q: str, limit: int = 20) -> list[dict]:
    """Ranked results: ``{"type": "vehicle"|"client", "score", "matched", "vehicle", "client",
    "vehicles", "last_visit"}``."""
    from .services import last_visits

    hits = find(q)
    if not hits.clients and not hits.vehicles:
        return []
    vehicles = {v.id: v for v in db.session.scalars(select(Vehicle).options(selectinload(Vehicle.owner))
                                                   .where(Vehicle.id.in_(list(hits.vehicles))))}
    results = []
    covered_clients = set()
    for vid, token_scores in hits.vehicles.items():
        v = vehicles.get(vid)
        if v is None:
            continue
        scores = dict(token_scores)
        # Owner matched by other tokens ("петров a123"): add them to the car.
        for token, value in hits.clients.get(v.client_id, {}).items():
            if token not in scores:
                scores[token] = value
        total, matched = _score(scores)
        results.append((total, "vehicle", v, v.owner))
        if v.client_id in hits.clients:
            covered_clients.add(v.client_id)
    client_scores = {cid: _score(ts) for cid, ts in hits.clients.items() if cid not in covered_clients}
    best_clients = sorted(client_scores, key=lambda c: (-client_scores[c][0], c))[:limit]
    clients = {c.id: c for c in db.session.scalars(select(Client).where(Client.id.in_(best_clients)))}
    for cid in best_clients:
        if cid in clients:
            results.append((client_scores[cid][0], "client", None, clients[cid]))
    results.sort(key=lambda r: (-r[0], r[1] != "vehicle", (r[2].id if r[2] else r[3].id)))
    results = results[:limit]

    owned: dict[int, list[Vehicle]] = defaultdict(list)
    client_ids = [r[3].id for r in results if r[1] == "client"]
    if client_ids:
        for v in db.session.scalars(select(Vehicle).where(Vehicle.client_id.in_(client_ids)).order_by(Vehicle.id)):
            owned[v.client_id].append(v)
    shown_vehicle_ids = [r[2].id for r in results if r[2] is not None] + [v.id for vs in owned.values() for v in vs]
    visits = last_visits(shown_vehicle_ids)
    out = []
    for total, kind, v, c in results:
        scores = hits.vehicles[v.id] if v is not None else hits.clients[c.id]
        if v is not None:
            scores = {**hits.clients.get(v.client_id, {}), **scores}
        item = {"type": kind, "score": total, "matched": _score(scores)[1],
                "vehicle": _vehicle_dict(v) if v is not None else None, "client": _client_dict(c)}
        if kind == "client":
            item["vehicles"] = [{**_vehicle_dict(x), "last_visit": visits.get(x.id)} for x in owned.get(c.id, [])[:5]]
            item["last_visit"] = max((visits[x.id] for x in owned.get(c.id, []) if x.id in visits),
                                     key=lambda visit: visit.get("date") or "", default=None)
        else:
            item["vehicles"] = []
            item["last_visit"] = visits.get(v.id)
        out.append(item)
    return out
