"""online_shopping_10_cats (Chinese product reviews labelled positive/negative) as a shop.

Source: a CSV with ``cat`` (category, Chinese), ``label`` (1 = positive, 0 = negative), ``review``.
The data has no product ids, user ids or timestamps.

Mapping:

- ``reviews``: one per row. ``text`` = review (a leading U+FEFF is removed); ``label`` = ``positive``
  for 1 and ``negative`` for 0 (words rather than digits, so that the column reads the same in every
  shop and a sentiment model cannot mistake it for a rating); ``item_id`` = the category; ``review_id``
  = ``osc-`` + the first 16 hex digits of md5(category, label, text): stable across runs and row
  order; a repeat of identical content gets ``-1``, ``-2``, ... in file order.
- ``items``: one per category (``item_id`` = ``title`` = ``category`` = the category as written, plus
  an English gloss ``category_en`` for the ten known categories). One item per category is the only
  honest mapping: the source does not say which product a review is about, and inventing products
  would fabricate structure that models would then learn from.

Dropped (counted under a reason): rows with an empty review (one in this file) or a label other than
0/1 or a missing category (none).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .base import (Adapter, DatasetInfo, ShopWriter, check_options, connect, drop_counts, find_files,
                   require_columns, sql_path)

INFO = DatasetInfo(
    name="chinese-reviews",
    title="online_shopping_10_cats (Chinese review sentiment)",
    summary="62,774 Chinese e-commerce reviews in 10 categories, labelled positive (31,728) or "
            "negative (31,046); no product, user or time information.",
    origin="SophonPlus/ChineseNlpCorpus (datasets/online_shopping_10_cats), merged from two corpora "
           "collected online; CSV gzip-compressed unchanged.",
    licence="no licence stated in the source repository; original sources 'unknown'.",
    source_dir="chinese-online-shopping-10-cats",
    src_hint="the folder with online_shopping_10_cats.csv.gz, or the CSV itself",
    tables=("items", "reviews"),
)

GLOSS = {"书籍": "books", "平板": "tablets", "手机": "phones", "水果": "fruit", "洗发水": "shampoo",
         "热水器": "water heaters", "蒙牛": "Mengniu dairy", "衣服": "clothes", "计算机": "computers",
         "酒店": "hotels"}


def convert(src: Path, out: ShopWriter, options: Mapping[str, str]) -> None:
    """Convert the labelled review CSV at ``src`` into items (categories) and reviews."""
    check_options(INFO.name, options, ())
    files = find_files(src, ("*.csv", "*.csv.gz"), "online_shopping_10_cats CSV file")
    con = connect()
    try:
        file_list = "[" + ", ".join(sql_path(f) for f in files) + "]"
        con.execute(f"""CREATE TABLE src AS SELECT row_number() OVER () AS _row, * FROM read_csv({file_list},
                        header = true, all_varchar = true, union_by_name = true, filename = true,
                        quote = '"', escape = '"')""")
        require_columns(files[0], [r[0] for r in con.execute("DESCRIBE src").fetchall()], ("cat", "label", "review"))
        for name, n in con.execute("SELECT filename, count(*) FROM src GROUP BY 1 ORDER BY 1").fetchall():
            out.read_rows(name, n)
        con.execute("""
            CREATE TABLE rows AS SELECT *,
                CASE WHEN item_id IS NULL THEN 'missing category (cat)'
                     WHEN text IS NULL THEN 'empty review text (the format requires text)'
                     WHEN label IS NULL THEN 'label is not 0 or 1'
                END AS _drop
            FROM (SELECT _row, NULLIF(trim(cat), '') AS item_id,
                         NULLIF(trim(ltrim(review, chr(65279))), '') AS text,
                         CASE trim(label) WHEN '1' THEN 'positive' WHEN '0' THEN 'negative' END AS label
                  FROM src)""")
        out.drop_counts(drop_counts(con, "rows"))
        con.execute("""
            CREATE TABLE reviews AS
            SELECT item_id, text, label,
                   'osc-' || h || CASE WHEN k > 0 THEN '-' || k ELSE '' END AS review_id
            FROM (SELECT *, row_number() OVER (PARTITION BY h ORDER BY _row) - 1 AS k
                  FROM (SELECT *, left(md5(concat_ws(chr(31), item_id, label, text)), 16) AS h
                        FROM rows WHERE _drop IS NULL))""")
        con.execute("CREATE TABLE gloss (category VARCHAR, category_en VARCHAR)")
        con.executemany("INSERT INTO gloss VALUES (?, ?)", list(GLOSS.items()))
        out.write("items", con.sql("""
            SELECT c.item_id, c.item_id AS title, c.item_id AS category, g.category_en
            FROM (SELECT DISTINCT item_id FROM reviews) c LEFT JOIN gloss g ON g.category = c.item_id
            ORDER BY c.item_id""").fetch_arrow_table())
        out.write("reviews", con.sql("""
            SELECT review_id, item_id, text, label FROM reviews ORDER BY item_id, review_id""").fetch_arrow_table())
        conflicts = con.execute("""SELECT count(*) FROM (SELECT item_id, text FROM reviews GROUP BY ALL
                                   HAVING count(DISTINCT label) > 1)""").fetchone()[0]
        if conflicts:
            out.note(f"{conflicts} review text(s) appear with both labels in the same category; both kept")
        out.note("label: 1 -> positive, 0 -> negative; one item per category (no product ids in the data)")
    finally:
        con.close()


ADAPTER = Adapter(INFO, convert)
