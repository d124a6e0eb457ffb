"""Product lifecycle: sales series, stages, forecasts, inventory advice and alerts.

``refresh_sales_series(store)`` rebuilds the stored series after a load; everything else works from a
:class:`SalesPanel` built as of a date (see docs/LIFECYCLE.md).
"""

from .series import SalesPanel, load_panel, refresh_sales_series

__all__ = ["SalesPanel", "load_panel", "refresh_sales_series"]
