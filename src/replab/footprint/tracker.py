"""The footprint Tracker: started and stopped by every Run, with named phases and units of work.

It writes ``footprint.json`` in the run folder (accumulated over resumed sessions) and appends a
row to a ledger CSV whose columns follow CodeCarbon's emissions.csv where the meaning is the same.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from replab.footprint.carbon import intensity_for
from replab.footprint.meters import (
    CpuEstimateMeter,
    DramEstimateMeter,
    Meter,
    NvmlMeter,
    RaplMeter,
    find_nvml,
    find_rapl,
    job_gpus,
)

J_PER_KWH = 3.6e6
LEDGER_COLUMNS = [  # CodeCarbon's emissions.csv names first, then replab's own
    "timestamp", "project_name", "run_id", "duration", "emissions", "emissions_rate",
    "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
    "country_name", "country_iso_code", "os", "python_version", "cpu_count", "cpu_model", "gpu_count",
    "gpu_model", "tracking_mode", "pue",
    "replab_kind", "replab_run_dir", "cpu_method", "gpu_method", "ram_method", "units",
]  # fmt: skip


@dataclass
class FootprintConfig:
    country: str | None = None  # 3-letter ISO code; None = $REPLAB_COUNTRY, else the world mean
    pue: float = 1.0  # data-centre power usage effectiveness multiplies every joule
    watts_per_cpu: float = 5.0  # rated power of one busy logical CPU when RAPL cannot be read
    watts_per_gib: float = 0.375  # DRAM power per GiB when RAPL has no DRAM domain (CodeCarbon's figure)
    rapl_root: str = "/sys/class/powercap"
    ledger: str | None = None  # CSV ledger; None = $REPLAB_LEDGER, else <runs folder>/emissions.csv
    gpu_sample_s: float = 0.1


def build_meters(config: FootprintConfig, nvml: Any = None) -> list[Meter]:
    """Measured meters where the hardware allows, declared estimates elsewhere."""
    meters: list[Meter] = []
    rapl, why_no_rapl = find_rapl(Path(config.rapl_root))
    if "cpu" in rapl:
        meters.append(RaplMeter("cpu", rapl["cpu"], Path(config.rapl_root)))
    else:
        meters.append(CpuEstimateMeter(config.watts_per_cpu, why_no_rapl))
    if "dram" in rapl:
        meters.append(RaplMeter("dram", rapl["dram"], Path(config.rapl_root)))
    else:
        why = why_no_rapl or "RAPL exposes no DRAM domain on this CPU"
        meters.append(DramEstimateMeter(config.watts_per_gib, why))
    if nvml is None:
        nvml, _ = find_nvml()
    if nvml is not None:
        indices, scope = job_gpus(nvml)
        if indices:
            meters.append(NvmlMeter(nvml, config.gpu_sample_s, indices, scope))
    return meters


def why_no_gpu() -> str:
    nvml, why = find_nvml()
    if nvml is None:
        return why
    indices, scope = job_gpus(nvml)
    return "" if indices else f"the job uses none of the node's GPUs ({scope})"


@dataclass
class _Phase:
    seconds: float = 0.0
    joules: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    units: dict[str, float] = field(default_factory=lambda: defaultdict(float))


class Tracker:
    def __init__(
        self,
        folder: str | Path | None,
        kind: str = "",
        config: FootprintConfig | None = None,
        meters: list[Meter] | None = None,
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.kind = kind
        self.config = config or FootprintConfig()
        self.intensity = intensity_for(self.config.country)
        self.meters = meters if meters is not None else build_meters(self.config)
        self.phases: dict[str, _Phase] = defaultdict(_Phase)
        self._stack: list[str] = []
        self._t0 = time.perf_counter()
        self._last = self._t0
        self._last_j = {m.component: 0.0 for m in self.meters}
        self._closed = False
        for meter in self.meters:
            meter.start()

    @classmethod
    def for_run(cls, folder: Path, kind: str) -> Tracker:
        return cls(folder, kind)

    # ---- accounting -----------------------------------------------------------------------------
    def _flush(self) -> None:
        """Charge energy and time since the last flush to the current phase ("other" outside any)."""
        now = time.perf_counter()
        phase = self.phases[self._stack[-1] if self._stack else "other"]
        phase.seconds += now - self._last
        for meter in self.meters:
            total = meter.joules()
            phase.joules[meter.component] += total - self._last_j[meter.component]
            self._last_j[meter.component] = total
        self._last = now

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self._flush()
        self._stack.append(name)
        try:
            yield
        finally:
            self._flush()
            self._stack.pop()

    def add_units(self, unit: str, count: float) -> None:
        phase = self.phases[self._stack[-1] if self._stack else "other"]
        phase.units[unit] += count

    # ---- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        self._flush()
        pue = self.config.pue
        methods = {m.component: {"measured": m.measured, "method": m.method} for m in self.meters}
        phases = {}
        for name, phase in self.phases.items():
            if phase.seconds == 0 and not phase.units:
                continue
            phases[name] = _figures(phase.seconds, dict(phase.joules), dict(phase.units), pue, self.intensity)
        total_units: dict[str, float] = defaultdict(float)
        total_j: dict[str, float] = defaultdict(float)
        for phase in self.phases.values():
            for unit, count in phase.units.items():
                total_units[unit] += count
            for component, joules in phase.joules.items():
                total_j[component] += joules
        seconds = sum(p.seconds for p in self.phases.values())
        return {
            "kind": self.kind,
            **_figures(seconds, dict(total_j), dict(total_units), pue, self.intensity),
            "methods": methods,
            "all_measured": all(m.measured for m in self.meters),
            "gpu": "none" if "gpu" not in methods else methods["gpu"]["method"],
            "why_no_gpu": "" if "gpu" in methods else why_no_gpu(),
            "carbon": {
                "country_iso_code": self.intensity.iso_code,
                "country_name": self.intensity.country_name,
                "g_co2e_per_kwh": self.intensity.g_per_kwh,
                "year": self.intensity.year,
                "source": self.intensity.source,
                "pue": pue,
            },
            "phases": phases,
            "config": asdict(self.config),
        }

    def discard(self) -> None:
        """Stop the meters and write nothing (no footprint.json, no ledger row): the job produced nothing."""
        if not self._closed:
            self._closed = True
            for meter in self.meters:
                meter.stop()

    def close(self) -> dict[str, Any] | None:
        if self._closed:
            return None
        self._closed = True
        summary = self.summary()
        for meter in self.meters:
            meter.stop()
        if self.folder is not None:
            summary = self._write(summary)
        return summary

    def _write(self, session: dict[str, Any]) -> dict[str, Any]:
        path = self.folder / "footprint.json"
        previous = json.loads(path.read_text()) if path.exists() else None
        record = merge_sessions(previous, session)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)
        self._append_ledger(session)
        return record

    def _append_ledger(self, session: dict[str, Any]) -> None:
        ledger = Path(self.config.ledger or os.environ.get("REPLAB_LEDGER") or self.folder.parent / "emissions.csv")
        ledger.parent.mkdir(parents=True, exist_ok=True)
        methods = session["methods"]
        kwh = session["energy_kwh"]
        duration = session["duration_s"]
        gpu = [m for m in self.meters if isinstance(m, NvmlMeter)]
        row = {
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "project_name": "replab",
            "run_id": self.folder.name,
            "duration": round(duration, 3),
            "emissions": session["co2e_g"] / 1000.0,
            "emissions_rate": session["co2e_g"] / 1000.0 / duration if duration else 0.0,
            "cpu_power": kwh.get("cpu", 0.0) * J_PER_KWH / duration if duration else 0.0,
            "gpu_power": kwh.get("gpu", 0.0) * J_PER_KWH / duration if duration else 0.0,
            "ram_power": kwh.get("dram", 0.0) * J_PER_KWH / duration if duration else 0.0,
            "cpu_energy": kwh.get("cpu", 0.0),
            "gpu_energy": kwh.get("gpu", 0.0),
            "ram_energy": kwh.get("dram", 0.0),
            "energy_consumed": kwh["total"],
            "country_name": self.intensity.country_name,
            "country_iso_code": self.intensity.iso_code,
            "os": platform.platform(),
            "python_version": sys.version.split()[0],
            "cpu_count": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "gpu_count": len(gpu[0].handles) if gpu else 0,
            "gpu_model": ", ".join(gpu[0].names) if gpu else "",
            "tracking_mode": "process",
            "pue": self.config.pue,
            "replab_kind": self.kind,
            "replab_run_dir": str(self.folder),
            "cpu_method": methods.get("cpu", {}).get("method", ""),
            "gpu_method": methods.get("gpu", {}).get("method", ""),
            "ram_method": methods.get("dram", {}).get("method", ""),
            "units": json.dumps(session["units"]),
        }
        new = not ledger.exists()
        with open(ledger, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LEDGER_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)


def _figures(seconds: float, joules: dict[str, float], units: dict[str, float], pue: float, intensity) -> dict:
    joules = {k: v * pue for k, v in joules.items()}
    total = sum(joules.values())
    kwh = {k: v / J_PER_KWH for k, v in joules.items()}
    kwh["total"] = total / J_PER_KWH
    per_unit = {f"J_per_{unit.rstrip('s') or unit}": total / count for unit, count in units.items() if count}
    return {
        "duration_s": seconds,
        "energy_j": {**joules, "total": total},
        "energy_kwh": kwh,
        "co2e_g": kwh["total"] * intensity.g_per_kwh,
        "units": units,
        "per_unit": per_unit,
    }


def merge_sessions(previous: dict[str, Any] | None, session: dict[str, Any]) -> dict[str, Any]:
    """Add a session (a resumed run) to what footprint.json already holds; totals over all sessions."""
    sessions = (previous or {}).get("sessions", []) + [
        {k: session[k] for k in ("duration_s", "energy_j", "co2e_g", "units", "phases")}
    ]
    joules: dict[str, float] = defaultdict(float)
    units: dict[str, float] = defaultdict(float)
    for item in sessions:
        for component, value in item["energy_j"].items():
            joules[component] += value
        for unit, count in item["units"].items():
            units[unit] += count
    total = joules.pop("total", 0.0)
    per_unit = {f"J_per_{unit.rstrip('s') or unit}": total / count for unit, count in units.items() if count}
    return {
        **{k: v for k, v in session.items() if k not in ("phases",)},
        "duration_s": sum(s["duration_s"] for s in sessions),
        "energy_j": {**joules, "total": total},
        "energy_kwh": {**{k: v / J_PER_KWH for k, v in joules.items()}, "total": total / J_PER_KWH},
        "co2e_g": sum(s["co2e_g"] for s in sessions),
        "units": dict(units),
        "per_unit": per_unit,
        "phases": session["phases"],
        "sessions": sessions,
    }


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
