"""Briefs: key sentences of a memo (key_sentences), the LLM's checked sentences (abstractive), dated timelines
over many memos (topics), the cache in front of them (briefer) and the background worker (worker)."""
