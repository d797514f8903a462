import json
import socket

import pytest

from replab.core.run import Run
from replab.footprint import FootprintConfig, Tracker
from replab.footprint.meters import CpuEstimateMeter, NvmlMeter, RaplMeter, find_rapl, job_gpus
from replab.footprint.report import compare, report
from replab.footprint.tracker import build_meters


class FakePowercap:
    """A temporary powercap tree whose energy_uj counters the test advances by hand."""

    def __init__(self, root, max_uj=1_000_000):
        self.root = root
        self.max_uj = max_uj
        self.package = self._domain("intel-rapl:0", "package-0", 999_000)
        self.dram = self._domain("intel-rapl:0:0", "dram", 0)
        self._domain("intel-rapl:0:1", "core", 0)

    def _domain(self, name, kind, start):
        folder = self.root / name
        folder.mkdir(parents=True)
        (folder / "name").write_text(kind + "\n")
        (folder / "max_energy_range_uj").write_text(f"{self.max_uj}\n")
        (folder / "energy_uj").write_text(f"{start}\n")
        return folder

    def advance(self, folder, uj):
        now = int((folder / "energy_uj").read_text())
        (folder / "energy_uj").write_text(f"{(now + uj) % self.max_uj}\n")


class FakeNvml:
    """Stands in for pynvml: a node of GPUs (two by default) with a total-energy counter in millijoules."""

    def __init__(self, counter=True, energy_mj=(5_000, 7_000), names=None):
        self.energy_mj = list(energy_mj)
        self.counter = counter
        self.names = names or ["Fake GPU"] * len(self.energy_mj)

    def nvmlDeviceGetCount(self):
        return len(self.energy_mj)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, handle):
        return self.names[handle].encode()

    def nvmlDeviceGetUUID(self, handle):
        return f"GPU-{handle}aaa{handle}-fake"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.counter:
            raise RuntimeError("NVMLError_NotSupported")
        return self.energy_mj[handle]

    def nvmlDeviceGetPowerUsage(self, handle):
        return 100_000  # mW


def test_rapl_counts_exact_joules_across_a_wrap_around(tmp_path):
    tree = FakePowercap(tmp_path)
    found, why = find_rapl(tmp_path)
    assert why == "" and [p.name for p in found["cpu"]] == ["intel-rapl:0"]
    meter = RaplMeter("cpu", found["cpu"], tmp_path)
    meter.start()
    tree.advance(tree.package, 500)  # 999_500
    assert meter.joules() == pytest.approx(500e-6)
    tree.advance(tree.package, 2_000)  # wraps past 1_000_000 to 1_500
    assert meter.joules() == pytest.approx(2_500e-6)


def test_tracker_with_fake_powercap_and_nvml_reports_measured_joules(tmp_path):
    tree = FakePowercap(tmp_path / "powercap")
    nvml = FakeNvml()
    config = FootprintConfig(rapl_root=str(tmp_path / "powercap"), country="FRA", pue=1.0)
    tracker = Tracker(tmp_path / "run", "test", config, build_meters(config, nvml=nvml))
    with tracker.phase("train"):
        tree.advance(tree.package, 3_000_000 % tree.max_uj)  # 0 net: whole multiples are invisible
        tree.advance(tree.package, 400_000)
        tree.advance(tree.dram, 100_000)
        nvml.energy_mj = [5_000 + 2_000, 7_000 + 1_000]
        tracker.add_units("images", 30)
    (tmp_path / "run").mkdir()
    summary = tracker.close()
    assert summary["energy_j"]["cpu"] == pytest.approx(0.4)
    assert summary["energy_j"]["dram"] == pytest.approx(0.1)
    assert summary["energy_j"]["gpu"] == pytest.approx(3.0)
    assert summary["per_unit"]["J_per_image"] == pytest.approx(3.5 / 30)
    assert summary["all_measured"] is True
    assert "nvmlDeviceGetTotalEnergyConsumption" in summary["methods"]["gpu"]["method"]
    assert summary["co2e_g"] == pytest.approx(3.5 / 3.6e6 * summary["carbon"]["g_co2e_per_kwh"])
    assert json.loads((tmp_path / "run" / "footprint.json").read_text())["energy_j"]["total"] == pytest.approx(3.5)


def test_nvml_without_counter_integrates_sampled_power():
    import time

    meter = NvmlMeter(FakeNvml(counter=False), interval_s=0.01)
    assert "sampled" in meter.method
    before_start = time.perf_counter()
    meter.start()
    after_start = time.perf_counter()
    time.sleep(0.2)
    before_stop = time.perf_counter()
    meter.stop()
    after_stop = time.perf_counter()
    # two GPUs at 100 W over exactly the span from start to stop, however late the sampler thread ran
    assert 2 * 100 * (before_stop - after_start) <= meter.joules() <= 2 * 100 * (after_stop - before_start)


