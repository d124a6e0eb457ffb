"""A private, throw-away PostgreSQL cluster on loopback, for tests and benchmarks.

Why: the PostgreSQL store must be tested against a real server, and CI has no server running. When the
Debian binaries are installed (``initdb`` and ``pg_ctl`` on PATH or under ``/usr/lib/postgresql/*/bin``)
this starts a cluster in a temporary folder, listening only on 127.0.0.1 and a private socket folder,
with trust authentication for its own superuser. ``initdb`` refuses to run as root, so under root the
cluster runs as the unprivileged ``postgres`` user that the Debian package creates.

Nothing here is used by the service itself: production points ``postgresql://...`` at a real server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import StoreError
from ...logs import get_logger

log = get_logger(__name__)

SUPERUSER = "shelfwise"


def find_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (the newest Debian version first), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda p: _version_key(Path(p).parent.name), reverse=True)
    for d in candidates:
        if (Path(d) / "initdb").is_file() and (Path(d) / "pg_ctl").is_file():
            return Path(d)
    initdb = shutil.which("initdb")
    if initdb:
        d = Path(initdb).resolve().parent
        if (d / "pg_ctl").is_file():
            return d
    return None


def _version_key(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in name.split("."))
    except ValueError:
        return (0,)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    """A running private cluster; :meth:`stop` shuts it down and removes its folder."""

    bin_dir: Path
    root: Path
    port: int
    run_as: str | None = None  # the unprivileged user the server runs as when we are root
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *args]
        return list(args)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        subprocess.run(self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate",
                                 "-w", "stop"), capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_cluster(bin_dir: Path | None = None, durable: bool = False, timeout_s: float = 60) -> LocalCluster:
    """initdb + pg_ctl start a cluster on 127.0.0.1 with a free port; raises StoreError when it cannot.

    ``durable=False`` (tests) switches fsync off: the tests check logic, not crash safety, and fsync on
    a shared CI disk costs seconds per test. Benchmarks of durable intake pass ``durable=True``.
    """
    bin_dir = bin_dir or find_bin_dir()
    if bin_dir is None:
        raise StoreError("PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package "
                         "'postgresql' (bash scripts/postgres.sh)")
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise StoreError("running as root and there is no 'postgres' user to run initdb as "
                             "(initdb refuses root): install the Debian package 'postgresql'") from exc
        run_as = "postgres"
    root = Path(tempfile.mkdtemp(prefix="shelfwise-pg-"))
    if run_as:
        pw = pwd.getpwnam(run_as)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    root.chmod(0o700)
    cluster = LocalCluster(bin_dir, root, _free_port(), run_as)
    data = root / "data"
    try:
        _run(cluster._cmd(str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                          "-E", "UTF8", "--locale=C", "--no-instructions"), "initdb")
        opts = [f"-p {cluster.port}", "-c listen_addresses=127.0.0.1", f"-k {root}", "-c max_connections=100",
                "-c shared_buffers=64MB"]
        if not durable:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        _run(cluster._cmd(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
                          "-o", " ".join(opts), "-w", "-t", str(int(timeout_s)), "start"), "pg_ctl start",
             log_file=root / "server.log")
    except BaseException:
        cluster.stop()
        raise
    log.info("started a private PostgreSQL cluster at %s (%s)", cluster.url, root)
    return cluster


def _run(cmd: list[str], what: str, log_file: Path | None = None) -> None:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    if proc.returncode != 0:
        tail = ""
        if log_file is not None and log_file.exists():
            tail = "\n" + log_file.read_text(errors="replace")[-2000:]
        raise StoreError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}{tail}")
    log.debug("%s took %.1fs", what, time.perf_counter() - start)
