"""Taobao UserBehavior (Alibaba Tianchi; page views, carts, favourites and purchases) as a shop.

Source: a headerless CSV ``user_id,item_id,category_id,behavior_type,timestamp`` (Unix seconds).

Mapping:

- every row -> one ``events`` row: ``behavior_type`` ``pv`` -> ``view``, ``cart`` -> ``cart``,
  ``fav`` -> ``favorite``, ``buy`` -> ``purchase``; ``timestamp`` is the Unix time (an absolute instant,
  so it is UTC; the source's days are Beijing days); the row's ``category_id`` is kept as an extra
  event column, because the source lets an item's category change over time.
- ``items``: one per item id, ``category`` = its category id (the category of most of its rows; ties:
  the most recent). The data has no titles, prices or text.
- no ``users`` table: the data has no user attributes (users are known from events).

Dropped (counted under a reason): rows with an unknown behaviour type, an unreadable timestamp, or an
empty user or item id (none in the shipped sample). The 35 rows with timestamps before the collection
window (a known quirk of the original) are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .base import Adapter, DatasetInfo, ShopWriter, check_options, connect, drop_counts, find_files, sql_path

INFO = DatasetInfo(
    name="taobao",
    title="Taobao UserBehavior (sample)",
    summary="84,287 behaviour rows (pv/cart/fav/buy) of 814 complete users, 55,233 items, 2,911 "
            "categories, 2017-11-25 .. 2017-12-03.",
    origin="Alibaba Tianchi 'UserBehavior' (cited with Zhu et al., KDD 2018); head of the original file "
           "from Haohanblue/mydeep, cut to the complete logs of the first 814 users.",
    licence="no licence stated by the source repository; Tianchi publishes it for research use.",
    source_dir="taobao-user-behavior-sample",
    src_hint="the folder with UserBehavior_sample.csv.gz, or a headerless UserBehavior CSV",
    tables=("items", "events"),
)

BEHAVIOURS = {"pv": "view", "cart": "cart", "fav": "favorite", "buy": "purchase"}


def convert(src: Path, out: ShopWriter, options: Mapping[str, str]) -> None:
    """Convert the UserBehavior CSV(s) at ``src`` into items and events."""
    check_options(INFO.name, options, ())
    files = find_files(src, ("*.csv", "*.csv.gz"), "UserBehavior CSV file (no header)")
    con = connect()
    try:
        file_list = "[" + ", ".join(sql_path(f) for f in files) + "]"
        cols = ("{'user_id': 'VARCHAR', 'item_id': 'VARCHAR', 'category_id': 'VARCHAR', 'behavior': 'VARCHAR', "
                "'ts': 'VARCHAR'}")
        con.execute(f"""CREATE TABLE src AS SELECT * FROM read_csv({file_list}, header = false, columns = {cols},
                        filename = true)""")
        for name, n in con.execute("SELECT filename, count(*) FROM src GROUP BY 1 ORDER BY 1").fetchall():
            out.read_rows(name, n)
        mapping = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in BEHAVIOURS.items())
        con.execute(f"""
            CREATE TABLE rows AS SELECT *,
                CASE WHEN user_id IS NULL THEN 'empty user_id'
                     WHEN item_id IS NULL THEN 'empty item_id'
                     WHEN event IS NULL THEN 'unknown behavior_type (expected pv, cart, fav or buy)'
                     WHEN timestamp IS NULL THEN 'unreadable timestamp (expected Unix seconds)'
                END AS _drop
            FROM (SELECT NULLIF(trim(user_id), '') AS user_id, NULLIF(trim(item_id), '') AS item_id,
                         NULLIF(trim(category_id), '') AS category_id,
                         CASE lower(trim(behavior)) {mapping} END AS event,
                         to_timestamp(TRY_CAST(trim(ts) AS BIGINT))::TIMESTAMP AS timestamp
                  FROM src)""")
        out.drop_counts(drop_counts(con, "rows"))
        con.execute("CREATE TABLE kept AS SELECT * EXCLUDE (_drop) FROM rows WHERE _drop IS NULL")
        out.write("items", con.sql("""
            SELECT item_id, category_id AS category FROM (
                SELECT item_id, category_id, count(*) AS n, max(timestamp) AS last FROM kept GROUP BY ALL)
            QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY n DESC, last DESC, category_id NULLS LAST) = 1
            ORDER BY item_id""").fetch_arrow_table())
        out.write("events", con.sql("""
            SELECT timestamp, user_id, item_id, event, category_id FROM kept
            ORDER BY user_id, timestamp, item_id, event""").fetch_arrow_table())
        moved = con.execute("SELECT count(*) FROM (SELECT item_id FROM kept GROUP BY 1 "
                            "HAVING count(DISTINCT category_id) > 1)").fetchone()[0]
        if moved:
            out.note(f"{moved} item(s) appear under more than one category id: items.category is the most "
                     "frequent; each event keeps its own category_id")
        out.note("behaviour types: pv -> view, cart -> cart, fav -> favorite, buy -> purchase")
    finally:
        con.close()


ADAPTER = Adapter(INFO, convert)
