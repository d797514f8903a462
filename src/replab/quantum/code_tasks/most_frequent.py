"""code-most-frequent"""

import random

from replab.quantum.sandbox import CheckFailed

SIGNATURE = "most_frequent(counts: dict[str, int]) -> str"
DESCRIPTION = "return the most frequent bitstring of a counts dict (ties broken by the smaller bitstring)."


def check(candidate, n: int, seed: int) -> float:
    rng = random.Random(seed)
    keys = [format(i, f"0{n}b") for i in range(2**n)]
    counts = {k: rng.randint(0, 50) for k in reversed(keys)}  # a tie the dict order does not break
    counts[keys[0]] = counts[keys[-1]] = 51
    got = candidate(counts)
    if got != keys[0]:
        raise CheckFailed("not_equivalent", f"{got} != {keys[0]}")
    return 1.0
