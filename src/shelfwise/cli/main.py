"""The ``shelfwise`` command. Command groups live in sibling modules that each define ``register(app)``;
they are found by name so that a new capability adds a module here without editing this file."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from .. import __version__
from .. import logs, progress
from ..config import get_settings

app = typer.Typer(name="shelfwise", help="Turn a shop's own data into merchandising decisions.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shelfwise {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit."),
         quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors; no progress bars.")) -> None:
    """shelfwise: recommendations, launches, long tail, lifecycle, reviews and experiments for a shop."""
    logs.configure("WARNING" if quiet else get_settings().log_level)
    progress.enable(not quiet and sys.stderr.isatty())


def _register_all() -> None:
    package = importlib.import_module(__package__)
    for mod in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
        if mod in {"main", "common"} or mod.startswith("_"):
            continue
        module = importlib.import_module(f"{__package__}.{mod}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()

if __name__ == "__main__":
    app()
