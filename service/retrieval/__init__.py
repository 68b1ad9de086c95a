"""Retrieval: the backend's dense and BM25 chunk lists fused (hybrid), the words BM25 sees (lexical), and the
sentences of the best chunks gathered for the readers (passages)."""
