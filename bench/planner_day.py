"""Planner day-view benchmark: a 20-bay shop with five years of bookings, then ``GET /api/v1/planner/day``.

    .venv/bin/python -m bench.planner_day                       # PostgreSQL and SQLite, real HTTP
    .venv/bin/python -m bench.planner_day --db sqlite --scale 0.1
    .venv/bin/python -m bench.planner_day --test-client         # Flask test client instead of a socket

The shop (tier Specialist, so the day view also computes the load per bay) works Mon-Fri 9-19 and
Sat 10-16 with a lunch break; each bay is filled day by day with jobs of 30-180 minutes and small gaps,
about 200,000 bookings in five years (``--scale 1``), ~8 % of them cancelled or no-show. A neighbour
tenant with a year of bookings shares the tables. Rows go in through SQLAlchemy Core ``insertmanyvalues``
batches, then ANALYZE.

By default every request goes over real HTTP to a waitress server on 127.0.0.1 (one keep-alive
connection, one server thread) with a bearer token: routing, auth, tenant resolution, the plugin
gate, the view, JSON. Beside the wall time the benchmark prints the request's database time (the sum of
its cursor executions, measured with SQLAlchemy engine events) and the number of SQL statements, and
the raw time of the day's bookings query run on its own. Target: p95 of the request under 30 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = os.environ.get("GARAGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BAYS = 20
YEARS = 5
TZ = "Europe/Moscow"
REASONS = ["Замена масла", "ТО-60000", "Замена колодок", "Стук в подвеске", "Развал-схождение", "Диагностика",
           "Шиномонтаж", "Замена ГРМ", "Кондиционер", "Check Engine"]
NAMES = ["Иванов Иван", "Петрова Анна", "Сидоров Олег", "Кузнецова Мария", "Смирнов Павел", "Волков Денис"]
CARS = ["Kia Rio", "Hyundai Solaris", "Lada Vesta", "VW Polo", "Toyota Camry", "Skoda Octavia"]


def _pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[max(min(int(round(p / 100 * (len(values) - 1))), len(values) - 1), 0)]


def generate(tenant_id: int, bay_ids: list[int], first: date, last: date, scale: float, seed: int = 1):
    """Bookings per bay and working day, in batches of dicts for ``insert(planner_booking)``."""
    rnd = random.Random(seed)
    tz = ZoneInfo(TZ)
    hours = {wd: (dtime(9), dtime(19)) for wd in range(5)} | {5: (dtime(10), dtime(16))}
    # Jobs of 30-180 min with gaps; `scale` thins the days (1.0 ~ 200k bookings for 20 bays x 5 years).
    keep = min(1.0, scale)
    batch = []
    day = first
    created = datetime(2020, 1, 1, tzinfo=timezone.utc)
    while day <= last:
        span = hours.get(day.weekday())
        if span is not None:
            opens = datetime.combine(day, span[0], tz).astimezone(timezone.utc)
            closes = datetime.combine(day, span[1], tz).astimezone(timezone.utc)
            for bay_id in bay_ids:
                if rnd.random() > keep:
                    continue
                cursor = opens + timedelta(minutes=rnd.choice((0, 0, 0, 30)))
                while True:
                    minutes = rnd.choice((30, 45, 60, 60, 60, 90, 120, 180))
                    end = cursor + timedelta(minutes=minutes)
                    if end > closes:
                        break
                    roll = rnd.random()
                    status = "cancelled" if roll < 0.05 else "no_show" if roll < 0.08 else "converted"
                    batch.append({
                        "tenant_id": tenant_id, "bay_id": bay_id, "start_at": cursor, "end_at": end,
                        "duration_minutes": minutes, "client_name": rnd.choice(NAMES),
                        "client_phone": f"+7 9{rnd.randint(10, 99)} {rnd.randint(100, 999)}-{rnd.randint(10, 99)}-{rnd.randint(10, 99)}",
                        "vehicle": rnd.choice(CARS), "reason": rnd.choice(REASONS), "planned_jobs": [],
                        "status": status, "source": "phone", "created_at": created, "version": 1,
                    })
                    cursor = end + timedelta(minutes=rnd.choice((0, 0, 0, 0, 15, 30)))
                if len(batch) >= 5000:
                    yield batch
                    batch = []
        day += timedelta(days=1)
    if batch:
        yield batch


def make_database(backend: str, tmp: Path):
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'planner-bench.db'}", lambda: None
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"garage_bench_planner_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False), drop


class SqlMeter:
    """Sum of cursor execution times and statement count since the last ``reset`` (engine events)."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.total = 0.0
        self.count = 0
        self._starts = threading.local()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._starts.t = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.total += time.perf_counter() - self._starts.t
        self.count += 1

    def reset(self):
        self.total, self.count = 0.0, 0


