# The service under gunicorn (one worker, threads), data on a volume. Build: docker build -t memo .
# Run:  docker run -p 127.0.0.1:8000:8000 -v memo-data:/data memo
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    MEMO_DATA_DIR=/data \
    MEMO_SEEDS_DIR=/app/seeds \
    MEMO_MODEL_CACHE=/opt/memo/models \
    MEMO_HOST=0.0.0.0 \
    MEMO_PORT=8000

WORKDIR /app
COPY requirements.txt .
# torch first, from the CPU wheel index: requirements.txt pins torch==2.13.0, and PyPI's wheel of that
# version is a multi-GB CUDA build.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install --no-cache-dir -r requirements.txt

COPY pyproject.toml README.md ./
COPY models models
COPY service service
COPY seeds seeds
RUN pip install --no-cache-dir --no-deps . \
 # quantise the default embedder (seconds) and join, verify and convert the default LLM (about a
 # minute, ~6.4 GB peak) once, at build time; other MEMO_LLM choices are prepared on first use
 && python -m models.embedders.quantization \
 && python -m models.llm.conversion --model qwen-0.5b

VOLUME /data
EXPOSE 8000
# Inside the container it must listen on all interfaces (MEMO_HOST above); publish it on 127.0.0.1 only
# (see Run above). `memo serve` runs gunicorn itself: it refuses a held data dir before loading models and
# names its own pid in the refusal, not its worker's.
CMD ["memo", "serve"]
