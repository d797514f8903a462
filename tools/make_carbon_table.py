"""Regenerate src/replab/footprint/data/carbon_intensity.csv from CodeCarbon's bundled energy-mix table.

CodeCarbon ships data/private_infra/global_energy_mix.json (per-country generation mix and carbon
intensity, gCO2e/kWh, compiled from Our World in Data / Ember). replab bundles a flat copy so that
looking up a country never needs CodeCarbon installed nor a network call.
Usage: .venv/bin/python tools/make_carbon_table.py
"""

import csv
import json
from pathlib import Path

import codecarbon

source = Path(codecarbon.__file__).parent / "data" / "private_infra" / "global_energy_mix.json"
target = Path(__file__).resolve().parent.parent / "src" / "replab" / "footprint" / "data" / "carbon_intensity.csv"
table = json.loads(source.read_text())
with open(target, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["iso_code", "country_name", "g_co2e_per_kwh", "year", "source"])
    for iso, row in sorted(table.items()):
        if row.get("carbon_intensity") is None:
            continue
        source_note = f"CodeCarbon {codecarbon.__version__} global_energy_mix.json (Our World in Data / Ember)"
        writer.writerow([iso, row["country_name"], round(row["carbon_intensity"], 3), row.get("year", ""), source_note])
    # a generation-weighted world mean, for runs whose region is not configured
    rows = [r for r in table.values() if r.get("carbon_intensity") is not None and r.get("total_TWh")]
    world = sum(r["carbon_intensity"] * r["total_TWh"] for r in rows) / sum(r["total_TWh"] for r in rows)
    note = f"generation-weighted mean of the {len(rows)} countries in this table"
    writer.writerow(["WLD", "World", round(world, 3), max(int(r.get("year") or 0) for r in rows), note])
print(f"wrote {target}")
