"""Checks of output paths, made before any work: shared by every layer (text models, experiments, the
service), so a model folder or result file that cannot be written fails at once, not after training."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError


def check_folder_writable(path: str | Path, field: str = "out") -> Path:
    """``path`` as a Path when a model folder can be written there: an existing folder, or a new one whose
    parents can be made; else an input error naming ``field``.

    Why before any work: a model folder is written when training ends, so an ``--out`` that named a file
    (``notes.txt``) or a folder under one (``notes.txt/model``) used to end minutes of training in a
    FileExistsError / NotADirectoryError traceback, with the work lost.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError("is a file: give a folder for the model (it is created when missing)", file=str(p),
                         field=field)
    check_folders_can_be_made(p, field)
    return p


def check_folders_can_be_made(path: str | Path, what: str = "out") -> None:
    """Refuse, before any work, a path whose folders cannot be made because a file stands where one of
    them must be (``notes.txt/demo``): the nearest existing entry above ``path`` must be a folder."""
    p = Path(path)
    for parent in p.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot write here: {parent} is a file, not a folder", file=str(p), field=what)
            return
