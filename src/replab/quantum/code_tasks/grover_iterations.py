"""code-grover-iterations"""

import math

from replab.quantum.sandbox import CheckFailed

SIGNATURE = "grover_iterations(N: int, M: int) -> int"
DESCRIPTION = "return the optimal number of Grover iterations ⌊π/4·√(N/M)⌋ for N items with M marked."


def check(candidate, n: int, seed: int) -> float:
    for N, M in ((4, 1), (2**n, 1), (2**n, 3), (1024, 7)):
        got, want = candidate(N, M), math.floor(math.pi / 4 * math.sqrt(N / M))
        if got != want:
            raise CheckFailed("not_equivalent", f"N={N}, M={M}: {got} != {want}")
    return 1.0
