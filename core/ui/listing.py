"""List queries for registered entities: search ``q``, filters, sorting and paging.

The UI's list pages; the search semantics are the REST API's (its ``casefold`` prefix match), so a
query finds the same rows in the UI and through ``/api/v1``. Only the fields an entity declares
(``search_fields``, ``filter_fields``, ``sort_fields``) are honoured: nothing else in the query
string can reach SQL.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import func, or_, select

from ..db import db

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100


@dataclass
class ListParams:
    q: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    sort: str = ""  # "field" ascending, "-field" descending; "" = the entity's first sort field
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class ListResult:
    items: list
    total: int
    params: ListParams

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.params.per_page))


def _int(value, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(value)))
    except (TypeError, ValueError):
        return default


def parse_params(entity, args) -> ListParams:
    """Read ``q``, ``sort``, ``page``, ``per_page`` and one arg per filter field from ``args``
    (a MultiDict). A filter value is converted by the entity schema's field; a bad one is reported in
    ``errors`` and ignored rather than failing the page."""
    params = ListParams(
        q=(args.get("q") or "").strip(),
        sort=(args.get("sort") or "").strip(),
        page=_int(args.get("page"), 1, 1, 10**6),
        per_page=_int(args.get("per_page"), DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
    )
    schema_fields = entity.schema().fields
    for name in entity.filter_fields:
        raw = args.get(name)
        if raw is None or raw == "":
            continue
        f = schema_fields.get(name)
        try:
            params.filters[name] = f.deserialize(raw) if f is not None else raw
        except ValidationError as exc:
            params.errors[name] = " ".join(str(m) for m in exc.messages) if isinstance(exc.messages, list) else str(exc.messages)
    allowed_sorts = set(entity.sort_fields)
    if params.sort.lstrip("-") not in allowed_sorts:
        params.sort = entity.sort_fields[0] if entity.sort_fields else ""
    return params


def build_select(entity, params: ListParams):
    """The same search semantics as the REST API (core.api.resources.list_objects): a case-folded
    prefix match on each search field (Cyrillic too, on SQLite as well), filters by equality."""
    from ..api.resources import _like_prefix, casefold

    model = entity.model
    stmt = select(model)
    if params.q and entity.search_fields:
        pattern = _like_prefix(params.q)
        stmt = stmt.where(or_(*[casefold(getattr(model, f)).like(pattern, escape="\\") for f in entity.search_fields]))
    for name, value in params.filters.items():
        stmt = stmt.where(getattr(model, name) == value)
    return stmt


def list_query(entity, params: ListParams) -> ListResult:
    model = entity.model
    stmt = build_select(entity, params)
    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    if params.sort:
        column = getattr(model, params.sort.lstrip("-"))
        stmt = stmt.order_by(column.desc() if params.sort.startswith("-") else column.asc())
    pk = model.__mapper__.primary_key[0]
    stmt = stmt.order_by(pk.desc() if params.sort.startswith("-") else pk.asc())  # stable pages
    stmt = stmt.limit(params.per_page).offset((params.page - 1) * params.per_page)
    items = list(db.session.scalars(stmt))
    return ListResult(items=items, total=total, params=params)
