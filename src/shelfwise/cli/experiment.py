"""``shelfwise ope``, ``shelfwise position-bias`` and ``shelfwise experiment analyze|create|list|assign|stop|
outcomes|learn-policy``: display strategy and experiments."""

from __future__ import annotations

import shlex
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ..experiment.tables import check_writable
from ..jsonsafe import bound, figure
from ..service import experiment as svc
from ..service import experiment_report as rep
from .common import DbOption, NewDbOption, console, dumps, handled, print_json

experiment_app = typer.Typer(help="A/B tests: analyse a result table; create, assign and follow experiments; "
                                  "learn a display policy from logs.", no_args_is_help=True)

SurfaceOption = typer.Option(None, "--surface", help="Only impressions on this surface (repeatable).")
WhereOption = typer.Option(None, "--where", help="Only impressions where KEY=VALUE, KEY an event column or an extra "
                                                 "column of the events (e.g. policy=random); repeatable.")
SinceOption = typer.Option(None, "--since", help="Only impressions at or after this time (ISO 8601, UTC).")
UntilOption = typer.Option(None, "--until", help="Only impressions before this time (ISO 8601, UTC).")
RewardOption = typer.Option("click", "--reward", help="The event that counts as the reward of an impression "
                                                      "(click, cart, purchase, ...).")
JsonOutOption = typer.Option(None, "--json", help="Write the result as JSON to this file ('-' prints it).")
HtmlOption = typer.Option(None, "--html", help="Write an HTML report to this file.")
SeedOption = typer.Option(0, "--seed", help="Seed of the bootstrap (and of splits): same seed, same intervals.")
LevelOption = typer.Option(0.95, "--level", help="Confidence level of the intervals.")


def _csv(text: Optional[str]) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _emit(result: Any, json_out: Optional[str]) -> bool:
    """Write or print JSON when asked; True when the result went to stdout as JSON.

    A figure that cannot be computed (nan: a relative lift over a zero control mean) or an unbounded
    interval limit (inf) is written as null: JSON has no nan or infinity.
    """
    if json_out is None:
        return False
    if json_out == "-":
        print_json(result)
        return True
    Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(json_out).write_text(dumps(result) + "\n", encoding="utf-8")
    console.print(f"wrote {json_out}", highlight=False)
    return False


def _check_outputs(json_out: Optional[str], html: Optional[Path]) -> None:
    """Refuse, before any work, a --json or --html path that names a folder, another file type, or a folder
    that cannot be made because a file stands in the way."""
    for flag, path, formats in (("json", None if json_out == "-" else json_out, (".json",)),
                                ("html", html, (".html", ".htm"))):
        check_writable(path, formats, field=flag)


def _sel(surface: Optional[list[str]], where: Optional[list[str]], since: Optional[datetime],
         until: Optional[datetime], reward: str) -> Any:
    return svc.selection(surface or (), where or (), since, until, reward)


def ope(db: Optional[str] = DbOption,
        target: str = typer.Option("uniform", "--target", help="The policy to evaluate: 'uniform' (every item of the "
                                   "surface equally likely at every position) or a file (.csv/.parquet/.jsonl) with "
                                   "columns item_id, probability and any context keys: position, surface, session_id, "
                                   "user_id or an extra event column. See docs/EXPERIMENTS.md."),
        json_out: Optional[str] = JsonOutOption, html: Optional[Path] = HtmlOption,
        surface: Optional[list[str]] = SurfaceOption, where: Optional[list[str]] = WhereOption,
        since: Optional[datetime] = SinceOption, until: Optional[datetime] = UntilOption, reward: str = RewardOption,
        context: Optional[str] = typer.Option(None, "--context", help="Comma-separated context columns for the "
                                              "reward model of DM and DR (e.g. user_feature_0,user_feature_1)."),
        actions: str = typer.Option("logged", "--actions", help="The items a policy may show: 'logged' (those the "
                                    "logs showed on the surface) or 'catalog' (every item)."),
        clip: Optional[float] = typer.Option(None, "--clip", help="Cap the importance weights at this value."),
        resamples: int = typer.Option(2000, "--resamples", help="Bootstrap resamples (over displays)."),
        seed: int = SeedOption, level: float = LevelOption) -> None:
    """Off-policy evaluation: estimate a policy's click rate per slot from logs with positions and propensities."""
    with handled():
        _check_outputs(json_out, html)
        result = svc.ope(db, target, sel=_sel(surface, where, since, until, reward), context=_csv(context),
                         actions=actions, clip=clip, resamples=resamples, seed=seed, level=level)
        if html:
            rep.write(html, "Off-policy evaluation", [(rep.ope_section, result)])
    if _emit(result, json_out):
        return
    table = Table(title=f"policy '{result['policy']}' on {result['n']:,} impressions ({result['selection']})")
    for col in ("estimator", "value", f"{100 * level:.0f}% low", "high"):
        table.add_column(col, justify="left" if col == "estimator" else "right")
    for name, v in result["estimators"].items():
        table.add_row(name, figure(v["value"], ".6f"), bound(v["ci_low"], ".6f"), bound(v["ci_high"], ".6f"))
    lg = result["logged"]
    table.add_row("logged (on-policy)", figure(lg["value"], ".6f"), bound(lg["ci_low"], ".6f"),
                  bound(lg["ci_high"], ".6f"))
    console.print(table)
    d = result["diagnostics"]
    console.print(f"effective sample size {d['effective_sample_size']:,.0f}, max weight {d['max_weight']:.4g}, "
                  f"mean weight {d['mean_weight']:.3f}, support {100 * d['support_share']:.1f}%", highlight=False)


