def most_frequent(counts):
    return min(counts, key=lambda k: (-counts[k], k))