def bench_backend(backend: str, args) -> dict:
    from sqlalchemy import insert

    from core import create_app, migrate
    from core.db import db
    from core.features import ensure_default_tiers, tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import create_tenant, create_user
    from plugins.planner.models import Bay, Booking

    tmp = Path(tempfile.mkdtemp(prefix="planner-bench-"))
    url, drop = make_database(backend, tmp)
    try:
        config = {"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp), "SECRET_KEY": "bench",
                  "RATELIMIT_ENABLED": False, "GARAGE_PLUGINS": args.plugins.split(",") if args.plugins else None}
        app = create_app({k: v for k, v in config.items() if v is not None})
        migrate.upgrade(app)
        today = date.today()
        last = today + timedelta(days=60)
        first = last - timedelta(days=365 * YEARS)
        with app.app_context():
            ensure_default_tiers()
            shop = create_tenant(f"bench-{uuid.uuid4().hex[:6]}", "Большой сервис", "specialist", timezone=TZ)
            other = create_tenant(f"bench-b-{uuid.uuid4().hex[:6]}", "Сосед", "specialist", timezone=TZ)
            db.session.commit()
            advisor = create_user(shop, "advisor@bench.example", "service_advisor", "bench password 123")
            db.session.commit()
            from core.auth.tokens import create_token

            bay_ids = {}
            for t in (shop, other):
                with tenant_context(tenant_info(t)):
                    bays = [Bay(name=f"Пост {n + 1}", type="lift" if n < 14 else "alignment" if n < 17 else
                                "diagnostics", position=n) for n in range(BAYS if t is shop else 4)]
                    db.session.add_all(bays)
                    db.session.flush()
                    bay_ids[t.id] = [b.id for b in bays]
            with tenant_context(tenant_info(shop)):
                _row, token = create_token(advisor, "bench")
            db.session.commit()
            shop_id, other_id = shop.id, other.id
            print(f"{backend}: generating and loading (scale {args.scale}) ...", flush=True)
            t0 = time.perf_counter()
            count = 0
            with db.engine.begin() as conn:
                for batch in generate(shop_id, bay_ids[shop_id], first, last, args.scale):
                    conn.execute(insert(Booking.__table__), batch)
                    count += len(batch)
                for batch in generate(other_id, bay_ids[other_id], last - timedelta(days=365), last, 1.0, seed=2):
                    conn.execute(insert(Booking.__table__), batch)
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
            load_s = time.perf_counter() - t0
            print(f"  {count:,} bookings of the shop loaded in {load_s:.1f} s", flush=True)
            meter = SqlMeter(db.engine)

            # The raw query on its own: the day's bookings of the shop (what the view's main query does).
            rnd = random.Random(5)
            days = [first + timedelta(days=rnd.randrange((last - first).days)) for _ in range(args.requests)]
            tz = ZoneInfo(TZ)
            raw = []
            with tenant_context(tenant_info(db.session.get(Tenant, shop_id))):
                # The same shape as service.overlapping(): bounded on start_at from both sides.
                sql = ("SELECT * FROM planner_booking WHERE tenant_id = :tenant_id AND start_at < :end "
                       "AND start_at > :start_floor AND end_at > :start ORDER BY start_at, id")
                from core.db import tenant_sql

                for d in days[:args.warmup] + days:
                    start = datetime.combine(d, dtime(0), tz).astimezone(timezone.utc)
                    end = start + timedelta(days=1)
                    if backend == "sqlite":
                        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
                    t1 = time.perf_counter()
                    tenant_sql(sql, start=start, end=end, start_floor=start - timedelta(days=1)).fetchall()
                    raw.append((time.perf_counter() - t1) * 1000)
                raw = raw[args.warmup:]
                plan = None
                if backend == "postgresql":
                    plan = "\n".join(r[0] for r in tenant_sql("EXPLAIN " + sql, start=start, end=end,
                                                                 start_floor=start - timedelta(days=1)))
            db.session.remove()

        headers = {"Authorization": f"Bearer {token}"}
        server = None
        if args.test_client:
            client = app.test_client()

            def get(d):
                r = client.get(f"/api/v1/planner/day?date={d.isoformat()}", headers=headers)
                return r.status_code, r.get_json()
        else:
            import http.client

            from waitress.server import create_server

            server = create_server(app, host="127.0.0.1", port=0, threads=1)
            threading.Thread(target=server.run, daemon=True).start()
            conn = http.client.HTTPConnection("127.0.0.1", server.effective_port)

            def get(d):
                conn.request("GET", f"/api/v1/planner/day?date={d.isoformat()}", headers=headers)
                resp = conn.getresponse()
                return resp.status, json.loads(resp.read())

        for d in days[:args.warmup]:
            get(d)
        wall, cpu, dbt, statements, sizes = [], [], [], [], []
        for d in days:
            meter.reset()
            c0 = time.process_time()
            t0 = time.perf_counter()
            status, body = get(d)
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            assert status == 200, (d, status, body)
            dbt.append(meter.total * 1000)
            statements.append(meter.count)
            sizes.append(len(body["bookings"]))
        if server is not None:
            conn.close()  # the server thread is a daemon and ends with the process
        with app.app_context():
            db.engine.dispose()
        return {"bookings": count, "load_s": load_s, "wall": wall, "cpu": cpu, "db": dbt, "raw": raw,
                "statements": statements, "per_day": sizes, "plan": plan}
    finally:
        if not args.keep:
            drop()


