"""`memo eval`: dev datasets read from files (datasets), standard metrics (metrics), and the runs that
score retrieval, answers and briefs through the engine (runner)."""
