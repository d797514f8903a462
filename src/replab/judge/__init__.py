"""LLM judging: backends chosen by a string, an on-disk response cache, and evaluation runners."""
