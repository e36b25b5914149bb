"""CRM maintenance reminders benchmark: the due-soon list and the writes that keep its forecasts right.

    .venv/bin/python -m bench.crm_reminders --scale 0.2 --db sqlite
    .venv/bin/python -m bench.crm_reminders --data /tmp/crm-bench      # full size, reusing bench.crm_search's data

The dataset is :mod:`bench.crm_search`'s (full size: 200,000 clients, 300,000 vehicles, 1,000,000 odometer
readings; ``--data DIR`` shares the files it generated). The shop gets ``crm.basic`` and the default
interval catalog; then printed:

* the full recomputation of every car's forecasts (what the nightly job ``crm.refresh_forecasts`` and a
  catalog change do), with the rows written;
* ``GET /api/v1/crm/reminders/due`` (the due-soon page's data) through the Flask test client, p50/p95
  with the database time beside it, for the default list and with filters;
* ``POST /api/v1/crm/vehicles/<id>/odometer`` (a reading, which recomputes that car's forecasts in the
  same transaction), p50/p95.

Measured 2026-12-05 at scale 0.2 (40,000 clients, 60,000 vehicles, 200,000 readings; 480,000 forecast
rows), the 2-CPU machine shared with other work (load average 6 on 2 CPUs: wall times are mostly waiting
for a CPU), 40 requests each, 500 rows per list; ms p50 / p95, beside it the database time p50:

==============================  ======================  ======================
request                         SQLite                  PostgreSQL
==============================  ======================  ======================
due in 30 days                  87 / 195 (db 0.8)       257 / 591 (db 80)
oil, due in 60 days             58 / 157 (db 0.7)       316 / 636 (db 93)
overdue, make Kia               141 / 220 (db 0.9)      279 / 488 (db 137)
POST a reading (+ forecasts)    9 / 11 (db 0.4)         54 / 65 (db 26)
recompute every car (job)       46 s                    101 s
==============================  ======================  ======================

Before, each list request forecast every car of the shop: 2.0 s (SQLite) and 3.5 s (PostgreSQL) at
10,000 cars, growing with the number of cars; now the list reads a page of the index whatever the size.
SQLite's "db" column undercounts (its rows are fetched lazily, after the timed execute).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.crm_search import _analyze, _pct, _prepare_data  # noqa: E402

DB_MS = [0.0]  # database time of the current request: cursor executions, timed by engine events


def _time_db(engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _stop(conn, cursor, statement, parameters, context, executemany):
        DB_MS[0] += (time.perf_counter() - conn.info.pop("bench_t0")) * 1000


def _time_requests(call, n: int, warmup: int = 5) -> dict:
    for _ in range(warmup):
        call()
    wall, db_ms = [], []
    for _ in range(n):
        DB_MS[0] = 0.0
        t0 = time.perf_counter()
        call()
        wall.append((time.perf_counter() - t0) * 1000)
        db_ms.append(DB_MS[0])
    return {"p50": statistics.median(wall), "p95": _pct(wall, 95), "db_p50": statistics.median(db_ms),
            "db_p95": _pct(db_ms, 95)}


def bench_backend(backend: str, args) -> dict:
    from sqlalchemy import select

    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import set_feature
    from plugins.crm.forecasts import ReminderForecast, refresh_all
    from plugins.crm.models import Vehicle
    from plugins.crm.reminders import seed_intervals

    args.plugins = "crm"
    app, shop_id, token, counts, load_s, drop = _prepare_data(backend, args)
    try:
        with app.app_context():
            shop = db.session.get(Tenant, shop_id)
            set_feature(shop, "crm.basic", True)
            db.session.commit()
            with tenant_context(tenant_info(db.session.get(Tenant, shop_id))):
                seed_intervals()
                db.session.commit()  # a catalog change: every car is recomputed here the first time
                t0 = time.perf_counter()
                rows = refresh_all()
                db.session.commit()
                refresh_s = time.perf_counter() - t0
                n_forecasts = db.session.scalar(select(db.func.count()).select_from(ReminderForecast))
                car_ids = list(db.session.scalars(select(Vehicle.id).where(Vehicle.client_id.is_not(None))
                                                  .order_by(Vehicle.id).limit(5000)))
            db.session.remove()
            _analyze(db.engine)  # statistics of the new forecast rows, as autovacuum would gather them
            _time_db(db.engine)

        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def due(query: str):
            def call():
                r = client.get(f"/api/v1/crm/reminders/due?{query}", headers=headers)
                assert r.status_code == 200, r.get_json()
                call.rows = len(r.get_json()["results"])
            return call

        lists = {}
        for label, query in (("due in 30 days", "within_days=30"), ("oil, due in 60 days", "within_days=60&code=oil"),
                             ("overdue, make Kia", "status=overdue&make=Kia&within_days=30")):
            call = due(query)
            lists[label] = {**_time_requests(call, args.requests), "rows": call.rows}

        rnd = random.Random(5)
        km = {cid: 400_000 for cid in car_ids}

        def reading():
            cid = rnd.choice(car_ids)
            km[cid] += rnd.randint(1, 50)  # a plausible next reading, today
            r = client.post(f"/api/v1/crm/vehicles/{cid}/odometer", json={"value": km[cid]}, headers=headers)
            assert r.status_code == 201, r.get_json()

        write = _time_requests(reading, max(args.requests // 2, 20), warmup=3)
        with app.app_context():
            db.engine.dispose()
        return {"counts": counts, "refresh_s": refresh_s, "rows": rows, "forecasts": n_forecasts, "lists": lists,
                "write": write}
    finally:
        if not args.keep:
            drop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 200k clients, 300k vehicles, 1M readings")
    parser.add_argument("--db", default="sqlite,postgresql", help="backends, comma-separated")
    parser.add_argument("--requests", type=int, default=100, help="requests per list query")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--data", metavar="DIR", help="reuse (or generate once into DIR) bench.crm_search's dataset")
    parser.add_argument("--regenerate", action="store_true", help="with --data: generate anew")
    args = parser.parse_args(argv)
    results = {b.strip(): bench_backend(b.strip(), args) for b in args.db.split(",") if b.strip()}
    print(f"\nCRM reminders, scale {args.scale}, via the Flask test client")
    for backend, res in results.items():
        c = res["counts"]
        print(f"\n{backend}: {c.get('crm_client', 0):,} clients, {c.get('crm_vehicle', 0):,} vehicles, "
              f"{c.get('crm_odometer_reading', 0):,} readings")
        print(f"  recompute every car's forecasts: {res['refresh_s']:.1f} s ({res['forecasts']:,} forecast rows)")
        print(f"  {'request':34} {'p50 ms':>8} {'p95 ms':>8} {'db p50':>8} {'db p95':>8} {'rows':>6}")
        for label, r in res["lists"].items():
            print(f"  GET due: {label:25} {r['p50']:8.1f} {r['p95']:8.1f} {r['db_p50']:8.1f} {r['db_p95']:8.1f} "
                  f"{r['rows']:6}")
        w = res["write"]
        print(f"  {'POST odometer (+ its forecasts)':34} {w['p50']:8.1f} {w['p95']:8.1f} {w['db_p50']:8.1f} "
              f"{w['db_p95']:8.1f}")
    try:
        print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
