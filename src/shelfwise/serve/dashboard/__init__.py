"""The web dashboard: overview, a user's recommendations, item, experiment and alert pages.

``router`` is a FastAPI ``APIRouter`` mounted at ``/dashboard``; the service app includes it. Its
handlers read ``app.state.store`` (and ``app.state.models`` when a model set is loaded). The data for
the pages comes from :mod:`shelfwise.service.dashboard`, so other front ends can reuse it.
"""

from .routes import router

__all__ = ["router"]
