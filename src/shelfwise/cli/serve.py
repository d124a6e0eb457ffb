"""``shelfwise serve``: the REST API (and dashboard) over one store, with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from .common import NewDbOption, console, err_console, handled


def serve(host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
          port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
          db: Optional[str] = NewDbOption,
          model_dir: Optional[Path] = typer.Option(None, "--model-dir", envvar="SHELFWISE_MODEL_DIR",
                                                   help="Model sets folder (default: SHELFWISE_MODEL_DIR)."),
          retrain_every: float = typer.Option(0.0, "--retrain-every", min=0.0,
                                              help="Retrain every this many minutes (0: only on demand)."),
          watch_every: float = typer.Option(30.0, "--watch-every", min=0.0,
                                            help="Seconds between checks for a newer model set in the model "
                                                 "folder (0: never)."),
          workers: int = typer.Option(1, "--workers", min=1,
                                      help="Processes (more than one needs a postgresql:// store)."),
          log_level: str = typer.Option("warning", "--log-level", help="uvicorn's log level.")) -> None:
    """Serve the API (OpenAPI at /docs) and the dashboard. Requests need an API key (shelfwise keys create)."""
    import uvicorn
    from uvicorn.config import LOG_LEVELS

    from ..config import get_settings
    from ..data.store.base import normalise_url

    if log_level.lower() not in LOG_LEVELS:  # uvicorn's KeyError came only after the app and store were opened
        err_console.print(f"[bold red]error:[/] --log-level must be one of {', '.join(LOG_LEVELS)}, "
                          f"not '{escape(log_level)}'", highlight=False)
        raise typer.Exit(2)
    log_level = log_level.lower()
    settings = get_settings()
    url = normalise_url(db or settings.db)
    if workers > 1 and url.startswith("duckdb:"):
        err_console.print("[bold red]error:[/] several workers need a shared store: use --db postgresql://...")
        raise typer.Exit(2)
    with handled():
        options = dict(store_url=url, model_dir=model_dir, retrain_every_s=retrain_every * 60 or None,
                       watch_every_s=watch_every or None)
        if workers > 1:
            # each worker process builds its own app from these options (uvicorn needs an import string)
            import json
            import os

            os.environ["SHELFWISE_SERVE_OPTIONS"] = json.dumps({k: (str(v) if isinstance(v, Path) else v)
                                                                for k, v in options.items()})
            target: object = "shelfwise.serve.factory:app_from_env"
        else:
            from ..serve import create_app

            target = create_app(**options)
        err_console.print(f"shelfwise serving {url} on http://{host}:{port} (API docs at /docs)", highlight=False)
        uvicorn.run(target, host=host, port=port, workers=workers, log_level=log_level,
                    factory=workers > 1, access_log=False)


def run_demo_server(db_path: Path, model_dir: Path, host: str, port: int) -> None:
    """Serve a demo shop in demo mode (no key needed) and say where the dashboard is."""
    import uvicorn

    from ..serve import create_app

    app = create_app(f"duckdb:///{Path(db_path).resolve()}", demo_mode=True, model_dir=model_dir, watch_every_s=None)
    base = f"http://{host}:{port}"
    console.print(f"serving the demo shop (no API key needed in demo mode; Ctrl-C stops it)\n"
                      f"  dashboard: {base}/dashboard\n  API docs:  {base}/docs", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
