"""Energy meters. Each reports cumulative joules per component since ``start()``, and says how.

- ``RaplMeter``: the kernel's powercap interface (``energy_uj``), wrap-around handled: *measured*.
- ``NvmlMeter``: NVML's total-energy counter (Volta and newer), else sampled power integrated over
  time: *measured*; only the job's GPUs (``CUDA_VISIBLE_DEVICES``, torchrun's ``LOCAL_RANK``).
- ``CpuEstimateMeter``: rated power per logical CPU × the process's CPU time: *estimated*.
- ``DramEstimateMeter``: a power per GiB × the process's resident memory: *estimated*.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Mapping
from pathlib import Path


class Meter:
    component = "cpu"
    measured = False
    method = ""

    def start(self) -> None:
        raise NotImplementedError

    def joules(self) -> float:
        """Energy since start()."""
        raise NotImplementedError

    def stop(self) -> None:
        pass


# ---- RAPL ---------------------------------------------------------------------------------------
class _RaplDomain:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = (folder / "name").read_text().strip()
        max_file = folder / "max_energy_range_uj"
        self.max_uj = int(max_file.read_text()) if max_file.exists() else 2**32
        self.last = self.read()
        self.total_uj = 0

    def read(self) -> int:
        return int((self.folder / "energy_uj").read_text())

    def advance(self) -> None:
        now = self.read()
        delta = now - self.last
        if delta < 0:  # the counter wrapped around max_energy_range_uj
            delta += self.max_uj
        self.total_uj += delta
        self.last = now


class RaplMeter(Meter):
    """Sum of package domains (``component='cpu'``) or of DRAM sub-domains (``component='dram'``)."""

    measured = True

    def __init__(self, component: str, domains: list[Path], root: Path) -> None:
        self.component = component
        self.paths = domains
        self.method = f"measured: RAPL energy_uj of {', '.join(p.name for p in domains)} under {root}"
        self.domains: list[_RaplDomain] = []

    def start(self) -> None:
        self.domains = [_RaplDomain(p) for p in self.paths]

    def joules(self) -> float:
        for domain in self.domains:
            domain.advance()
        return sum(d.total_uj for d in self.domains) / 1e6


def find_rapl(root: Path = Path("/sys/class/powercap")) -> tuple[dict[str, list[Path]], str]:
    """RAPL domains by component, or an empty dict and the reason none is usable."""
    if not root.exists():
        return {}, f"{root} does not exist (no RAPL: a VM, a container, or not an x86 CPU)"
    packages, dram = [], []
    for folder in sorted(root.glob("*-rapl:*")):
        try:
            name = (folder / "name").read_text().strip()
            (folder / "energy_uj").read_text()
        except PermissionError:
            return {}, f"{folder}/energy_uj is not readable (permission denied; root or a udev rule is needed)"
        except OSError:
            continue
        if name.startswith("package") and folder.name.count(":") == 1:
            packages.append(folder)
        elif name == "dram":
            dram.append(folder)
    if not packages:
        return {}, f"no RAPL package domain under {root}"
    found = {"cpu": packages}
    if dram:
        found["dram"] = dram
    return found, ""


# ---- NVML ---------------------------------------------------------------------------------------
def job_gpus(nvml, environ: Mapping[str, str] | None = None) -> tuple[list[int], str]:
    """The NVML indices of the GPUs this job uses, and in words which they are and why.

    ``CUDA_VISIBLE_DEVICES`` (indices, UUIDs or unique UUID prefixes, as CUDA reads them: the list ends at
    the first entry that names no device) limits the job to those GPUs; under torchrun (``LOCAL_RANK``) the
    process uses the one its local rank selects among them. Without either, every GPU NVML sees."""
    environ = os.environ if environ is None else environ
    count = nvml.nvmlDeviceGetCount()
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        chosen, scope = list(range(count)), "all GPUs of the node (CUDA_VISIBLE_DEVICES unset)"
    else:
        uuids = [_text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
        chosen = []
        for entry in (e.strip() for e in visible.split(",")):
            index = _cuda_entry(entry, uuids)
            if index is None or index in chosen:
                break
            chosen.append(index)
        scope = f"CUDA_VISIBLE_DEVICES={visible}"
    local_rank = environ.get("LOCAL_RANK")
    if local_rank is not None and local_rank.isdigit() and chosen:
        rank = int(local_rank)
        if rank >= len(chosen):
            return [], f"{scope}, LOCAL_RANK={rank}: no visible GPU for this rank"
        chosen, scope = [chosen[rank]], f"{scope}, this rank's device (LOCAL_RANK={rank}); other ranks not counted"
    names = {_text(nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)}
    if (
        visible
        and len(names) > 1
        and environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID"
        and not visible.startswith(("GPU-", "MIG-"))
    ):  # CUDA orders mixed models fastest first, NVML by PCI bus: the indices may not agree
        scope += "; mixed GPU models: set CUDA_DEVICE_ORDER=PCI_BUS_ID or give UUIDs for an exact match"
    return chosen, scope


def _cuda_entry(entry: str, uuids: list[str]) -> int | None:
    if entry.lstrip("-").isdigit():
        index = int(entry)
        return index if 0 <= index < len(uuids) else None
    matches = [i for i, uuid in enumerate(uuids) if entry and uuid.startswith(entry)]
    return matches[0] if len(matches) == 1 else None


class NvmlMeter(Meter):
    """The job's NVIDIA GPUs (``job_gpus``): the total-energy counter where supported, else sampled power."""

    component = "gpu"
    measured = True

    def __init__(self, nvml, interval_s: float = 0.1, indices: list[int] | None = None, scope: str = "") -> None:
        self.nvml = nvml
        self.interval_s = interval_s
        if indices is None:
            indices, scope = job_gpus(nvml)
        self.indices = indices
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
        self.names = [_text(nvml.nvmlDeviceGetName(h)) for h in self.handles]
        self.use_counter = all(self._counter(h) is not None for h in self.handles)
        how = (
            "nvmlDeviceGetTotalEnergyConsumption"
            if self.use_counter
            else (f"nvmlDeviceGetPowerUsage sampled every {interval_s:g} s, integrated (trapezoid)")
        )
        devices = ", ".join(f"{i}: {name}" for i, name in zip(indices, self.names))
        self.method = f"measured: NVML {how} on {len(self.handles)} GPU(s) [{devices}] — {scope}"
        self._start_mj: list[int] = []
        self._sampled_j = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _counter(self, handle) -> int | None:
        try:
            return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        except Exception:  # NVMLError_NotSupported on pre-Volta cards and some vGPUs
            return None

    def _power_w(self) -> float:
        return sum(self.nvml.nvmlDeviceGetPowerUsage(h) for h in self.handles) / 1000.0

    def start(self) -> None:
        if self.use_counter:
            self._start_mj = [self._counter(h) for h in self.handles]
            return
        self._stop.clear()
        self._last = (time.perf_counter(), self._power_w())  # the span starts now, not when the thread runs
        self._thread = threading.Thread(target=self._sample, daemon=True, name="replab-nvml-sampler")
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._integrate()

    def _integrate(self) -> None:
        """Add the trapezoid from the last sample to now."""
        now_t, now_p = time.perf_counter(), self._power_w()
        with self._lock:
            last_t, last_p = self._last
            self._sampled_j += 0.5 * (last_p + now_p) * (now_t - last_t)
            self._last = (now_t, now_p)

    def joules(self) -> float:
        if self.use_counter:
            return sum(self._counter(h) - s for h, s in zip(self.handles, self._start_mj)) / 1000.0
        with self._lock:
            return self._sampled_j

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._integrate()  # the last partial interval, up to the stop


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def find_nvml():
    """The pynvml module, initialised, with at least one GPU; or None and the reason."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            return None, "NVML reports no GPU"
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None, f"NVML unavailable ({type(exc).__name__}: no NVIDIA driver or GPU)"
    return pynvml, ""


# ---- estimates ----------------------------------------------------------------------------------
def _process_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class CpuEstimateMeter(Meter):
    component = "cpu"
    measured = False

    def __init__(self, watts_per_cpu: float, why: str) -> None:
        self.watts_per_cpu = watts_per_cpu
        self.method = (
            f"estimated: {watts_per_cpu:g} W per fully busy logical CPU × this process's CPU time "
            f"(why not measured: {why})"
        )
        self._start = 0.0

    def start(self) -> None:
        self._start = _process_cpu_seconds()

    def joules(self) -> float:
        return self.watts_per_cpu * (_process_cpu_seconds() - self._start)


class DramEstimateMeter(Meter):
    component = "dram"
    measured = False

    def __init__(self, watts_per_gib: float, why: str) -> None:
        self.watts_per_gib = watts_per_gib
        self.method = (
            f"estimated: {watts_per_gib:g} W per GiB × the process's peak resident memory × wall time "
            f"(why not measured: {why})"
        )
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def joules(self) -> float:
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is KiB on Linux
        return self.watts_per_gib * peak_gib * (time.perf_counter() - self._t0)
