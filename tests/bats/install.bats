#!/usr/bin/env bats
# install.sh for real, into a temporary HOME: idempotent, complete, and fully undone by --uninstall.

# Each @test runs in its own subshell: an export inside one is meant to stay there.
# shellcheck disable=SC2030,SC2031

load test_helper
load complete_helper

setup_file() {
  export INSTALL_HOME="$BATS_FILE_TMPDIR/home dir"
  mkdir -p "$INSTALL_HOME"
  printf '# my own zshrc\nexport MINE=1\n' >"$INSTALL_HOME/.zshrc"
  PY=$(python3 -c 'import sys; print(sys.executable)')
  HOME=$INSTALL_HOME "$ROOT/install.sh" --python "$PY" 2>"$BATS_FILE_TMPDIR/first.log"
}

setup() {
  export HOME=$INSTALL_HOME
  PREFIX=$HOME/.local/share/claude-docker
  unset CLAUDE_DOCKER_PYTHON ZDOTDIR
}

snapshot() {
  (cd "$HOME" && find . -path ./.cache -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum)
}

@test "install lays out the plugin, the venv, env.zsh and the command" {
  [ -f "$PREFIX/ai-assistant.zsh" ] && [ -d "$PREFIX/lib" ] && [ -f "$PREFIX/completions/_claude" ]
  grep -qx "typeset -g _CLAUDE_DOCKER_PYTHON='$PREFIX/venv/bin/python'" "$PREFIX/env.zsh"
  grep -qx "typeset -g _CLAUDE_DOCKER_MAIN='$PREFIX/venv/lib/python3.[0-9]*/site-packages/claude_docker/__main__.py'" "$PREFIX/env.zsh"
  run "$HOME/.local/bin/claude-docker" --version
  [ "$status" -eq 0 ]
  [[ $output == "claude-docker, version "* ]]
  # byte-compiled
  ls "$PREFIX"/venv/lib/python*/site-packages/claude_docker/launcher/__pycache__/run.*.pyc
}

@test "the rc file gets exactly one block and keeps the user's own lines" {
  [ "$(grep -c '^# >>> claude-docker >>>$' "$HOME/.zshrc")" -eq 1 ]
  grep -qx 'export MINE=1' "$HOME/.zshrc"
}

@test "an interactive zsh has claude and claude-docker, and sourcing printed nothing" {
  run zsh -i -c 'whence -w claude claude-docker; claude-docker --version'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "claude: function" ]
  [ "${lines[1]}" = "claude-docker: function" ]
  [[ ${lines[2]} == "claude-docker, version "* ]]
  [ "${#lines[@]}" -eq 3 ]
}

@test "the installed plugin has the rollout shims, and TAB completes them in the user's zsh" {
  [ -f "$PREFIX/lib/deployment.sh" ] && [ -f "$PREFIX/completions/_claude-docker-rollout" ] \
    && [ -f "$PREFIX/lib/gitops.sh" ] && [ -f "$PREFIX/completions/_claude-docker-gitops" ]
  run zsh -i -c 'whence -w deploy_canary rollback_deployment run_smoke_tests track_deployment'
  [ "$status" -eq 0 ]
  [ "$output" = $'deploy_canary: function\nrollback_deployment: function\nrun_smoke_tests: function\ntrack_deployment: function' ]
  COMPLETE_AS_USER=1 complete_line 'track_deployment --' '*--watch*'
  [ "$status" -eq 0 ]
  [[ $output == *"--watch"*"print it again as it changes"* ]]
}

@test "a plain .zshrc (no compinit of its own): TAB completes claude-docker and claude in the user's zsh" {
  run grep -c compinit "$HOME/.zshrc"
  [ "$output" = 0 ]
  COMPLETE_AS_USER=1 complete_line 'claude-docker ' '*run*--*this project*'
  [ "$status" -eq 0 ]
  [[ $output == *"remove orphaned containers, sync back interrupted sessions"* ]]
  COMPLETE_AS_USER=1 complete_line 'claude --output-fo' '*--output-format*'
  [[ $output == *"claude --output-format"* ]]
  [ ! -e "$SPY_LOG" ]
  # its dump lives in the install, which uninstall removes
  [ -f "$PREFIX/zcompdump" ] && [ ! -e "$HOME/.zcompdump" ]
}

