"""Amazon Review Data (2018), one category at a time, as a shop.

SRC is the folder holding the per-category files; ``--category`` picks one (``Magazine_Subscriptions``,
``Gift_Cards``, or any other category whose files are there):

- ``<Category>.csv(.gz)``: all ratings, no header, ``asin,reviewerID,rating,unix_time``;
- ``<Category>_5.json.gz``: the 5-core reviews with text (JSON lines);
- ``meta_<Category>.json.gz``: the catalog (JSON lines).

Mapping:

- ``events`` from the ratings CSV, one per rating: ``event`` = ``purchase`` (a rating on Amazon is
  the trace of someone who bought or owned the item: the nearest of the format's event types; the
  other types all describe browsing, which a rating does not record), ``rating`` kept as an extra
  column, ``timestamp`` = unix_time. A category without a ratings CSV (Gift_Cards) takes its events
  from the 5-core reviews instead (same mapping, plus ``verified``). Repeated (user, item, time)
  triples of the ratings file (the same rating listed for several variants) are kept as in the source.
- ``reviews`` from the 5-core file: ``text`` = reviewText (the summary when there is no text; then
  ``text_from_summary`` is true), ``summary`` kept as an extra column, ``rating`` = overall,
  ``user_id`` = reviewerID, ``timestamp`` = unixReviewTime, extra ``verified``, ``vote``, ``style``
  (JSON). ``review_id`` = ``amz-`` + the first 16 hex digits of md5(asin, reviewer, time, rating,
  summary, text, style): stable across runs and row order. Rows that repeat another row exactly are
  dropped (counted); reviewerName is not written (a person's name, which no capability needs).
- ``items`` from the metadata, deduplicated by asin: ``title`` (HTML entities decoded; titles that
  are HTML fragments, the bulk of the Magazine catalog, are left empty and counted in a note),
  ``description`` (the list joined by blank lines, tags stripped), ``category`` (the category list
  joined with " > ", repeated levels collapsed), ``brand`` (else the Publisher in ``details``),
  ``price`` parsed from strings such as "$12.99" or "$1,250.00" (a range takes its low end; page
  fragments are left empty), ``launched_at`` from ``date`` ("May 15, 2009") or else details' "Date
  first listed on Amazon", ``image_url`` = the first image. Extra columns: ``main_cat``,
  ``sales_rank``, ``features``, ``details`` (JSON with tidied keys), ``also_buy``, ``also_view``.
  Not written: ``tech1``, ``tech2``, ``fit``, ``similar_item`` (page fragments in these files).

Dropped (counted under a reason): ratings or reviews without an item, user or readable time, ratings
outside 1..5, reviews with neither text nor summary, exact repeats of a review row, metadata rows that
repeat an asin.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ...errors import InputError
from .base import Adapter, DatasetInfo, DuckDB, ShopWriter, check_options, connect, drop_counts, sql_path

INFO = DatasetInfo(
    name="amazon-2018",
    title="Amazon Review Data (2018): Magazine_Subscriptions, Gift_Cards",
    summary="Per-category Amazon ratings, 5-core reviews with text and catalog metadata; Magazine: "
            "89,689 ratings by 72,098 users on 2,428 items, 2,375 5-core reviews; Gift_Cards: "
            "2,972 5-core reviews (no ratings file), 1,547 catalog items.",
    origin="Ni, Li & McAuley, EMNLP 2019 (UCSD); official per-category files copied unchanged from "
           "public GitHub repositories (ncloud50/hello2, ncloud50/giftcard, horaceyoung/...).",
    licence="no licence or terms in the source repositories; the original page asks to cite the paper "
            "(research use).",
    source_dir="amazon-reviews-2018",
    src_hint="the folder holding <Category>.csv.gz, <Category>_5.json.gz and meta_<Category>.json.gz",
    tables=("items", "events", "reviews"),
    options={"category": "which category to convert, e.g. Magazine_Subscriptions or Gift_Cards"},
)

_ENTITIES = (("&nbsp;", " "), ("&quot;", '"'), ("&#39;", "'"), ("&apos;", "'"), ("&lt;", "<"), ("&gt;", ">"),
             ("&amp;", "&"))


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        if (folder / n).is_file():
            return folder / n
    return None


def categories(folder: Path) -> list[str]:
    """The categories that have a ratings CSV or a 5-core file in ``folder``."""
    found: set[str] = set()
    for p in folder.iterdir():
        name = p.name
        for suffix in ("_5.json.gz", "_5.json", ".csv.gz", ".csv"):
            if name.endswith(suffix) and not name.startswith("meta_"):
                found.add(name[: -len(suffix)])
                break
    return sorted(found)


def convert(src: Path, out: ShopWriter, options: Mapping[str, str]) -> None:
    """Convert one category of the Amazon 2018 files in the folder ``src``."""
    check_options(INFO.name, options, ("category",))
    if not src.is_dir():
        raise InputError(f"{src} is not a folder: give the folder that holds the Amazon 2018 category files")
    available = categories(src)
    category = options.get("category")
    if not category:
        if len(available) != 1:
            raise InputError(f"choose a category with --category (found in {src}: {', '.join(available) or 'none'})")
        category = available[0]
    if category not in available:
        raise InputError(f"no ratings CSV or 5-core file for category '{category}' in {src} "
                         f"(found: {', '.join(available) or 'none'})")
    ratings = _first(src, (f"{category}.csv.gz", f"{category}.csv"))
    five = _first(src, (f"{category}_5.json.gz", f"{category}_5.json"))
    meta = _first(src, (f"meta_{category}.json.gz", f"meta_{category}.json"))
    con = connect()
    try:
        _macros(con)
        if five is not None:
            _reviews(con, five, out)
        if ratings is not None:
            _ratings(con, ratings, out)
        else:
            out.note(f"no ratings CSV for {category}: events are the 5-core reviews (one purchase per review)")
            con.execute("""CREATE TABLE events AS SELECT timestamp, user_id, item_id, 'purchase' AS event,
                           rating, verified FROM review_rows WHERE _drop IS NULL AND NOT _repeat""")
        if meta is not None:
            _items(con, meta, out)
            out.write("items", con.sql("SELECT * FROM items ORDER BY item_id").fetch_arrow_table())
            unknown = con.execute("SELECT count(DISTINCT item_id) FROM events WHERE item_id NOT IN "
                                  "(SELECT item_id FROM items)").fetchone()[0]
            if unknown:
                out.note(f"{unknown:,} items with events have no metadata (they stay items with no text)")
        else:
            out.note(f"no meta_{category}.json.gz: no items table (items are known from events only)")
        out.write("events", con.sql("SELECT * FROM events ORDER BY timestamp, user_id, item_id").fetch_arrow_table())
        if five is not None:
            out.write("reviews", con.sql("""
                SELECT review_id, item_id, user_id, timestamp, rating, text, summary, text_from_summary,
                       verified, vote, style
                FROM review_rows WHERE _drop IS NULL AND NOT _repeat ORDER BY item_id, timestamp, review_id
                """).fetch_arrow_table())
        out.note("event type: purchase (a rating is the trace of an owned item); the rating is kept as an "
                 "extra column")
    finally:
        con.close()


def _macros(con: DuckDB) -> None:
    """SQL helpers for the JSON catalog, so that the queries below read as what they do."""
    unescape = "s"
    for entity, char in _ENTITIES:  # &amp; last, so that "&amp;lt;" stays "&lt;"
        unescape = f"replace({unescape}, '{entity}', '{char.replace(chr(39), chr(39) * 2)}')"
    con.execute(f"CREATE MACRO unescape(s) AS {unescape}")
    con.execute(r"""CREATE MACRO strip_tags(s) AS
                    regexp_replace(regexp_replace(s, '<[^>]*>', ' ', 'g'), '[ \t]+', ' ', 'g')""")
    # a JSON list of strings (or a lone string) as a VARCHAR list
    con.execute("""CREATE MACRO json_strings(j) AS CASE WHEN json_type(j) = 'ARRAY' THEN CAST(j AS VARCHAR[])
                                                       WHEN json_type(j) = 'VARCHAR' THEN [j ->> '$'] END""")
    con.execute("""CREATE MACRO join_texts(l, sep) AS
                   NULLIF(array_to_string(
                       list_filter(list_transform(l, x -> trim(unescape(x))), x -> x <> ''), sep), '')""")
    # "\n  Item Weight: \n" -> "Item Weight"
    con.execute(r"CREATE MACRO tidy(s) AS regexp_replace(s, '^[\s:]+|[\s:]+$', '', 'g')")
    # a JSON object as a map with tidy keys and non-empty values; NULL when none is left
    con.execute("""CREATE MACRO tidy_map(j) AS CASE WHEN json_type(j) = 'OBJECT' THEN NULLIF(map_from_entries(
                       list_transform(
                           list_filter(map_entries(CAST(j AS MAP(VARCHAR, VARCHAR))), e -> tidy(e.value) <> ''),
                           e -> {'key': tidy(e.key), 'value': tidy(e.value)})), MAP {}) END""")
    # "$1,250.00" -> 1250.0; "$10.00 - $20.00" -> 10.0 (the low end); anything else -> NULL
    con.execute(r"""CREATE MACRO parse_price(s) AS TRY_CAST(NULLIF(regexp_extract(
                        regexp_replace(s, '[\s,]', '', 'g'), '^\$([0-9]+(\.[0-9]+)?)', 1), '') AS DOUBLE)""")
    con.execute("CREATE MACRO html_fragment(s) AS s LIKE '%<%' OR s LIKE '%/>%'")


def _ratings(con: DuckDB, path: Path, out: ShopWriter) -> None:
    cols = "{'item_id': 'VARCHAR', 'user_id': 'VARCHAR', 'rating': 'VARCHAR', 'ts': 'VARCHAR'}"
    con.execute(f"CREATE TABLE ratings_src AS SELECT * FROM read_csv({sql_path(path)}, header = false, "
                f"columns = {cols})")
    out.read_rows(path, con.execute("SELECT count(*) FROM ratings_src").fetchone()[0])
    con.execute("""
        CREATE TABLE rating_rows AS SELECT *,
            CASE WHEN item_id IS NULL THEN 'rating without item (asin)'
                 WHEN user_id IS NULL THEN 'rating without reviewerID'
                 WHEN timestamp IS NULL THEN 'rating with an unreadable time'
                 WHEN rating IS NULL OR rating < 1 OR rating > 5 THEN 'rating missing or outside 1..5'
            END AS _drop
        FROM (SELECT NULLIF(trim(item_id), '') AS item_id, NULLIF(trim(user_id), '') AS user_id,
                     TRY_CAST(trim(rating) AS DOUBLE) AS rating,
                     to_timestamp(TRY_CAST(trim(ts) AS BIGINT))::TIMESTAMP AS timestamp FROM ratings_src)""")
    out.drop_counts(drop_counts(con, "rating_rows"))
    con.execute("""CREATE TABLE events AS SELECT timestamp, user_id, item_id, 'purchase' AS event, rating
                   FROM rating_rows WHERE _drop IS NULL""")
    repeats = con.execute("SELECT count(*) - count(DISTINCT (user_id, item_id, timestamp)) FROM events").fetchone()[0]
    if repeats:
        out.note(f"{repeats:,} ratings repeat a (user, item, time) of another rating (variants); "
                 "kept as in the source")


def _reviews(con: DuckDB, path: Path, out: ShopWriter) -> None:
    cols = ("{'asin': 'VARCHAR', 'reviewerID': 'VARCHAR', 'overall': 'VARCHAR', 'unixReviewTime': 'VARCHAR', "
            "'reviewText': 'VARCHAR', 'summary': 'VARCHAR', 'verified': 'VARCHAR', 'vote': 'VARCHAR', "
            "'style': 'JSON'}")
    con.execute(f"""CREATE TABLE reviews_src AS SELECT row_number() OVER () AS _row, *
                    FROM read_json({sql_path(path)}, format = 'newline_delimited', columns = {cols})""")
    out.read_rows(path, con.execute("SELECT count(*) FROM reviews_src").fetchone()[0])
    con.execute("""
        CREATE TABLE review_typed AS SELECT _row,
            NULLIF(trim(asin), '') AS item_id, NULLIF(trim(reviewerID), '') AS user_id,
            TRY_CAST(overall AS DOUBLE) AS rating,
            to_timestamp(TRY_CAST(unixReviewTime AS BIGINT))::TIMESTAMP AS timestamp,
            coalesce(NULLIF(trim(reviewText), ''), NULLIF(trim(summary), '')) AS text,
            NULLIF(trim(reviewText), '') IS NULL AND NULLIF(trim(summary), '') IS NOT NULL AS text_from_summary,
            NULLIF(trim(summary), '') AS summary,
            TRY_CAST(verified AS BOOLEAN) AS verified,
            TRY_CAST(replace(vote, ',', '') AS INTEGER) AS vote,
            to_json(tidy_map(style))::VARCHAR AS style
        FROM reviews_src""")
    con.execute("""
        CREATE TABLE review_rows AS SELECT *,
            'amz-' || h AS review_id,
            row_number() OVER (PARTITION BY h ORDER BY _row) > 1 AS _repeat
        FROM (SELECT *,
                CASE WHEN item_id IS NULL THEN 'review without item (asin)'
                     WHEN user_id IS NULL THEN 'review without reviewerID'
                     WHEN timestamp IS NULL THEN 'review with an unreadable unixReviewTime'
                     WHEN rating IS NULL OR rating < 1 OR rating > 5 THEN 'review rating missing or outside 1..5'
                     WHEN text IS NULL THEN 'review with neither reviewText nor summary'
                END AS _drop,
                left(md5(concat_ws(chr(31), item_id, user_id, CAST(timestamp AS VARCHAR), CAST(rating AS VARCHAR),
                                   coalesce(summary, ''), coalesce(text, ''), coalesce(style, ''))), 16) AS h
              FROM review_typed)""")
    out.drop_counts(drop_counts(con, "review_rows"))
    out.drop("review repeats another review row exactly (same item, user, time, text and style)",
             con.execute("SELECT count(*) FROM review_rows WHERE _drop IS NULL AND _repeat").fetchone()[0])
    from_summary = con.execute("SELECT count(*) FROM review_rows WHERE _drop IS NULL AND NOT _repeat "
                               "AND text_from_summary").fetchone()[0]
    if from_summary:
        out.note(f"{from_summary} review(s) without reviewText use their summary as text (text_from_summary)")


def _items(con: DuckDB, path: Path, out: ShopWriter) -> None:
    cols = ("{'asin': 'VARCHAR', 'title': 'VARCHAR', 'description': 'JSON', 'category': 'JSON', "
            "'brand': 'VARCHAR', 'price': 'VARCHAR', 'date': 'VARCHAR', 'main_cat': 'VARCHAR', 'rank': 'JSON', "
            "'feature': 'JSON', 'details': 'JSON', 'image': 'JSON', 'imageURL': 'JSON', "
            "'imageURLHighRes': 'JSON', 'also_buy': 'JSON', 'also_view': 'JSON'}")
    con.execute(f"""CREATE TABLE meta_src AS SELECT row_number() OVER () AS _row, *
                    FROM read_json({sql_path(path)}, format = 'newline_delimited', columns = {cols})""")
    out.read_rows(path, con.execute("SELECT count(*) FROM meta_src").fetchone()[0])
    out.drop("metadata row without asin", con.execute(
        "SELECT count(*) FROM meta_src WHERE NULLIF(trim(asin), '') IS NULL").fetchone()[0])
    out.drop("metadata row repeats an asin already listed (first row kept)", con.execute(
        "SELECT count(*) - count(DISTINCT trim(asin)) FROM meta_src WHERE NULLIF(trim(asin), '') IS NOT NULL"
    ).fetchone()[0])
    con.execute("""
        CREATE TABLE meta AS
        SELECT trim(asin) AS item_id, title, brand, price, date, main_cat, rank,
               json_strings(description) AS descr, json_strings(feature) AS feats,
               list_transform(json_strings(category), x -> trim(unescape(x))) AS cats,
               coalesce(json_strings(image), json_strings(imageURLHighRes), json_strings(imageURL)) AS images,
               json_strings(also_buy) AS also_buy, json_strings(also_view) AS also_view,
               tidy_map(details) AS det
        FROM meta_src WHERE NULLIF(trim(asin), '') IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY trim(asin) ORDER BY _row) = 1""")
    con.execute("""
        CREATE TABLE items AS SELECT
            item_id,
            CASE WHEN NOT html_fragment(title) THEN NULLIF(trim(unescape(title)), '') END AS title,
            join_texts(list_transform(descr, x -> strip_tags(x)), chr(10) || chr(10)) AS description,
            join_texts(list_filter(cats, (x, i) -> i = 1 OR x <> cats[i - 1]), ' > ') AS category,
            coalesce(NULLIF(trim(unescape(brand)), ''), det['Publisher']) AS brand,
            parse_price(price) AS price,
            coalesce(try_strptime(trim(date), '%B %d, %Y'),
                     try_strptime(det['Date first listed on Amazon'], '%B %d, %Y')) AS launched_at,
            NULLIF(images[1], '') AS image_url,
            NULLIF(trim(main_cat), '') AS main_cat,
            NULLIF(NULLIF(CASE WHEN json_type(rank) = 'VARCHAR' THEN rank ->> '$' ELSE rank::VARCHAR END, '[]'), '')
                AS sales_rank,
            join_texts(feats, chr(10)) AS features,
            to_json(det)::VARCHAR AS details,
            also_buy, also_view
        FROM meta""")
    html_titles, bad_prices = con.execute(r"""
        SELECT count(*) FILTER (WHERE html_fragment(title)),
               count(*) FILTER (WHERE regexp_replace(price, '\s', '', 'g') <> '' AND parse_price(price) IS NULL)
        FROM meta""").fetchone()
    if html_titles:
        out.note(f"{html_titles:,} item titles are HTML fragments in the source: left empty")
    if bad_prices:
        out.note(f"{bad_prices:,} item prices are not amounts (page fragments): left empty")


ADAPTER = Adapter(INFO, convert)
