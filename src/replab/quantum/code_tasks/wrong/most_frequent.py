def most_frequent(counts):
    return max(counts, key=counts.get)
