"""Property: whatever garbage a CSV holds, the loader never crashes and read = loaded + rejected."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shelfwise.data.readers import read_csv
from shelfwise.data.schema import EVENTS
from shelfwise.data.store import open_store
from shelfwise.data.ingest import ingest
from shelfwise.data.validate import validate

cell = st.one_of(
    st.sampled_from(["", " ", "2011-01-01", "2011-01-01T10:00:00+01:00", "1300000000", "u1", "i1", "view",
                     "purchase", "nope", "-1", "0", "1", "1.5", "nan", "inf", "1e400", '"', '""', ",", "\n", "\r\n",
                     "\x00", "\ufeff", "é", "价格"]),
    st.text(max_size=12),
)
row = st.lists(cell, min_size=0, max_size=7)
HEADER = "timestamp,user_id,item_id,event,quantity,price\n"


def render(rows: list[list[str]], raw_tail: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for r in rows:
        writer.writerow(r)
    return HEADER + buf.getvalue() + raw_tail


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, max_size=12), raw_tail=st.text(max_size=40))
def test_garbled_csv_never_crashes_and_counts_add_up(tmp_path_factory, rows, raw_tail):
    folder = tmp_path_factory.mktemp("shop")
    path = Path(folder) / "events.csv"
    path.write_text(render(rows, raw_tail), encoding="utf-8")
    raw = read_csv(path)
    v = validate(raw, EVENTS)
    assert v.read == v.accepted.num_rows + v.rejects.num_rows
    # every rejected row says why, and names a line inside the file
    n_lines = path.read_text(encoding="utf-8").count("\n") + 2
    for reason, line in zip(v.rejects.column("reason").to_pylist(), v.rejects.column("source_line").to_pylist()):
        assert reason
        assert 2 <= line <= n_lines


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, max_size=8), raw_tail=st.text(max_size=20))
def test_garbled_shop_loads_what_is_valid_exactly_once(tmp_path_factory, rows, raw_tail):
    folder = tmp_path_factory.mktemp("shop")
    (folder / "events.csv").write_text(render(rows, raw_tail), encoding="utf-8")
    with open_store(f"duckdb:///{folder / 'x.duckdb'}") as store:
        first = ingest(folder, store).tables[0]
        assert first.read == first.loaded + first.rejected
        assert store.count("events") == first.loaded
        second = ingest(folder, store).tables[0]
        assert second.new == 0 and store.count("events") == first.loaded