def position_bias(db: Optional[str] = DbOption,
                  method: str = typer.Option("randomised", "--method", help="'randomised': CTR by position on "
                                             "randomised logs (select them with --where); 'pbm': fit a position-based "
                                             "click model by EM on any logs."),
                  surface: Optional[list[str]] = SurfaceOption, where: Optional[list[str]] = WhereOption,
                  since: Optional[datetime] = SinceOption, until: Optional[datetime] = UntilOption,
                  reward: str = RewardOption,
                  max_position: Optional[int] = typer.Option(None, "--max-position",
                                                             help="Estimate positions 1..N only."),
                  resamples: Optional[int] = typer.Option(None, "--resamples", help="Bootstrap resamples (default "
                                                          "2000 randomised, 200 pbm: each PBM resample refits EM)."),
                  seed: int = SeedOption, level: float = LevelOption,
                  json_out: Optional[str] = JsonOutOption, html: Optional[Path] = HtmlOption) -> None:
    """How much attention each display position gets, relative to position 1, with intervals."""
    with handled():
        _check_outputs(json_out, html)
        curve = svc.position_bias(db, method=method, sel=_sel(surface, where, since, until, reward),
                                  max_position=max_position, resamples=resamples, seed=seed, level=level)
        if html:
            rep.write(html, "Position bias", [(rep.position_section, curve)])
    if _emit(curve, json_out):
        return
    table = Table(title=f"attention by position ({curve['method']}; {curve['selection']})")
    for col in ("position", "impressions", "clicks", "CTR", "attention", "low", "high"):
        table.add_column(col, justify="right")
    for row in zip(curve["positions"], curve["impressions"], curve["clicks"], curve["ctr"], curve["attention"],
                   curve["ci_low"], curve["ci_high"]):
        p, n, c, ctr, a, lo, hi = row
        # an infinite upper limit (no click at position 1 in some resamples) is null in the JSON
        table.add_row(str(p), f"{n:,}", f"{c:,}", figure(ctr, ".5f"), figure(a, ".3f"), bound(lo, ".3f"),
                      bound(hi, ".3f"))
    console.print(table)