@test "a .zshrc that runs compinit after the plugin: that compinit alone runs, and finds ours" {
  export HOME="$BATS_TEST_TMPDIR/own"
  mkdir -p "$HOME"
  # shellcheck disable=SC2016 # $HOME is for the user's zsh to expand, not this shell
  printf '. "%s/ai-assistant.zsh"\nautoload -Uz compinit && compinit -d "$HOME/my-dump"\n' "$PREFIX" >"$HOME/.zshrc"
  rm -f "$PREFIX/zcompdump"
  COMPLETE_AS_USER=1 complete_line 'claude-docker ' '*run*--*this project*'
  [ "$status" -eq 0 ]
  [[ $output == *"remove orphaned containers, sync back interrupted sessions"* ]]
  [ -f "$HOME/my-dump" ] && [ ! -e "$PREFIX/zcompdump" ]
}

@test "a second install changes nothing" {
  before=$(snapshot)
  run "$ROOT/install.sh" --python "$(python3 -c 'import sys; print(sys.executable)')"
  [ "$status" -eq 0 ]
  [ "$output" = "claude-docker is installed; open a new zsh (or: . \"$PREFIX/ai-assistant.zsh\") and run: claude-docker doctor" ]
  [ "$(snapshot)" = "$before" ]
}

@test "bad options are refused with one line" {
  run "$ROOT/install.sh" --bogus
  [ "$status" -eq 1 ]
  [ "$output" = "install.sh: unknown option: --bogus (see --help)" ]
}

@test "uninstall removes everything it installed and leaves the user's rc lines" {
  run "$ROOT/install.sh" --uninstall
  [ "$status" -eq 0 ]
  [ ! -e "$PREFIX" ]
  [ ! -e "$HOME/.local/bin/claude-docker" ]
  [ "$(cat "$HOME/.zshrc")" = $'# my own zshrc\nexport MINE=1' ]
  run "$ROOT/install.sh" --uninstall
  [ "$status" -eq 0 ]
}

@test "a prefix that is not ours is never replaced or removed" {
  other="$BATS_TEST_TMPDIR/local"
  mkdir -p "$other/lib/python3.11"
  run "$ROOT/install.sh" --prefix "$other" --no-rc
  [ "$status" -eq 1 ]
  [ "$output" = "install.sh: $other is not empty and not a claude-docker install: choose another --prefix" ]
  mkdir -p "$HOME/.claude-docker/locks"
  run "$ROOT/install.sh" --prefix "$other" --uninstall --no-rc
  [ -d "$other/lib/python3.11" ]
  [ -d "$HOME/.claude-docker/locks" ]  # nor the tool's state of the install that is there
}

@test "a symlinked rc file stays a link with its mode, and a broken block is refused" {
  export HOME="$BATS_TEST_TMPDIR/linked"
  mkdir -p "$HOME/dotfiles"
  printf 'export MINE=1\n' >"$HOME/dotfiles/zshrc"
  chmod 600 "$HOME/dotfiles/zshrc"
  ln -s dotfiles/zshrc "$HOME/.zshrc"
  run "$ROOT/install.sh" --prefix "$INSTALL_HOME/.local/share/claude-docker" --bin-dir "$HOME/bin"
  [ "$status" -eq 0 ]
  [ -L "$HOME/.zshrc" ]
  grep -qx '# >>> claude-docker >>>' "$HOME/dotfiles/zshrc"
  [ "$(stat -c %A "$HOME/dotfiles/zshrc")" = "-rw-------" ]
  printf '# >>> claude-docker >>>\nkeep me\n' >"$HOME/dotfiles/zshrc"
  run "$ROOT/install.sh" --prefix "$INSTALL_HOME/.local/share/claude-docker" --bin-dir "$HOME/bin"
  [ "$status" -eq 1 ]
  [[ $output == *"but no '# <<< claude-docker <<<' line: fix the block by hand" ]]
  [ "$(cat "$HOME/dotfiles/zshrc")" = $'# >>> claude-docker >>>\nkeep me' ]
}

@test "a deleted venv is rebuilt with the package, and the checkout is never written to" {
  rm -rf "$PREFIX/venv"
  before=$(cd "$ROOT" && git status --porcelain --ignored pyhelpers | sort)
  run "$ROOT/install.sh" --python "$(python3 -c 'import sys; print(sys.executable)')" --no-rc
  [ "$status" -eq 0 ]
  run "$HOME/.local/bin/claude-docker" --version
  [ "$status" -eq 0 ]
  [ "$(cd "$ROOT" && git status --porcelain --ignored pyhelpers | sort)" = "$before" ]
}

@test "a symlink loop for the rc file is one clear error" {
  export HOME="$BATS_TEST_TMPDIR/loop"
  mkdir -p "$HOME"
  ln -s a "$HOME/b"
  ln -s b "$HOME/a"
  ln -s a "$HOME/.zshrc"
  run timeout 20 "$ROOT/install.sh" --prefix "$INSTALL_HOME/.local/share/claude-docker" --bin-dir "$HOME/bin"
  [ "$status" -eq 1 ]
  [[ $output == *"too many levels of symbolic links"* ]]
}

