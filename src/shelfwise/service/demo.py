"""The demo: generate the synthetic shop, run every capability on it, write one HTML report.

``run_demo`` walks :data:`STEPS`, a list of named steps that each take the shared
:class:`DemoContext` and return a one-line summary. A capability joins the demo by adding its step to
:data:`STEPS` before ``"write report"`` (or with :func:`add_step`) and its findings to ``ctx.report``
with ``ctx.report.section(...)``; it finds the store in ``ctx.store``, the shop folder in
``ctx.shop_dir``, the ground truth in ``ctx.truth`` and may keep anything for later steps in
``ctx.state``.

``OUT`` receives ``shop/`` (the shop folder with ``_truth/``), ``demo.duckdb`` (rebuilt on every run)
and ``report.html``.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.ingest import ingest
from ..data.store import LoadResult, Store, open_store
from ..data.synth import SynthConfig, SynthResult, Truth, load_truth, truth_tables, write_shop
from ..errors import InputError, ShelfwiseError
from ..evaluate.report import Report
from ..logs import get_logger
from ..paths import check_folders_can_be_made
from . import demo_report
from .checks import check_seed

log = get_logger(__name__)

DB_NAME = "demo.duckdb"
REPORT_NAME = "report.html"
SHOP_NAME = "shop"


@dataclass(frozen=True)
class DemoOptions:
    """What ``shelfwise demo`` was asked for. Sizes default to what finishes in about a minute."""

    out_dir: Path
    items: int = 2000
    users: int = 5000
    days: int = 60
    seed: int = 42


@dataclass
class DemoContext:
    """Shared by every step: where things are and what earlier steps produced."""

    options: DemoOptions
    out_dir: Path
    shop_dir: Path
    db_path: Path
    report: Report
    store: Store | None = None
    truth: Truth | None = None
    synth: SynthResult | None = None
    load: LoadResult | None = None
    figures: dict[str, Any] = field(default_factory=dict)   # headline numbers for the final summary
    state: dict[str, Any] = field(default_factory=dict)     # anything a step leaves for later steps

    def require_store(self) -> Store:
        if self.store is None:
            raise InputError("this demo step needs the store, but the ingest step has not run")
        return self.store


@dataclass(frozen=True)
class DemoStep:
    """A named piece of the demo; ``run`` returns a one-line summary of what it did."""

    name: str
    description: str
    run: Callable[[DemoContext], str]


@dataclass
class StepRecord:
    name: str
    description: str
    seconds: float
    summary: str


@dataclass
class DemoResult:
    """What the demo produced, for the CLI's final summary."""

    out_dir: Path
    shop_dir: Path
    db_path: Path
    report_path: Path
    steps: list[StepRecord]
    figures: dict[str, Any]

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "shop_dir": str(self.shop_dir), "db": str(self.db_path),
                "report": str(self.report_path), "seconds": round(self.seconds, 2), "figures": self.figures,
                "steps": [{"name": s.name, "seconds": round(s.seconds, 2), "summary": s.summary} for s in self.steps]}


# ---- the steps --------------------------------------------------------------------------------

def _generate(ctx: DemoContext) -> str:
    o = ctx.options
    ctx.synth = write_shop(ctx.shop_dir, SynthConfig(items=o.items, users=o.users, days=o.days, seed=o.seed))
    ctx.truth = load_truth(ctx.shop_dir)
    rows = ctx.synth.rows
    ctx.figures.update({"items": rows["items"], "users": rows["users"], "events": rows["events"],
                        "reviews": rows["reviews"]})
    return (f"{rows['items']:,} items, {rows['users']:,} users, {rows['events']:,} events, "
            f"{rows['reviews']:,} reviews in {ctx.shop_dir}")


def _ingest(ctx: DemoContext) -> str:
    for stale in (ctx.db_path, ctx.db_path.with_name(ctx.db_path.name + ".wal")):
        stale.unlink(missing_ok=True)  # the demo's own store, rebuilt from scratch every run
    ctx.store = open_store(f"duckdb:///{ctx.db_path.resolve()}")
    ctx.load = ingest(ctx.shop_dir, ctx.store)
    loaded = sum(t.loaded for t in ctx.load.tables)
    rejected = sum(t.rejected for t in ctx.load.tables)
    ctx.figures["rejected rows"] = rejected
    return f"{loaded:,} rows loaded, {rejected:,} rejected, into {ctx.db_path}"


def _store_truth(ctx: DemoContext) -> str:
    store = ctx.require_store()
    if ctx.truth is None:
        ctx.truth = load_truth(ctx.shop_dir)
    tables = truth_tables(ctx.truth)
    for name, table in tables.items():
        store.write(f"synth_{name}", table, mode="replace")
    return "side tables " + ", ".join(f"synth_{n}" for n in tables)