@experiment_app.command()
def analyze(file: Path = typer.Argument(..., help="One row per unit: the arm and the metrics (.csv, .csv.gz, "
                                        ".parquet, .jsonl)."),
            arm_col: str = typer.Option(..., "--arm-col", help="The column that names each unit's arm."),
            control: str = typer.Option(..., "--control", help="The control arm's name."),
            metrics: str = typer.Option(..., "--metrics", help="Comma-separated metric columns; 0/1 columns are "
                                        "binary (z-test), others continuous (Welch's t-test)."),
            covariate: Optional[str] = typer.Option(None, "--covariate", help="A pre-period column for CUPED "
                                                    "variance reduction (e.g. spend before the test)."),
            expected_split: Optional[str] = typer.Option(None, "--expected-split", help="Expected shares for the "
                                                         "sample-ratio check: 50,50 (control first, then the other "
                                                         "arms sorted) or control=0.5,treat=0.5; default equal."),
            correction: str = typer.Option("holm", "--correction", help="Multiple-comparison correction: holm, bh "
                                           "(Benjamini-Hochberg) or none."),
            level: float = LevelOption, json_out: Optional[str] = JsonOutOption,
            html: Optional[Path] = HtmlOption) -> None:
    """Analyse an A/B(/n) test: per-arm means, lifts with intervals, p-values, SRM check, CUPED."""
    with handled():
        _check_outputs(json_out, html)
        result = svc.analyze(file, arm_col, control, _csv(metrics), covariate=covariate,
                             expected_split=expected_split, correction=correction, level=level)
        if html:
            rep.write(html, f"A/B test: {file.name}", [(rep.ab_section, result)])
    if _emit(result, json_out):
        return
    metric_names = result["metrics"]
    table = Table(title=f"{file.name}: arms of '{arm_col}'")
    table.add_column("arm")
    table.add_column("units", justify="right")
    for m in metric_names:
        table.add_column(m, justify="right")
    for arm, ms in result["arms"].items():
        table.add_row(arm, f"{ms[metric_names[0]]['n']:,}", *[figure(ms[m]["mean"], ".5g") for m in metric_names])
    console.print(table)
    comp = Table(title=f"against '{control}' ({correction} adjusted{', CUPED on ' + covariate if covariate else ''})")
    for col in ("arm", "metric", "test", "lift", f"{100 * level:.0f}% CI", "relative", "p", "p adj."):
        comp.add_column(col, justify="left" if col in ("arm", "metric", "test") else "right")
    for c in result["comparisons"]:
        # a relative lift over a control mean of 0 is null in the JSON: "n/a" here, not "+nan%"
        comp.add_row(c["arm"], c["metric"], c["test"], figure(c["lift_abs"], ".5g"),
                     f"[{bound(c['ci_low'])}, {bound(c['ci_high'])}]", figure(c["lift_rel"], "+.1%"),
                     figure(c["p_value"], ".3g"), figure(c["p_value_adjusted"], ".3g"))
    console.print(comp)
    flag = "  [bold red]MISMATCH[/]" if result["srm_p_value"] < 0.001 else ""
    console.print(f"sample-ratio check p = {result['srm_p_value']:.4g}{flag}")