@test "a newcomer's uninstall removes what install and the tool made, keeps data and logs until --purge" {
  export HOME="$BATS_TEST_TMPDIR/newcomer"
  mkdir -p "$HOME"
  run "$ROOT/install.sh" --python "$(python3 -c 'import sys; print(sys.executable)')"
  [ "$status" -eq 0 ]
  [ -f "$HOME/.zshrc" ]
  # use it: an event, an image built with the tool, a backup, the sync lock a session takes beside the config
  run zsh -i -c 'log_event newcomer.first-hour step=1'
  [ "$status" -eq 0 ]
  python3 -c 'import shutil, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t: t.add(shutil.which("true"), arcname="package/claude")' "$BATS_TEST_TMPDIR/npm.tgz"
  image="claude-docker-test/uninstall-$$:1"
  if docker info >/dev/null 2>&1; then
    run "$HOME/.local/bin/claude-docker" image build --recipe minimal --npm-tarball "$BATS_TEST_TMPDIR/npm.tgz" --version 0.0.1 --tag "$image"
    [ "$status" -eq 0 ]
  else
    image=''
  fi
  mkdir -p "$HOME/.claude"
  printf '{}' >"$HOME/.claude.json"
  run "$HOME/.local/bin/claude-docker" backup create
  [ "$status" -eq 0 ]
  : >"$HOME/.claude/.claude-docker-sync.lock"
  mkdir -p "$HOME/.claude-docker/locks" "$HOME/.claude-docker/sessions"
  : >"$HOME/.claude-docker-events.jsonl.1"  # a rotation: the tool's
  mkdir -p "$HOME/.claude-docker-events.jsonl-archive"  # a name that only begins the same: the user's
  : >"$HOME/.claude-docker-events.jsonl-archive/mine"

  run "$ROOT/install.sh" --uninstall </dev/null
  [ "$status" -eq 0 ]
  said=$output
  [ ! -e "$HOME/.zshrc" ] && [ ! -e "$HOME/.local" ]
  [ ! -e "$HOME/.claude/.claude-docker-sync.lock" ]
  [ ! -e "$HOME/.claude-docker/locks" ] && [ ! -e "$HOME/.claude-docker/sessions" ]
  if [ -n "$image" ]; then
    [[ $said == *"removed the image $image"* ]]
    run docker image inspect "$image"
    [ "$status" -ne 0 ]
  fi
  # the user's data and logs stay, each named
  [[ $said == *"kept $HOME/.claude-docker"$'\n'* ]]
  [[ $said == *"kept $HOME/.claude-docker-events.jsonl"* ]]
  [[ $said == *"(install.sh --uninstall --purge removes them)"* ]]
  [ -d "$HOME/.claude-docker/backups" ] && [ -f "$HOME/.claude-docker-events.jsonl" ]
  [ -f "$HOME/.claude.json" ] && [ -d "$HOME/.claude" ]  # Claude Code's own: never ours to remove

  run "$ROOT/install.sh" --uninstall --purge </dev/null
  [ "$status" -eq 0 ]
  [[ $output == *"removed $HOME/.claude-docker"$'\n'* ]]
  [[ $output == *"removed $HOME/.claude-docker-events.jsonl.1"* ]]
  [ -f "$HOME/.claude-docker-events.jsonl-archive/mine" ]
  rm -r "$HOME/.claude-docker-events.jsonl-archive"
  run ls -A "$HOME"
  [ "$(grep -v -x -e .claude -e .claude.json -e .cache -e .rustup <<<"$output")" = "" ]
}

@test "uninstall --purge reads ~ in path settings as the tool does, and never removes a backup dir set by hand" {
  export HOME="$BATS_TEST_TMPDIR/tilde"
  mkdir -p "$HOME/my-state/locks" "$HOME/shared-backups/someone-else"
  run "$ROOT/install.sh" --python "$(python3 -c 'import sys; print(sys.executable)')" --no-rc
  [ "$status" -eq 0 ]
  # shellcheck disable=SC2088 # the setting's own text: the tool expands it
  CLAUDE_DOCKER_STATE_DIR='~/my-state' CLAUDE_DOCKER_BACKUP_DIR="$HOME/shared-backups" \
    run "$ROOT/install.sh" --uninstall --purge --no-rc </dev/null
  [ "$status" -eq 0 ]
  [[ $output == *"removed $HOME/my-state"* ]] && [ ! -e "$HOME/my-state" ]
  [[ $output == *"kept $HOME/shared-backups: CLAUDE_DOCKER_BACKUP_DIR is yours to remove"* ]]
  [ -d "$HOME/shared-backups/someone-else" ]
}
