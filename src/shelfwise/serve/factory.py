"""An import-string factory for ``uvicorn --workers N``: each worker builds its app from the options
``shelfwise serve`` left in ``SHELFWISE_SERVE_OPTIONS``."""

from __future__ import annotations

import json
import os

from fastapi import FastAPI

from .app import create_app


def app_from_env() -> FastAPI:
    options = json.loads(os.environ.get("SHELFWISE_SERVE_OPTIONS", "{}"))
    return create_app(**options)