def test_this_machine_says_estimated_and_why(tmp_path):
    config = FootprintConfig(rapl_root=str(tmp_path / "no-powercap"))
    meters = build_meters(config, nvml=None)
    cpu = next(m for m in meters if m.component == "cpu")
    assert isinstance(cpu, CpuEstimateMeter) and not cpu.measured
    assert "estimated" in cpu.method and "does not exist" in cpu.method


def test_pue_multiplies_and_resumed_sessions_accumulate(tmp_path):
    tree = FakePowercap(tmp_path / "pc")
    config = FootprintConfig(rapl_root=str(tmp_path / "pc"), pue=1.5)
    (tmp_path / "run").mkdir()
    for _ in range(2):
        tracker = Tracker(tmp_path / "run", "test", config, build_meters(config, nvml=None))
        with tracker.phase("train"):
            tree.advance(tree.package, 200_000)
            tracker.add_units("steps", 10)
        tracker.close()
    record = json.loads((tmp_path / "run" / "footprint.json").read_text())
    assert len(record["sessions"]) == 2 and record["units"]["steps"] == 20
    assert record["energy_j"]["cpu"] == pytest.approx(2 * 0.2 * 1.5)


def test_ledger_uses_codecarbon_column_names(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLAB_LEDGER", str(tmp_path / "emissions.csv"))
    with Run(tmp_path / "run", {"a": 1}, kind="test"):
        pass
    header = (tmp_path / "emissions.csv").read_text().splitlines()[0].split(",")
    for column in ("timestamp", "run_id", "duration", "emissions", "cpu_energy", "energy_consumed", "pue"):
        assert column in header


def test_a_tracked_run_opens_no_network_connection(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a network socket was created: {args}")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with Run(tmp_path / "run", {"a": 1}, kind="test") as run:
        with run.phase("train"):
            run.add_units("steps", 1)
    assert (tmp_path / "run" / "footprint.json").exists()


def test_report_and_compare(tmp_path):
    for name, units in (("a", 10), ("b", 40)):
        with Run(tmp_path / name, {"a": 1}, kind="test") as run:
            with run.phase("train"):
                sum(range(200000))
                run.add_units("images", units)
    text = report([tmp_path], tmp_path / "chart.png")
    assert "estimated" in text and (tmp_path / "chart.png").exists()
    side = compare(tmp_path / "a", tmp_path / "b")
    assert "J_per_image" in side and "B/A" in side


def test_unknown_country_is_an_error():
    from replab.errors import ConfigError
    from replab.footprint import intensity_for

    with pytest.raises(ConfigError, match="ISO"):
        intensity_for("XXX")
    assert intensity_for("fra").g_per_kwh < intensity_for("POL").g_per_kwh


NODE = [1_000 * (i + 1) for i in range(8)]  # an 8-GPU node


@pytest.mark.parametrize(
    "environ, indices",
    [
        ({}, list(range(8))),
        ({"CUDA_VISIBLE_DEVICES": "3"}, [3]),
        ({"CUDA_VISIBLE_DEVICES": "5,1"}, [5, 1]),
        ({"CUDA_VISIBLE_DEVICES": "GPU-6aaa6-fake,GPU-2"}, [6, 2]),  # full UUIDs and unique prefixes
        ({"CUDA_VISIBLE_DEVICES": "2,9,4"}, [2]),  # CUDA stops at the first entry naming no device
        ({"CUDA_VISIBLE_DEVICES": ""}, []),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, []),
        ({"CUDA_VISIBLE_DEVICES": "4,6", "LOCAL_RANK": "1"}, [6]),  # torchrun: this rank's device
        ({"LOCAL_RANK": "2"}, [2]),
        ({"CUDA_VISIBLE_DEVICES": "4", "LOCAL_RANK": "1"}, []),
    ],
)
def test_nvml_counts_only_the_jobs_gpus(environ, indices):
    found, scope = job_gpus(FakeNvml(energy_mj=NODE), environ)
    assert found == indices
    if "CUDA_VISIBLE_DEVICES" in environ:
        assert f"CUDA_VISIBLE_DEVICES={environ['CUDA_VISIBLE_DEVICES']}" in scope
    if "LOCAL_RANK" in environ and indices:
        assert "LOCAL_RANK" in scope


def test_a_one_gpu_job_on_a_shared_node_reports_one_gpus_energy(monkeypatch):
    nvml = FakeNvml(energy_mj=NODE)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-3")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    meter = NvmlMeter(nvml)
    meter.start()
    nvml.energy_mj = [e + 4_000 for e in nvml.energy_mj]  # every GPU of the node burns 4 J
    assert meter.joules() == pytest.approx(4.0)  # the job's one GPU only, not 32 J
    assert "1 GPU(s) [3: Fake GPU]" in meter.method and "CUDA_VISIBLE_DEVICES=GPU-3" in meter.method


def test_mixed_gpu_models_by_index_say_the_order_may_differ():
    nvml = FakeNvml(energy_mj=NODE[:2], names=["Fake A100", "Fake T4"])
    _, scope = job_gpus(nvml, {"CUDA_VISIBLE_DEVICES": "1"})
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in scope
    _, scope = job_gpus(nvml, {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert "mixed" not in scope
