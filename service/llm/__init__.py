"""The local LLM tier as the service uses it: prompts, one generation at a time (slot), and the writer that
turns model output into checked answers, briefs and paragraphs."""
