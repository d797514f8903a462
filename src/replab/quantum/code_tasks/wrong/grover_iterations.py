import math


def grover_iterations(N, M):
    return round(math.sqrt(N / M))
