# shellcheck shell=bash
# Shared set-up for the bats suites: an isolated HOME per test and stub programs that record their calls.

bats_require_minimum_version 1.5.0

ROOT=$(cd -- "$BATS_TEST_DIRNAME/../.." && pwd)
# shellcheck disable=SC2034 # read by the .bats files that load this helper
PLUGIN=$ROOT/ai-assistant.zsh

setup() {
  export HOME="$BATS_TEST_TMPDIR/home dir"
  mkdir -p "$HOME"
  export NO_COLOR=1
  unset CLAUDE_DOCKER_PYTHON CLAUDE_CONFIG_DIR ZDOTDIR
  STUBS=$BATS_TEST_TMPDIR/stubs
  MARKER=$BATS_TEST_TMPDIR/started
  mkdir -p "$STUBS"
}

# create_stub NAME [EXIT]: a program that records each call (argv, NUL-separated) and exits EXIT (0).
create_stub() {
  cat >"$STUBS/$1" <<STUB
#!/bin/sh
echo "$1" >>"$MARKER"
for a in "\$@"; do printf '%s\0' "\$a"; done >>"$BATS_TEST_TMPDIR/$1.argv"
exit ${2:-0}
STUB
  chmod +x "$STUBS/$1"
}

# Every program a plugin could start on load, stubbed, first on PATH.
stub_everything() {
  local p
  for p in python python3 docker claude-docker git; do create_stub "$p"; done
  export PATH="$STUBS:$PATH"
}
