"""What the reviews table's indexes cost a write: insert rate with and without a set of indexes, interleaved.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/revsent_bench .venv/bin/python bench/review_index_writes.py \
        [--rows 100000] [--rounds 3] [--insert-rows 20000] [--without effecti] ...

Runs against a bench database that already holds reviews (bench/dashboard.py generates them). It copies
--rows existing reviews' columns into memory once, then, per round and per variant ("all three": the
indexes named in INDEXES present; "without ...": some or all of them absent), in one transaction that is
rolled back: reaches the variant (DROP INDEX, or CREATE INDEX where reviews 0013 dropped one; not timed),
COPYs the rows into reviews_review (new ids, external_id null), and INSERTs --insert-rows of them as
multi-row INSERT statements of 500 rows (what an import's batches and the API's gathered creates send),
then ROLLBACK and VACUUM, so every run starts from the same table. The variants alternate within each round
(the order flips each round), so a change of load on the shared machine hits them all. Prints rows/s per
run and the median per variant, and writes bench/results/review_index_writes.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "review_index_writes.json"

# The single-column indexes that lead a dashboard covering index (reviews 0013 dropped the first; source and
# business stay for the filter menus' DISTINCT): name -> definition, to recreate them where they are gone.
INDEXES = {
    "reviews_rev_effecti_09d534_idx": "CREATE INDEX reviews_rev_effecti_09d534_idx ON reviews_review (effective_at)",
    "reviews_rev_source_c234cd_idx": "CREATE INDEX reviews_rev_source_c234cd_idx ON reviews_review (source)",
    "reviews_rev_busines_eb1570_idx": "CREATE INDEX reviews_rev_busines_eb1570_idx ON reviews_review (business)",
}
COLUMNS = (
    "text, source, rating, business, author, review_date, created_at, language, is_english, "
    "predicted_label, predicted_confidence, predicted_scores, predicted_by_id, predicted_at"
)
INSERT_BATCH = 500


def present(cursor) -> set[str]:
    cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'reviews_review'")
    return {row[0] for row in cursor.fetchall()} & set(INDEXES)


def load_rows(conn, count: int) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {COLUMNS} FROM reviews_review ORDER BY id LIMIT %s", [count])
        rows = cursor.fetchall()
    conn.rollback()
    # predicted_scores is jsonb: psycopg reads it as a dict and writes it back only wrapped.
    return [tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in row) for row in rows]


def one_run(conn, rows: list[tuple], insert_rows: int, *, absent: frozenset[str]) -> dict:
    n_columns = len(COLUMNS.split(","))
    with conn.cursor() as cursor:
        existing = present(cursor)
        for name in sorted(set(INDEXES) - existing - absent):
            cursor.execute(INDEXES[name])
        for name in sorted(existing & absent):
            cursor.execute(f"DROP INDEX {name}")
        started = time.perf_counter()
        with cursor.copy(f"COPY reviews_review ({COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        copy_s = time.perf_counter() - started
        statement = f"INSERT INTO reviews_review ({COLUMNS}) VALUES " + ", ".join(
            ["(" + ", ".join(["%s"] * n_columns) + ")"] * INSERT_BATCH
        )
        params = [v for row in rows[:INSERT_BATCH] for v in row]
        started = time.perf_counter()
        for _ in range(insert_rows // INSERT_BATCH):
            cursor.execute(statement, params)
        insert_s = time.perf_counter() - started
    conn.rollback()
    with conn.cursor() as cursor:
        conn.autocommit = True
        cursor.execute("VACUUM reviews_review")
        conn.autocommit = False
    return {
        "copy_rows_per_s": round(len(rows) / copy_s),
        "insert_rows_per_s": round((insert_rows // INSERT_BATCH) * INSERT_BATCH / insert_s),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="Rows per COPY")
    parser.add_argument("--insert-rows", type=int, default=20_000, help="Rows per multi-row INSERT run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        help="A variant without the indexes whose names contain these comma-separated parts (repeatable;"
        " default: one without all three, one without effecti)",
    )
    args = parser.parse_args()
    args.without = args.without or ["effecti,source,busines", "effecti"]
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL names the bench database", file=sys.stderr)
        return 2
    conn = psycopg.connect(url)
    with conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reviews_review")
        total = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*), pg_size_pretty(sum(pg_relation_size(indexrelid))) FROM pg_index"
            " WHERE indrelid = 'reviews_review'::regclass"
        )
        n_indexes, index_size = cursor.fetchone()
        cursor.execute(
            "SELECT c.relname, pg_size_pretty(pg_relation_size(c.oid)) FROM pg_class c WHERE c.relname = ANY(%s)",
            [list(INDEXES)],
        )
        sizes = dict(cursor.fetchall())
    conn.rollback()
    print(f"{total:,} reviews; {n_indexes} indexes ({index_size}); the three: {sizes or 'absent'}")
    print(f"load average {os.getloadavg()}")
    rows = load_rows(conn, args.rows)
    variants = {"all three": frozenset()}
    for spec in args.without:
        variants["without " + spec] = frozenset(name for name in INDEXES if any(c in name for c in spec.split(",")))
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for round_no in range(args.rounds):
        order = list(variants) if round_no % 2 == 0 else list(reversed(variants))
        for variant in order:
            result = one_run(conn, rows, args.insert_rows, absent=variants[variant])
            result["load"] = round(os.getloadavg()[0], 2)
            runs[variant].append(result)
            print(
                f"round {round_no + 1} {variant:>28}: COPY {result['copy_rows_per_s']:,} rows/s,"
                f" INSERT x{INSERT_BATCH} {result['insert_rows_per_s']:,} rows/s (load {result['load']})"
            )
    summary: dict = {}
    for figure in ("copy_rows_per_s", "insert_rows_per_s"):
        base = statistics.median(r[figure] for r in runs["all three"])
        summary[figure] = {"all three": base}
        for variant in list(variants)[1:]:
            rate = statistics.median(r[figure] for r in runs[variant])
            summary[figure][variant] = {"rate": rate, "gain_pct": round(100 * (rate / base - 1), 1)}
            print(f"median {figure}: all three {base:,.0f}, {variant} {rate:,.0f}: {rate / base - 1:+.1%}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"reviews": total, "rows": args.rows, "runs": runs, "summary": summary, "sizes": sizes}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
