"""Answers: sentences scored and the best span chosen (extractive, phrases), or the LLM's answer grounded in
the memo text (generative, grounding)."""