def main(argv=None) -> int:
    import logging

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" chatter
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="postgresql,sqlite", help="backends, comma-separated")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = ~200,000 bookings in five years")
    parser.add_argument("--requests", type=int, default=500, help="measured requests (random days)")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--test-client", action="store_true", help="Flask test client instead of HTTP")
    parser.add_argument("--plugins", default="planner", help="plugins to load (comma-separated; empty = all)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    transport = "Flask test client (in-process WSGI)" if args.test_client else \
        "real HTTP to waitress on 127.0.0.1 (1 thread, keep-alive)"
    results = {b.strip(): bench_backend(b.strip(), args) for b in args.db.split(",") if b.strip()}
    print("\ncpu = CPU time of this process (client + app server) per request: what the app costs when the"
          "\nmachine is busy; db = time in the request's cursor executions; raw = the day query alone")
    print(f"\nGET /api/v1/planner/day, {BAYS} bays, {args.requests} random days over {YEARS} years, via {transport}")
    print(f"  {'backend':11} {'bookings':>9} {'per day':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'cpu p50':>7} {'cpu p95':>7} {'db p50':>7} {'db p95':>7} {'SQL/req':>7} {'raw p50':>7} {'raw p95':>7}"
          "  target p95 < 30 ms")
    failed = False
    for backend, r in results.items():
        p95 = _pct(r["wall"], 95)
        ok = p95 < 30
        failed |= not ok
        print(f"  {backend:11} {r['bookings']:9,} {sum(r['per_day']) / len(r['per_day']):8.1f} "
              f"{_pct(r['wall'], 50):7.2f} {p95:7.2f} {_pct(r['wall'], 99):7.2f} {_pct(r['cpu'], 50):7.2f} "
              f"{_pct(r['cpu'], 95):7.2f} {_pct(r['db'], 50):7.2f} "
              f"{_pct(r['db'], 95):7.2f} {sum(r['statements']) / len(r['statements']):7.1f} "
              f"{_pct(r['raw'], 50):7.2f} {_pct(r['raw'], 95):7.2f}  {'ok' if ok else 'MISSED'}")
    for backend, r in results.items():
        if r["plan"]:
            print(f"\n{backend} plan of the day query:\n  " + r["plan"].replace("\n", "\n  "))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
