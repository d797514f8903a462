"""The ODE samplers: each converges at its order on a flow with a known solution, network evaluations are
counted as the sampler makes them (two per guided step inside the CFG interval, one outside), and the
shipped run's default setting draws the same samples bit for bit run to run."""

import math

import pytest
import torch

from replab import ASSETS
from replab.diffusion.sample import generate, load_diffusion
from replab.diffusion.samplers import SAMPLERS, GuidanceConfig, evaluation_times, evaluations, guided_velocity
from replab.diffusion.transport import time_shift

MU, S, X1 = 0.3, 0.2, 1.3  # data N(MU, S²), noise N(0, 1): the flow from x(1) = X1 ends at MU + S·X1


def gaussian_flow(x: torch.Tensor, t: float) -> torch.Tensor:
    """The exact velocity of x_t = (1 − t)·x₀ + t·ε for Gaussian data: linear in x, x_t = (1 − t)·MU + σ_t·z."""
    sigma = math.sqrt((1 - t) ** 2 * S**2 + t**2)
    dsigma = (t - (1 - t) * S**2) / sigma
    return -MU + dsigma * (x - (1 - t) * MU) / sigma


def endpoint_error(sampler: str, steps: int) -> float:
    grid = time_shift(torch.linspace(1, 0, steps + 1, dtype=torch.float64), 1.24)  # the shipped run's shift
    x = SAMPLERS[sampler](gaussian_flow, torch.tensor([X1], dtype=torch.float64), grid)
    return abs(x.item() - (MU + S * X1))


# Observed order log2(e(n) / e(2n)) between n and 2n steps. DPM-Solver++(2M) steps uniformly in log-SNR,
# which is unbounded at both ends of the grid; on grids uniform in t its error is O(h² log 1/h), so its
# observed order approaches 2 from below (1.6–1.8 at these step counts), far from Euler's 1.
ORDERS = {"euler": (1, 64, 0.9, 1.1), "heun": (2, 64, 1.9, 2.1), "adams2": (2, 64, 1.9, 2.2),
          "dpm++2m": (2, 512, 1.6, 2.1)}  # fmt: skip


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_each_sampler_converges_at_its_order_on_a_flow_with_a_known_solution(sampler):
    order, steps, low, high = ORDERS[sampler]
    observed = math.log2(endpoint_error(sampler, steps) / endpoint_error(sampler, 2 * steps))
    assert low < observed < high, f"{sampler}: order {observed:.2f}, expected {order}"


class CountingModel(torch.nn.Module):
    """A fake network that counts the rows it evaluates; its velocity is a smooth function of x, t, y."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.rows += len(x)
        return 0.5 * x + t.view(-1, 1, 1, 1) + 0.01 * y.view(-1, 1, 1, 1)


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_a_guided_step_costs_two_evaluations_inside_the_cfg_interval_and_one_outside(sampler, exact):
    grid = torch.linspace(1, 0, 9)
    guidance = GuidanceConfig(sampler=sampler, steps=8, cfg_scale=4.0, cfg_interval=(0.2, 0.6), exact=exact)
    model, batch = CountingModel(), 3
    velocity = guided_velocity(model, torch.arange(batch), guidance, null_label=10)
    SAMPLERS[sampler](velocity, torch.randn(batch, 1, 2, 2), grid)
    times = evaluation_times(sampler, grid)
    inside = sum(0.2 <= t <= 0.6 for t in times)
    assert 0 < inside < len(times)
    assert evaluations(guidance, grid) == len(times) + inside == model.rows / batch
    unguided = GuidanceConfig(sampler=sampler, steps=8)
    assert evaluations(unguided, grid) == len(times)


def test_euler_and_the_multistep_solvers_evaluate_once_per_step_and_heun_twice_but_not_at_t0():
    grid = torch.linspace(1, 0, 5)
    assert evaluation_times("euler", grid) == evaluation_times("dpm++2m", grid) == [1.0, 0.75, 0.5, 0.25]
    assert evaluation_times("adams2", grid) == [1.0, 0.75, 0.5, 0.25]
    assert evaluation_times("heun", grid) == [1.0, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25]


def test_the_shipped_runs_default_setting_draws_the_same_samples_bit_for_bit_run_to_run():
    model, config, rae = load_diffusion(ASSETS / "runs" / "dit-dh-fmnist")
    labels = torch.arange(40) % 10  # 40 rows: two parts side by side on the fast path
    first, second = (generate(model, rae, config, n=40, labels=labels, seed=5) for _ in range(2))
    assert torch.equal(first, second)
