"""Typed, validated settings.

Every field can be overridden from the environment as ``SHELFWISE_<FIELD>`` (for example
``SHELFWISE_DB=duckdb:///shop.duckdb``). Defaults are safe: the API accepts no request without a key
unless ``allow_anonymous`` is switched on explicitly (only ``shelfwise demo`` does that).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHELFWISE_", extra="ignore", validate_default=True)

    db: str = Field("duckdb:///./shelfwise.duckdb",
                    description="Store URL (duckdb:///path, postgresql://...) or a plain path to a DuckDB file.")
    model_dir: Path = Field(Path("./shelfwise_models"), description="Where trained models are saved.")
    out_dir: Path = Field(Path("./shelfwise_out"), description="Where reports and demo shops are written.")
    encoder: str = Field("all-MiniLM-L6-v2",
                         description="Text encoder: 'all-MiniLM-L6-v2' (shipped offline) or a local model directory.")
    engine: str = Field("local", description="Batch engine: 'local' (DuckDB / numpy), 'duckdb' (the batch pipeline "
                        "in DuckDB) or 'spark'.")
    spark_master: str = Field("local[*]", description="Spark master URL when engine is 'spark'.")
    filter_purchased: bool = Field(False, description="Drop items a user already bought from recommendations.")
    exploration_weight: float = Field(0.0, ge=0.0, le=1.0)
    item_age_cutoff_days: int = Field(30, ge=0)
    new_item_max_share: float = Field(0.2, ge=0.0, le=1.0,
                                      description="Most share of a whole-catalog recommendation list's slots that "
                                      "items without events (new items) may take (floor(share * k)); 1: no cap. "
                                      "Lists restricted with --items are not capped.")
    long_tail_weight: float = Field(0.0, ge=0.0, le=1.0)
    seed: int = 42
    log_level: str = "INFO"
    allow_anonymous: bool = Field(False, description="Serve API requests without a key (demo only).")
    max_body_bytes: int = Field(1_000_000, gt=0)
    max_batch_events: int = Field(1000, gt=0)
    blas_threads: int = Field(1, ge=1, description="BLAS threads for implicit and numpy kernels.")

    @field_validator("engine")
    @classmethod
    def _engine_known(cls, v: str) -> str:
        if v not in {"local", "duckdb", "spark"}:
            raise ValueError("engine must be 'local', 'duckdb' or 'spark'")
        return v

    @field_validator("log_level")
    @classmethod
    def _level_known(cls, v: str) -> str:
        if v.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return v.upper()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