@experiment_app.command()
def create(name: str = typer.Argument(..., help="The experiment's name (unique in the store)."),
           arms: str = typer.Option(..., "--arms", help="Comma-separated arm names, e.g. current,new-ranker."),
           weights: Optional[str] = typer.Option(None, "--weights", help="Comma-separated weights, one per arm "
                                                 "(default equal)."),
           control: Optional[str] = typer.Option(None, "--control", help="The control arm (default: the first)."),
           salt: Optional[str] = typer.Option(None, "--salt", help="Assignment salt (default: random). Same salt and "
                                              "name, same assignment."),
           description: str = typer.Option("", "--description", help="What the experiment tests."),
           db: Optional[str] = NewDbOption, as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Register an experiment between arms (for example two display policies) in the store."""
    with handled():
        try:
            w = [float(x) for x in _csv(weights)] or None
        except ValueError:
            raise typer.BadParameter(f"'{weights}' is not a list of numbers", param_hint="--weights") from None
        exp = svc.create_experiment(db, name, _csv(arms), weights=w, control=control, salt=salt,
                                    description=description)
    if as_json:
        print_json(exp)
        return
    console.print(f"created '{exp['name']}': " + ", ".join(f"{a} {100 * s:.1f}%" for a, s in exp["split"].items())
                  + f" (control {exp['control']})", highlight=False)


@experiment_app.command("list")
def list_(db: Optional[str] = DbOption, as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The experiments in the store, with their split, status and exposed units per arm."""
    with handled():
        rows = svc.list_experiments(db)
    if as_json:
        print_json(rows)
        return
    table = Table(title="experiments")
    for col in ("name", "status", "control", "arms (exposed)", "created"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["status"], r["control"],
                      ", ".join(f"{a} {100 * r['split'][a]:.0f}% ({r['exposed'][a]:,})" for a in r["arms"]),
                      str(r["created_at"])[:19])
    console.print(table)


@experiment_app.command()
def assign(name: str = typer.Argument(..., help="The experiment."),
           units: list[str] = typer.Argument(..., help="User ids (or session ids) to assign."),
           no_log: bool = typer.Option(False, "--no-log", help="Only show the arms; record no exposure."),
           surface: Optional[str] = typer.Option(None, "--surface", help="Where the exposure happened."),
           db: Optional[str] = DbOption, as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Each unit's arm (deterministic salted hashing); records the first exposure unless --no-log."""
    with handled():
        arms = svc.assign(db, name, units, log_exposure=not no_log, surface=surface)
    if as_json:
        print_json(arms)
        return
    for u, a in arms.items():
        console.print(f"{u}\t{a}", highlight=False)


@experiment_app.command()
def stop(name: str = typer.Argument(..., help="The experiment."), db: Optional[str] = DbOption) -> None:
    """Stop an experiment: every unit then gets the control arm and no exposure is recorded."""
    with handled():
        svc.set_experiment_status(db, name, "stopped")
    console.print(f"stopped '{name}'", highlight=False)


@experiment_app.command()
def outcomes(name: str = typer.Argument(..., help="The experiment."),
             out: Path = typer.Option(..., "--out", help="The per-unit table to write (.csv, .csv.gz, .parquet)."),
             pre_days: int = typer.Option(28, "--pre-days", help="Days before exposure for the CUPED covariates."),
             until: Optional[datetime] = typer.Option(None, "--until", help="Count outcomes before this time only."),
             db: Optional[str] = DbOption) -> None:
    """Write one row per exposed unit (arm, outcomes after exposure, pre-period covariates) for `analyze`."""
    with handled():
        info = svc.outcomes(db, name, out, pre_days=pre_days, until=until)
    console.print(f"wrote {info['units']:,} units to {info['file']}", highlight=False, markup=False)
    split = f" --expected-split {info['expected_split']}" if info.get("expected_split") else ""
    console.print(f"next: shelfwise experiment analyze {shlex.quote(info['file'])} --arm-col arm "
                  f"--control {shlex.quote(info['control'])} --metrics clicked,purchased,revenue "
                  f"--covariate pre_revenue{split}", highlight=False, markup=False, soft_wrap=True)


@experiment_app.command("learn-policy")
def learn_policy(db: Optional[str] = DbOption, surface: Optional[list[str]] = SurfaceOption,
                 where: Optional[list[str]] = WhereOption, since: Optional[datetime] = SinceOption,
                 until: Optional[datetime] = UntilOption, reward: str = RewardOption,
                 context: Optional[str] = typer.Option(None, "--context", help="Comma-separated context columns the "
                                                       "policy may use (event or extra columns)."),
                 epsilon: float = typer.Option(0.1, "--epsilon", help="Share of uniform exploration in the policy."),
                 max_weight: Optional[float] = typer.Option(None, "--max-weight", help="Cap 1/propensity at this."),
                 greedy: bool = typer.Option(False, "--greedy", help="Put all non-exploration probability on the "
                                             "best-scored item (default: the classifier's own probabilities)."),
                 test_share: float = typer.Option(0.5, "--test-share", help="Share of displays held out to estimate "
                                                  "the learned policy's value."),
                 model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Save the policy (fitted on all "
                                                          "logs) here."),
                 probabilities: Optional[Path] = typer.Option(None, "--probabilities", help="Write its per-context "
                                                              "probabilities here (a --target file for ope)."),
                 seed: int = SeedOption, json_out: Optional[str] = JsonOutOption,
                 html: Optional[Path] = HtmlOption) -> None:
    """Learn a display policy from logs (inverse-propensity weighted) and estimate it against the logged one."""
    with handled():
        _check_outputs(json_out, html)
        result = svc.learn(db, sel=_sel(surface, where, since, until, reward), context=_csv(context),
                           epsilon=epsilon, max_weight=max_weight, greedy=greedy, test_share=test_share,
                           model_dir=model_dir,
                           probabilities_out=probabilities, seed=seed)
        if html:
            rep.write(html, "Learned display policy", [(rep.learning_section, result)])
    if _emit(result, json_out):
        return
    table = Table(title=f"click rate per slot on {result['test_rows']:,} held-out impressions")
    for col in ("policy", "ipw", "snipw", "dm", "dr"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for name in ("learned", "uniform"):
        est = result[name]["estimators"]
        table.add_row(name, *[_estimate(est[k]) for k in ("ipw", "snipw", "dm", "dr")])
    table.add_row("logged (on-policy)", _estimate(result["logged"]), "", "", "")
    console.print(table)


def _estimate(e: dict[str, Any]) -> str:
    """``value [low, high]``, with the words the other tables use where the JSON has null."""
    return f"{figure(e['value'], '.5f')} [{bound(e['ci_low'], '.5f')}, {bound(e['ci_high'], '.5f')}]"


def register(app: typer.Typer) -> None:
    app.command("ope")(ope)
    app.command("position-bias")(position_bias)
    app.add_typer(experiment_app, name="experiment")
