# shellcheck shell=bash
# Machine set-up shared by tests/run and bench/run: packages, the Docker engine, the venv, the test image.
# Sourced from the repository root. Each step does nothing when its result is already there.

VENV=${CLAUDE_DOCKER_TEST_VENV:-$PWD/.venv}
CLAUDE_CODE_VERSION=$(sed -n 's/^CLAUDE_CODE_VERSION = "\(.*\)"/\1/p' pyhelpers/claude_docker/__init__.py)
TEST_IMAGE=${CLAUDE_DOCKER_TEST_IMAGE:-claude-docker-test/claude-code:$CLAUDE_CODE_VERSION}
STARTED_DOCKERD_PID=

say() { printf '%s\n' "--- $*" >&2; }

ensure_packages() {
  local missing=() cmd pkg
  for pair in dockerd:docker.io zsh:zsh bats:bats busybox:busybox-static shellcheck:shellcheck git:git npm:npm \
              prometheus:prometheus promtool:prometheus prometheus-node-exporter:prometheus-node-exporter \
              prometheus-pushgateway:prometheus-pushgateway age:age restic:restic mmdebstrap:mmdebstrap \
              socat:socat prometheus-alertmanager:prometheus-alertmanager dunst:dunst Xvfb:xvfb \
              dbus-launch:dbus-x11 notify-send:libnotify-bin; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  ((${#missing[@]})) || return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  [[ $(id -u) == 0 ]] || { say "missing: ${missing[*]} (install them, or run as root)"; return 1; }
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_dockerd() {
  if docker info >/dev/null 2>&1; then return 0; fi
  [[ $(id -u) == 0 ]] || { say "no Docker engine answers and only root can start one here"; return 1; }
  local log=${TMPDIR:-/tmp}/claude-docker-tests-dockerd.log
  say "starting dockerd (log: $log)"
  dockerd >"$log" 2>&1 &
  STARTED_DOCKERD_PID=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  say "dockerd did not come up:"; tail -20 "$log" >&2
  return 1
}

# Stops the engine only if ensure_dockerd started it, by its pid.
stop_dockerd() {
  [[ -n $STARTED_DOCKERD_PID ]] || return 0
  kill "$STARTED_DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || return 0; sleep 1; done
}

ensure_venv() {
  if [[ ! -x $VENV/bin/python ]]; then
    say "creating $VENV"
    local base
    base=$(python3 -c 'import sys; print(sys.executable)')
    "$base" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test,lint]"
}

# The image with the real Claude Code binary, made the way users make theirs: `claude-docker image build`
# (the default Debian recipe: mmdebstrap from this machine's apt sources, the pinned npm package: no
# container registry). Rebuilt when it is missing or its recipe changed since (recipe.is_stale), and always
# in CI (CI=true), where the build from scratch is part of what is tested and timed.
ensure_test_image() {
  if [[ ${CI:-} != true ]] && "$VENV/bin/python" - "$TEST_IMAGE" <<'EOF'
import sys, docker
from claude_docker.image import recipe
try:
    labels = docker.from_env().images.get(sys.argv[1]).labels or {}
except docker.errors.ImageNotFound:
    sys.exit(1)
sys.exit(1 if labels.get("io.claude-docker.recipe") != "debian" or recipe.is_stale(labels) else 0)
EOF
  then return 0; fi
  say "building $TEST_IMAGE"
  local started=$SECONDS
  "$VENV/bin/python" -m claude_docker image build --tag "$TEST_IMAGE" >/dev/null
  say "built $TEST_IMAGE from scratch in $((SECONDS - started)) s"
}
