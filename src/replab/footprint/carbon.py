"""Carbon intensity of electricity by country, from a bundled table (never a network lookup)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from replab.errors import ConfigError

TABLE = Path(__file__).resolve().parent / "data" / "carbon_intensity.csv"


@dataclass(frozen=True)
class Intensity:
    iso_code: str
    country_name: str
    g_per_kwh: float
    year: str
    source: str


@lru_cache(maxsize=1)
def _table() -> dict[str, Intensity]:
    with open(TABLE, newline="") as handle:
        return {
            row["iso_code"]: Intensity(
                row["iso_code"], row["country_name"], float(row["g_co2e_per_kwh"]), row["year"], row["source"]
            )
            for row in csv.DictReader(handle)
        }


def intensity_for(country: str | None = None) -> Intensity:
    """Look up a 3-letter ISO country code; ``None`` reads $REPLAB_COUNTRY, else the world mean (WLD)."""
    code = (country or os.environ.get("REPLAB_COUNTRY") or "WLD").upper()
    table = _table()
    if code not in table:
        raise ConfigError(
            f"footprint country '{code}' is not in {TABLE.name}; use a 3-letter ISO code such as FRA, DEU, USA, "
            "or WLD for the world mean"
        )
    return table[code]
