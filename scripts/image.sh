#!/usr/bin/env bash
# `make image`: build memo-service:latest from the Dockerfile. With `docker build` where a Docker engine
# answers (`docker info`), else with buildah (chroot isolation) into podman's image store. Where the base
# image named by the Dockerfile's first FROM cannot be pulled, it is made here once from Debian's packages
# (debootstrap --variant=minbase bookworm with python3) and tagged with that name, so the same Dockerfile
# builds on both kinds of machine. Idempotent: the base is cached, and the build reuses its layer cache.
#
# The torch CPU wheel (the build stage converts the LLM with it; the runtime image has no torch) is copied
# into wheels/ in the build context when pip finds it without an index (find-links, as on this machine);
# otherwise the Dockerfile takes it from the PyTorch CPU index.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-memo-service:latest}
TORCH=${TORCH:-torch==2.13.0+cpu}
BASE=$(awk 'toupper($1) == "FROM" { print $2; exit }' Dockerfile)
PYTHON=${PYTHON:-python3}
# Run builds at low priority: they are CPU-heavy and the machine is shared.
NICE=${NICE:-nice -n 10}

log() { echo "image: $*" >&2; }

stage_wheels() {
  mkdir -p wheels
  if ls wheels/torch-*.whl >/dev/null 2>&1; then
    log "torch wheel already in the build context: $(ls wheels/torch-*.whl)"
  elif "$PYTHON" -m pip download --quiet --no-deps --no-index -d wheels "$TORCH" 2>/dev/null; then
    log "copied $(ls wheels/torch-*.whl) into the build context"
  else
    log "no local $TORCH wheel: the build takes it from the PyTorch CPU index"
  fi
}

if docker info >/dev/null 2>&1; then
  stage_wheels
  log "docker build -t $IMAGE"
  exec $NICE docker build -t "$IMAGE" .
fi

command -v buildah >/dev/null && command -v podman >/dev/null || {
  log "no Docker engine and no buildah/podman: apt-get install podman buildah runc debootstrap"; exit 1; }

# podman's default ulimits cannot be set in this sandbox; runc, not crun (no hybrid cgroups).
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/scripts/containers.conf}

if podman image exists "$BASE"; then
  log "base $BASE: cached"
elif buildah pull --quiet "$BASE" >/dev/null 2>&1; then
  log "base $BASE: pulled"
else
  log "base $BASE cannot be pulled: making it from Debian bookworm (debootstrap, a few minutes, once)"
  root=$(mktemp -d /tmp/memo-base.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  $NICE debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  # the official python images answer to `python` too
  ln -sf python3 "$root/usr/bin/python"
  # This machine reaches PyPI through TLS that its own CA bundle verifies (pip is told so by PIP_CERT); the
  # base made here trusts the same certificates, so pip inside the build can reach PyPI too.
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  tar -C "$root" -c . | podman import --change 'CMD ["python3"]' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' - "$BASE" >/dev/null
  rm -f "$root.log"
  log "base $BASE: made ($(podman image ls --format '{{.Size}}' "$BASE"))"
fi

stage_wheels
log "buildah bud -t $IMAGE"
# --format docker: the OCI format drops HEALTHCHECK. --layers: reuse unchanged steps on a rebuild.
$NICE buildah bud --isolation chroot --format docker --layers -t "$IMAGE" -f Dockerfile .
podman image ls "$IMAGE"
