"""The packaged local LLM: ``spec`` (the ``Generator`` interface, the pinned models, the chat format),
``package`` (join and verify the GGUF from its PyPI parts), ``loader`` (build what a runtime needs, then
load it), ``conversion`` (GGUF to int4 ONNX, once), ``ort`` and ``gpt4all`` (the two runtimes)."""
