"""Second black-box pass over ``shelfwise datasets list``.

Each test failed on the code before its fix.
"""

from __future__ import annotations

from typer.testing import CliRunner

from shelfwise.cli.main import app


def test_the_listing_prints_paths_as_written_not_as_console_markup(tmp_path):
    shared = tmp_path / "[b]x"
    (shared / "open-bandit-dataset").mkdir(parents=True)
    r = CliRunner().invoke(app, ["datasets", "list", "--shared-dir", str(shared)], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert f"{shared}/open-bandit-dataset (found)" in r.output  # was printed without "[b]": read as markup


def test_a_shared_dir_that_is_not_a_folder_is_said_once(tmp_path):
    r = CliRunner().invoke(app, ["datasets", "list", "--shared-dir", str(tmp_path / "missing")],
                           env={"COLUMNS": "400"})
    assert r.exit_code == 0
    # was only "(not found)" on every dataset, with no word that the folder itself is missing
    assert f"no folder at {tmp_path / 'missing'}" in r.output
    r = CliRunner().invoke(app, ["datasets", "list", "--json", "--shared-dir", str(tmp_path / "missing")])
    assert r.exit_code == 0 and r.stdout.lstrip().startswith("[")  # the JSON stays pure
