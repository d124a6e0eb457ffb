"""Adapters that turn public datasets into shop folders (SHOP_FORMAT.md), one module per dataset.

The registry below is what ``shelfwise datasets list`` shows and ``shelfwise datasets convert NAME``
looks up. To add a dataset, write a module with ``INFO`` (a :class:`DatasetInfo`) and
``convert(src, writer, options)``, expose ``ADAPTER = Adapter(INFO, convert)`` and list it here;
docs/DATASETS.md describes every mapping.
"""

from __future__ import annotations

from ...errors import InputError
from . import amazon_2018, chinese_reviews, open_bandit, taobao, uci_retail
from .base import FORMATS, Adapter, ConversionReport, DatasetInfo, ShopWriter

ADAPTERS: dict[str, Adapter] = {a.info.name: a for a in (
    uci_retail.ADAPTER,
    amazon_2018.ADAPTER,
    taobao.ADAPTER,
    open_bandit.ADAPTER,
    chinese_reviews.ADAPTER,
)}


def get_adapter(name: str) -> Adapter:
    """The adapter called ``name``; a clear error listing the known names otherwise."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise InputError(f"unknown dataset '{name}': known datasets are {', '.join(ADAPTERS)} "
                         "(see: shelfwise datasets list)") from None


__all__ = ["ADAPTERS", "FORMATS", "Adapter", "ConversionReport", "DatasetInfo", "ShopWriter", "get_adapter"]
