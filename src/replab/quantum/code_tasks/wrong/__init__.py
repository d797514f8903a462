"""A plausible wrong solution of each code task (its verifier must say not_equivalent), read as text."""
