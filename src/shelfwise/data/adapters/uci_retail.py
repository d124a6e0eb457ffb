"""UCI "Online Retail" (invoice lines of a UK gift wholesaler, 2010-12 .. 2011-12) as a shop.

Mapping (source column -> shop):

- every invoice line -> one ``events`` row: ``order_id`` = InvoiceNo, ``item_id`` = StockCode,
  ``quantity``, ``price`` = UnitPrice, ``timestamp`` = InvoiceDate (local UK time, written as naive and
  therefore read as UTC: summer-time lines are one hour off true UTC), ``user_id`` = CustomerID
  normalised to the integer string ("17850.0" -> "17850"); lines without a customer stay as anonymous
  events (empty ``user_id``).
- ``event``: ``return`` for invoices starting with ``C`` (cancellations) and for every line with a
  negative quantity (the quantity is made positive; the sign lives in the event type); ``purchase``
  otherwise.
- extra event columns: ``country`` (Country), ``line_kind`` (``sale``; ``cancellation`` for C
  invoices; ``adjustment`` for negative lines on ordinary invoices, which are stock write-offs such as
  "damages", and for invoices with another letter prefix, ``A`` = bad-debt adjustment) and ``note``
  (the line's Description when it differs from the item's title, so no description is lost).
- ``items``: one per StockCode (kept as given: codes differing only by letter case stay distinct).
  ``title`` = the most common Description among the item's lines with a positive price (falling back
  to all its lines; ties: the alphabetically first); ``price`` = median UnitPrice of its purchase
  lines with a positive price; ``launched_at`` = its first purchase. Extra columns ``non_product``
  (true for service codes: POST, DOT, C2, M, D, S, B, BANK CHARGES, AMAZONFEE, CRUK) and ``service``
  (postage, carriage, manual, discount, samples, bad_debt, bank_charges, marketplace_fee, commission).
- ``users``: one per CustomerID with ``country`` (the country of most of the customer's lines; ties:
  the most recent).

Dropped (counted under a reason, never silent): lines with a negative UnitPrice (the format rejects
negative prices; in this file the two "Adjust bad debt" lines), and lines whose StockCode, InvoiceDate
or Quantity is missing or unreadable, or whose quantity is 0 (none in this file).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .base import (Adapter, DatasetInfo, DuckDB, ShopWriter, check_options, connect, drop_counts, find_files,
                   require_columns, sql_path)

INFO = DatasetInfo(
    name="online-retail",
    title="UCI Online Retail",
    summary="541,909 invoice lines (2010-12-01 .. 2011-12-09) of a UK online gift retailer: purchases, "
            "cancellations/returns, 4,372 customers, 4,070 stock codes, 38 countries.",
    origin="UCI Machine Learning Repository 'Online Retail' (Chen, Sain & Guo 2012); copied from "
           "databricks/Spark-The-Definitive-Guide (data/retail-data/by-day), concatenated unchanged.",
    licence="no separate data licence stated by the source repository (Apache-2.0 repo); UCI lists its "
            "datasets under CC BY 4.0 (not checked).",
    source_dir="uci-online-retail",
    src_hint="the folder with online_retail.csv.gz, the file itself, or a folder of daily CSVs with the same header",
    tables=("items", "users", "events"),
)

COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")

# Stock codes that are not goods but service lines; matched case-insensitively.
SERVICE_CODES: dict[str, str] = {
    "POST": "postage", "DOT": "postage", "C2": "carriage", "M": "manual", "D": "discount", "S": "samples",
    "B": "bad_debt", "BANK CHARGES": "bank_charges", "AMAZONFEE": "marketplace_fee", "CRUK": "commission",
}


def _service_case() -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{kind}'" for code, kind in SERVICE_CODES.items())
    return f"CASE upper(item_id) {whens} END"


def convert(src: Path, out: ShopWriter, options: Mapping[str, str]) -> None:
    """Convert the Online Retail CSV(s) at ``src`` into items, users and events."""
    check_options(INFO.name, options, ())
    files = find_files(src, ("*.csv", "*.csv.gz"), "Online Retail CSV file")
    con = connect()
    try:
        file_list = "[" + ", ".join(sql_path(f) for f in files) + "]"
        con.execute(f"""CREATE TABLE src AS SELECT * FROM read_csv({file_list}, header = true, all_varchar = true,
                        union_by_name = true, filename = true)""")
        require_columns(files[0], [r[0] for r in con.execute("DESCRIBE src").fetchall()], COLUMNS)
        for name, n in con.execute("SELECT filename, count(*) FROM src GROUP BY 1 ORDER BY 1").fetchall():
            out.read_rows(name, n)
        _parse(con)
        out.drop_counts(drop_counts(con, "lines"))
        con.execute("CREATE TABLE kept AS SELECT * EXCLUDE (_drop) FROM lines WHERE _drop IS NULL")
        _items(con)
        out.write("items", con.sql("SELECT * FROM items ORDER BY item_id").fetch_arrow_table())
        out.write("users", con.sql("""
            SELECT user_id, country FROM (
                SELECT user_id, country, count(*) AS n, max(ts) AS last FROM kept
                WHERE user_id IS NOT NULL GROUP BY ALL)
            QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY n DESC, last DESC, country) = 1
            ORDER BY user_id""").fetch_arrow_table())
        out.write("events", con.sql("""
            SELECT k.ts AS timestamp, k.user_id, k.item_id, k.event, k.quantity, k.price, k.order_id,
                   k.country, k.line_kind,
                   CASE WHEN k.description IS NOT NULL AND k.description IS DISTINCT FROM i.title
                        THEN k.description END AS note
            FROM kept k JOIN items i USING (item_id)
            ORDER BY k.ts, k.order_id, k.item_id, k.quantity, k.price, k.description""").fetch_arrow_table())
        anonymous = con.execute("SELECT count(*) FROM kept WHERE user_id IS NULL").fetchone()[0]
        out.note(f"{anonymous:,} lines without CustomerID kept as anonymous events (empty user_id)")
        out.note("InvoiceDate is UK local time; written as naive timestamps, which the format reads as UTC")
        out.note("returns: C invoices and negative quantities, with the quantity made positive; "
                 "line_kind tells cancellations from stock adjustments")
    finally:
        con.close()


def _parse(con: DuckDB) -> None:
    """Type every line and decide its fate: an event, or a drop reason in ``_drop``."""
    con.execute("""
        CREATE TABLE typed AS SELECT
            trim(InvoiceNo) AS order_id,
            NULLIF(trim(StockCode), '') AS item_id,
            NULLIF(trim(Description), '') AS description,
            TRY_CAST(trim(Quantity) AS DOUBLE) AS qty,
            coalesce(TRY_CAST(trim(InvoiceDate) AS TIMESTAMP),
                     try_strptime(trim(InvoiceDate), '%m/%d/%Y %H:%M'),
                     try_strptime(trim(InvoiceDate), '%m/%d/%Y %H:%M:%S')) AS ts,
            NULLIF(trim(UnitPrice), '') AS price_text,
            TRY_CAST(trim(UnitPrice) AS DOUBLE) AS price,
            regexp_replace(NULLIF(trim(CustomerID), ''), '^([0-9]+)\\.0*$', '\\1') AS user_id,
            NULLIF(trim(Country), '') AS country
        FROM src""")
    con.execute("""
        CREATE TABLE lines AS SELECT
            order_id, item_id, description, ts, price, user_id, country,
            abs(qty) AS quantity,
            CASE WHEN upper(order_id) LIKE 'C%' OR qty < 0 THEN 'return' ELSE 'purchase' END AS event,
            CASE WHEN upper(order_id) LIKE 'C%' THEN 'cancellation'
                 WHEN regexp_matches(order_id, '^[A-Za-z]') OR qty < 0 THEN 'adjustment'
                 ELSE 'sale' END AS line_kind,
            CASE WHEN item_id IS NULL THEN 'no StockCode'
                 WHEN ts IS NULL THEN 'missing or unreadable InvoiceDate'
                 WHEN qty IS NULL THEN 'missing or unreadable Quantity'
                 WHEN qty = 0 THEN 'Quantity is 0 (neither a sale nor a return)'
                 WHEN price_text IS NOT NULL AND (price IS NULL OR NOT isfinite(price))
                      THEN 'unreadable UnitPrice'
                 WHEN price < 0 THEN 'negative UnitPrice (the format rejects negative prices)'
            END AS _drop
        FROM typed""")


def _items(con: DuckDB) -> None:
    """One row per stock code: most common description, median sale price, first sale, service flag."""
    con.execute(f"""
        CREATE TABLE items AS
        WITH titles AS (
            SELECT item_id, description AS title FROM (
                SELECT item_id, description, count(*) FILTER (WHERE price > 0) AS n_paid, count(*) AS n
                FROM kept WHERE description IS NOT NULL GROUP BY ALL)
            QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY n_paid DESC, n DESC, description) = 1),
        stats AS (
            SELECT item_id,
                   median(price) FILTER (WHERE event = 'purchase' AND price > 0) AS price,
                   min(ts) FILTER (WHERE event = 'purchase') AS launched_at
            FROM kept GROUP BY item_id)
        SELECT s.item_id, t.title, s.price, s.launched_at,
               ({_service_case()}) IS NOT NULL AS non_product,
               {_service_case()} AS service
        FROM stats s LEFT JOIN titles t USING (item_id)""")


ADAPTER = Adapter(INFO, convert)