def _shop_report(ctx: DemoContext) -> str:
    sections = demo_report.add_shop_sections(ctx.report, ctx.require_store(), ctx.load, ctx.truth)
    return f"{sections} report sections"


def _write_report(ctx: DemoContext) -> str:
    path = ctx.report.write(ctx.out_dir / REPORT_NAME)
    return f"{len(ctx.report.sections)} sections in {path}"


# Later capabilities add their steps here, before "write report".
STEPS: list[DemoStep] = [
    DemoStep("generate", "generate the synthetic demo shop", _generate),
    DemoStep("ingest", "validate and load it into the embedded store", _ingest),
    DemoStep("truth", "keep the ground truth beside it as synth_* tables", _store_truth),
    DemoStep("shop report", "describe the shop: tables, traffic, positions, sales, launches, reviews", _shop_report),
    DemoStep("write report", "write the HTML report", _write_report),
]


def add_step(step: DemoStep, before: str = "write report") -> None:
    """Insert ``step`` before the step named ``before`` (replacing a step of the same name)."""
    names = [s.name for s in STEPS]
    if step.name in names:
        STEPS.pop(names.index(step.name))
        names.remove(step.name)
    if before not in names:
        raise ValueError(f"no demo step named '{before}' (steps: {', '.join(names)})")
    STEPS.insert(names.index(before), step)


def all_steps() -> list[DemoStep]:
    """The core steps plus every capability's steps from :mod:`shelfwise.service.demo_steps`.

    Each module there defines ``ORDER`` (an int; lower runs earlier) and ``STEPS`` (a list of
    :class:`DemoStep`); they run after "shop report" and before "write report", in ``ORDER``. A
    capability joins the demo by adding one such module, without touching this file.
    """
    from . import demo_steps

    plugins: list[tuple[int, str, list[DemoStep]]] = []
    for info in pkgutil.iter_modules(demo_steps.__path__):
        module = importlib.import_module(f"{demo_steps.__name__}.{info.name}")
        plugins.append((int(getattr(module, "ORDER", 100)), info.name, list(getattr(module, "STEPS", []))))
    steps = list(STEPS)
    at = [s.name for s in steps].index("write report")
    extra = [step for _, _, group in sorted(plugins, key=lambda p: (p[0], p[1])) for step in group]
    return steps[:at] + extra + steps[at:]


def run_demo(options: DemoOptions,
             on_step: Callable[[int, int, DemoStep, StepRecord | None], None] | None = None) -> DemoResult:
    """Run every step in order. ``on_step(index, total, step, record)`` is called before each step
    (``record`` None) and after it (with its time and summary), so a caller can show progress."""
    out = Path(options.out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; give a folder for the demo (--out)")
    check_folders_can_be_made(out, "out")
    check_seed(options.seed)
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(options=options, out_dir=out, shop_dir=out / SHOP_NAME, db_path=out / DB_NAME,
                      report=Report("shelfwise demo shop",
                                    f"A synthetic shop of {options.items:,} items and {options.users:,} users "
                                    f"over {options.days} days (seed {options.seed})"))
    records: list[StepRecord] = []
    steps = all_steps()
    core = {s.name for s in STEPS}  # generate, ingest, ... write report: the demo cannot go on without them
    try:
        for k, step in enumerate(steps, start=1):
            if on_step:
                on_step(k, len(steps), step, None)
            passed = [[r.name, r.summary.split(":", 1)[1].strip()] for r in records
                      if r.summary.startswith("skipped:")]
            if step.name == "write report" and passed:
                ctx.report.section("Skipped steps").text(
                    "These steps found too little in the demo shop to run (a larger --items, --users or --days, "
                    "or data they need, runs them):").table(["step", "reason"], passed)
            t = time.perf_counter()
            log.info("demo step %d/%d: %s", k, len(steps), step.name)
            try:
                summary = step.run(ctx)
            except ShelfwiseError as exc:
                if step.name in core:
                    raise
                # a capability that the demo shop is too small for (say, no complete week of sales at
                # --days 5) is skipped with its reason; the rest of the demo and the report still run
                summary = f"skipped: {exc}"
                log.warning("demo step %s skipped: %s", step.name, exc)
            rec = StepRecord(step.name, step.description, time.perf_counter() - t, summary)
            records.append(rec)
            if on_step:
                on_step(k, len(steps), step, rec)
    finally:
        if ctx.store is not None:
            ctx.store.close()
    return DemoResult(out, ctx.shop_dir, ctx.db_path, out / REPORT_NAME, records, ctx.figures)


def generate_synth_shop(out_dir: str | Path, items: int, users: int, days: int, seed: int) -> SynthResult:
    """``shelfwise datasets synth``: write a synthetic shop folder with its ground truth."""
    check_folders_can_be_made(out_dir, "out_dir")
    check_seed(seed)
    return write_shop(out_dir, SynthConfig(items=items, users=users, days=days, seed=seed))
