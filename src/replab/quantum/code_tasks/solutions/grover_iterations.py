import math


def grover_iterations(N, M):
    return math.floor(math.pi / 4 * math.sqrt(N / M))
