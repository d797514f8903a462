"""``replab footprint report`` and ``replab footprint compare``: tables over runs' footprint.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from replab.errors import DataError


def find_footprints(paths: list[str | Path]) -> list[Path]:
    """footprint.json files of the given run folders, or of runs anywhere below the given folders."""
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / "footprint.json").exists():
            found.append(path / "footprint.json")
        elif path.is_dir():
            found += sorted(path.rglob("footprint.json"))
        else:
            raise DataError(f"{path} is neither a run folder nor a folder of runs")
    if not found:
        raise DataError(f"no footprint.json under {', '.join(map(str, paths))}")
    return found


def load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc


def _method_tag(record: dict[str, Any]) -> str:
    return "measured" if record.get("all_measured") else "estimated"


def report(paths: list[str | Path], png: str | Path | None = None) -> str:
    files = find_footprints(paths)
    rows = []
    for path in files:
        record = load(path)
        per_unit = ", ".join(f"{k} {v:.3g}" for k, v in record.get("per_unit", {}).items())
        rows.append((
            str(path.parent), record.get("kind", ""), record["duration_s"], record["energy_j"]["total"],
            record["co2e_g"], _method_tag(record), per_unit,
        ))  # fmt: skip
    header = ("run", "kind", "seconds", "joules", "gCO2e", "how", "per unit")
    table = [header] + [(r[0], r[1], f"{r[2]:.1f}", f"{r[3]:.1f}", f"{r[4]:.4f}", r[5], r[6]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    png = Path(png) if png else (Path(paths[0]) if Path(paths[0]).is_dir() else Path(".")) / "footprint.png"
    _bar_chart([r[0] for r in rows], [r[3] for r in rows], [r[5] for r in rows], png)
    lines.append(f"\nbar chart: {png}")
    if any(r[5] == "estimated" for r in rows):
        lines.append(
            "'estimated' rows have at least one component without a hardware counter (see methods in footprint.json)"
        )
    return "\n".join(lines)


def _bar_chart(names: list[str], joules: list[float], how: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    colors = ["tab:green" if h == "measured" else "tab:orange" for h in how]
    ax.barh([Path(n).name or n for n in names], joules, color=colors)
    ax.set_xlabel("energy (J); green = measured, orange = estimated")
    ax.invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def compare(run_a: str | Path, run_b: str | Path) -> str:
    """Energy per unit of work of two runs, side by side, with the B/A ratio."""
    a, b = (load(find_footprints([r])[0]) for r in (run_a, run_b))
    units = sorted(set(a.get("per_unit", {})) | set(b.get("per_unit", {})))
    lines = [f"{'':24}{'A':>14}{'B':>14}{'B/A':>8}", f"{'A = ' + str(run_a)}", f"{'B = ' + str(run_b)}"]

    def row(name: str, x: float | None, y: float | None) -> str:
        ratio = f"{y / x:8.2f}" if x and y is not None else f"{'-':>8}"
        fx = f"{x:14.4g}" if x is not None else f"{'-':>14}"
        fy = f"{y:14.4g}" if y is not None else f"{'-':>14}"
        return f"{name:24}{fx}{fy}{ratio}"

    lines.append(row("energy (J)", a["energy_j"]["total"], b["energy_j"]["total"]))
    lines.append(row("duration (s)", a["duration_s"], b["duration_s"]))
    lines.append(row("CO2e (g)", a["co2e_g"], b["co2e_g"]))
    for unit in units:
        lines.append(row(unit, a.get("per_unit", {}).get(unit), b.get("per_unit", {}).get(unit)))
    lines.append(f"methods: A {_method_tag(a)}, B {_method_tag(b)}")
    return "\n".join(lines)
