"""A tiny synthetic shop in a DuckDB file with a small trained model set, and apps over copies of it.

The model is a co-visitation recommender (fits in well under a second) saved and loaded through the
same model-set code as the hybrid, so the API's loading, caching and swapping paths are the real ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def train_covisit(db_url: str, model_dir: str | Path) -> str:
    """Fit and save a co-visitation model set on the store; returns its version."""
    from shelfwise.data.store import open_store
    from shelfwise.recommend import Interactions
    from shelfwise.recommend.covisit import CoVisit
    from shelfwise.recommend.persist import save_model_set

    with open_store(db_url) as store:
        data = Interactions.from_store(store)
    return save_model_set(CoVisit().fit(data), model_dir).name


@pytest.fixture(scope="session")
def tiny_shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.data.synth import SynthConfig, write_shop

    root = tmp_path_factory.mktemp("serve_shop")
    write_shop(root / "shop", SynthConfig(items=60, users=120, days=20, seed=3))
    db = root / "shop.duckdb"
    with open_store(f"duckdb:///{db}") as store:
        ingest(root / "shop", store)
    models = root / "models"
    train_covisit(f"duckdb:///{db}", models)
    return {"root": root, "db": db, "models": models}


@pytest.fixture()
def shop_copy(tiny_shop: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """A private copy of the store and model folder for one test (tests write events, keys, models)."""
    db = tmp_path / "shop.duckdb"
    shutil.copy(tiny_shop["db"], db)
    models = tmp_path / "models"
    shutil.copytree(tiny_shop["models"], models)
    return {"db": db, "models": models, "url": f"duckdb:///{db}"}


@pytest.fixture()
def make_app(shop_copy: dict[str, Path]):
    from shelfwise.config import Settings
    from shelfwise.serve import create_app

    apps = []

    def make(**kw):
        settings = kw.pop("settings", None) or Settings(db=shop_copy["url"], model_dir=shop_copy["models"])
        app = create_app(shop_copy["url"], settings=settings, model_dir=shop_copy["models"], warm=False,
                         watch_every_s=None, **kw)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.intake.stop()
        app.state.store.close()


@pytest.fixture()
def write_key(make_app) -> tuple:
    """An app (keys required) and a read and a write key for it."""
    from shelfwise.service import keys

    app = make_app()
    _, read = keys.create_key(app.state.store, "read", "test reader")
    _, write = keys.create_key(app.state.store, "write", "test writer")
    return app, read, write


@pytest.fixture(scope="module")
def shared_app(tiny_shop: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """One app (keys required) for a whole module of tests that only read or are refused: (app, read, write)."""
    from shelfwise.config import Settings
    from shelfwise.serve import create_app
    from shelfwise.service import keys

    root = tmp_path_factory.mktemp("shared_app")
    db = root / "shop.duckdb"
    shutil.copy(tiny_shop["db"], db)
    shutil.copytree(tiny_shop["models"], root / "models")
    url = f"duckdb:///{db}"
    app = create_app(url, settings=Settings(db=url, model_dir=root / "models"), model_dir=root / "models",
                     warm=False, watch_every_s=None)
    _, read = keys.create_key(app.state.store, "read", "reader")
    _, write = keys.create_key(app.state.store, "write", "writer")
    yield app, read, write
    app.state.intake.stop()
    app.state.store.close()
