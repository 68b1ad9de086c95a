"""Text analysis with character offsets: ``sentences`` (Punkt), ``entities`` (spaCy NER), ``candidates``
(candidate answer phrases), ``spacy_import`` (spaCy without torch)."""
