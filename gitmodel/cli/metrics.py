"""Comparing versions: metrics show|diff, params show|diff, diff, report, plot."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gitmodel.cli.app import app
from gitmodel.cli.options import Json

metrics_app = typer.Typer(name="metrics", help="Show and compare metrics across revisions and versions.",
                          no_args_is_help=True, rich_markup_mode=None)
params_app = typer.Typer(name="params", help="Show and compare params across revisions and versions.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(metrics_app)
app.add_typer(params_app)

Revs = Annotated[Optional[list[str]], typer.Argument(
    help="Git revisions or version references (clf@v1.0.0, clf#prod); `workspace` for the files on disk "
         "(default: workspace).", show_default=False)]
RevA = Annotated[Optional[str], typer.Argument(help="Old side: a git rev or version reference (default: HEAD).",
                                               show_default=False)]
RevB = Annotated[Optional[str], typer.Argument(help="New side (default: the workspace).", show_default=False)]
AllTags = Annotated[bool, typer.Option("--all-tags", "-T", help="Every tagged version (oldest first).")]
Model = Annotated[Optional[str], typer.Option("--model", "-m", help="Only this model's declared files and versions.")]
Targets = Annotated[Optional[list[str]], typer.Option(
    "--targets", "-t", help="Files to read instead of the declared ones (repeat, or separate with commas).")]
Md = Annotated[bool, typer.Option("--md", help="Markdown tables.")]
Precision = Annotated[int, typer.Option("--precision", min=0, max=15, help="Decimals shown for floats.")]
All = Annotated[bool, typer.Option("--all", "-a", help="Include unchanged values.")]


def _targets(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


@metrics_app.command("show")
def metrics_show(revs: Revs = None, all_tags: AllTags = False, model: Model = None, targets: Targets = None,
                 json: Json = False, md: Md = False, precision: Precision = 5) -> None:
    """Show metrics at revisions (default: the workspace)."""
    from gitmodel.commands import metrics as cmd
    raise typer.Exit(cmd.show("metrics", revs or [], all_tags=all_tags, model=model, targets=_targets(targets),
                              as_json=json, md=md, precision=precision))


@metrics_app.command("diff")
def metrics_diff(a: RevA = None, b: RevB = None, model: Model = None, targets: Targets = None, json: Json = False,
                 md: Md = False, precision: Precision = 5, all: All = False) -> None:
    """Compare metrics between two revisions, with absolute and relative change."""
    from gitmodel.commands import metrics as cmd
    raise typer.Exit(cmd.diff("metrics", a, b, model=model, targets=_targets(targets), as_json=json, md=md,
                              precision=precision, show_all=all))


@params_app.command("show")
def params_show(revs: Revs = None, all_tags: AllTags = False, model: Model = None, targets: Targets = None,
                json: Json = False, md: Md = False, precision: Precision = 5) -> None:
    """Show params at revisions (default: the workspace)."""
    from gitmodel.commands import params as cmd
    raise typer.Exit(cmd.show(revs or [], all_tags=all_tags, model=model, targets=_targets(targets),
                              as_json=json, md=md, precision=precision))


@params_app.command("diff")
def params_diff(a: RevA = None, b: RevB = None, model: Model = None, targets: Targets = None, json: Json = False,
                md: Md = False, precision: Precision = 5, all: All = False) -> None:
    """Compare params between two revisions."""
    from gitmodel.commands import params as cmd
    raise typer.Exit(cmd.diff(a, b, model=model, targets=_targets(targets), as_json=json, md=md,
                              precision=precision, show_all=all))


@app.command("diff")
def diff(a: RevA = None, b: RevB = None, model: Model = None, json: Json = False, md: Md = False,
         precision: Precision = 5, all: All = False) -> None:
    """Everything between two versions: artifacts, data, params and metrics."""
    from gitmodel.commands import diff as cmd
    raise typer.Exit(cmd.run(a, b, model=model, as_json=json, md=md, precision=precision, show_all=all))


@app.command("report")
def report(base: Annotated[str, typer.Option("--base", help="The revision to compare with (e.g. origin/main).")],
           head: Annotated[Optional[str], typer.Option(
               "--head", help="The new side (default: the workspace, like `diff`; in CI that is the checked-out "
                              "commit).")] = None,
           fail_on: Annotated[Optional[list[str]], typer.Option(
               "--fail-on", help="A gate, e.g. 'accuracy<-0.01' or 'loss>5%' (repeat for more); "
                                 "exit 2 when one fails.")] = None,
           no_config_gates: Annotated[bool, typer.Option(
               "--no-config-gates", help="Ignore [report] fail_on from the config.")] = False,
           md: Md = False, json: Json = False,
           output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write the report to a file.")] = None,
           model: Model = None, precision: Precision = 5) -> None:
    """A pull-request report of metric, param and artifact changes, with gates for CI."""
    from gitmodel.commands import report as cmd
    raise typer.Exit(cmd.run(base, head, fail_on=fail_on or [], md=md, as_json=json, output=output, model=model,
                             precision=precision, use_config_gates=not no_config_gates))


@app.command("plot")
def plot(name: Annotated[Optional[str], typer.Argument(help="The model whose versions to chart.")] = None,
         metric: Annotated[Optional[list[str]], typer.Option(
             "--metric", "-M", help="Metric key, or FILE:KEY (repeat for more; default: every numeric one).")] = None,
         output: Annotated[Optional[str], typer.Option(
             "--output", "-o", help="out.html (self-contained, opens offline), out.svg or out.png.")] = None,
         commits: Annotated[bool, typer.Option("--commits",
                                               help="Chart the commit history instead of versions.")] = False,
         rev: Annotated[str, typer.Option("--rev", help="With --commits: the history of this revision.")] = "HEAD",
         max_count: Annotated[int, typer.Option("--max-count", "-n", min=1,
                                                help="With --commits: at most N commits.")] = 100,
         targets: Targets = None, json: Json = False,
         width: Annotated[int, typer.Option("--width", help="Pixels.")] = 960,
         height: Annotated[int, typer.Option("--height", help="Pixels.")] = 540) -> None:
    """Chart a metric across versions (or commits) as HTML or PNG."""
    from gitmodel.commands import plot as cmd
    raise typer.Exit(cmd.run(name, metric or [], output=output, commits=commits, rev=rev, limit=max_count,
                             targets=_targets(targets), as_json=json, width=width, height=height))
