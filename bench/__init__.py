"""Dev tooling, not shipped: the benchmark (``python -m bench``), crash trials, soak, HTTP harness, txtai peer."""
