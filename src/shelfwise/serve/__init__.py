"""The running service: REST API (FastAPI), real-time intake, API keys, model hot-swap.

``create_app`` in :mod:`.app` builds it; ``shelfwise serve`` runs it with uvicorn.
"""

from .app import create_app

__all__ = ["create_app"]
