#!/bin/sh
# shellcheck shell=dash
#
# install.sh: install claude-docker for the current user (no root needed).
#
#   ./install.sh               install, or update in place; running it again changes nothing
#   ./install.sh --uninstall   remove everything it and the tool made: the plugin, the venv, the command,
#                              the rc block, files and directories it created, its lock files and the images
#                              it built; asks before removing your data and logs (backups, held changes,
#                              interrupted sessions, events, metrics, traces), and says what it kept
#   ./install.sh --uninstall --purge   the same, and your data and logs too, without asking
#
# Options: --prefix DIR (default ${XDG_DATA_HOME:-~/.local/share}/claude-docker), --bin-dir DIR
# (default ~/.local/bin), --python PATH (the interpreter for the venv, default python3),
# --no-rc (leave ~/.zshrc alone). The same as environment: CLAUDE_DOCKER_PREFIX, CLAUDE_DOCKER_BIN_DIR,
# CLAUDE_DOCKER_INSTALL_PYTHON.
#
# What it does: copies the plugin (ai-assistant.zsh, lib/, completions/) to the prefix, makes a virtual
# environment there with the helper package in it (byte-compiled), writes env.zsh with the venv
# interpreter's absolute path for the shims, links `claude-docker` into the bin dir, and adds one
# marked block to ~/.zshrc that sources the plugin.

set -u

MARK_BEGIN='# >>> claude-docker >>>'
MARK_END='# <<< claude-docker <<<'
OURS=.claude-docker-install  # marks a prefix as ours: nothing else is ever replaced or removed
CREATED=.claude-docker-created  # in the prefix: what install created outside it, one path a line
NEW_PATHS=''

say() { printf '%s\n' "$*" >&2; }
err() { say "install.sh: $*"; exit 1; }

src_dir() { CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P; }

rc_file() { printf '%s/.zshrc' "${ZDOTDIR:-$HOME}"; }

# mkdir -p, remembering each directory it had to create (uninstall removes them again when empty).
make_dir() {
  d=$1
  while [ ! -d "$d" ] && [ "$d" != / ] && [ "$d" != . ]; do
    NEW_PATHS="$NEW_PATHS$d
"
    d=$(dirname "$d")
  done
  mkdir -p "$1"
}

# Add what this run created to the prefix's record (kept across installs: uninstall reads it).
record_created() {
  [ -n "$NEW_PATHS" ] || return 0
  printf '%s' "$NEW_PATHS" | while IFS= read -r p; do
    grep -qxF -- "$p" "$PREFIX/$CREATED" 2>/dev/null || printf '%s\n' "$p" >>"$PREFIX/$CREATED"
  done
}

# Print the rc file without our block (nothing if it has none).
strip_block() {
  awk -v b="$MARK_BEGIN" -v e="$MARK_END" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip' "$1"
}

# The file a path names, through any chain of symlinks (a dotfiles-managed ~/.zshrc stays a link).
resolve() {
  p=$1
  hops=0
  while [ -L "$p" ]; do
    hops=$((hops + 1))
    [ "$hops" -le 40 ] || err "$1: too many levels of symbolic links"
    t=$(readlink "$p")
    case $t in /*) p=$t ;; *) p=$(dirname "$p")/$t ;; esac
  done
  printf '%s\n' "$p"
}

# Replace the file $1 names with the content of $2 unless they are equal: atomically (rename), through
# symlinks, keeping the file's mode. Returns 1 when nothing changed.
replace_if_changed() {
  real=$(resolve "$1")
  if [ -f "$real" ] && cmp -s "$real" "$2"; then
    rm -f "$2"
    return 1
  fi
  if [ -f "$real" ]; then
    staged="$real.claude-docker-swap.$$"
    if ! { cp -p "$real" "$staged" && cat "$2" >"$staged" && mv -f "$staged" "$real"; }; then
      rm -f "$staged" "$2"
      err "cannot write $real"
    fi
    rm -f "$2"
  else
    mv -f "$2" "$real" || err "cannot write $real"
  fi
}

# Refuse to edit an rc file whose block lost its end marker: stripping it would eat the rest of the file.
check_block() {
  if grep -qxF "$MARK_BEGIN" "$1" && ! grep -qxF "$MARK_END" "$1"; then
    err "$1 has a '$MARK_BEGIN' line but no '$MARK_END' line: fix the block by hand"
  fi
}

install_rc() {
  rc=$(rc_file)
  line=". \"$PREFIX/ai-assistant.zsh\""
  tmp="$rc.claude-docker.$$"
  if [ -f "$rc" ]; then
    check_block "$rc"
    strip_block "$rc" >"$tmp" || err "cannot read $rc"
  else
    [ -L "$rc" ] || NEW_PATHS="${NEW_PATHS}rc:$rc
"
    : >"$tmp"
  fi
  printf '%s\n%s\n%s\n' "$MARK_BEGIN" "$line" "$MARK_END" >>"$tmp"
  if replace_if_changed "$rc" "$tmp"; then say "added the plugin to $rc"; fi
}

copy_plugin() {
  src=$1
  stage="$PREFIX/.stage.$$"
  rm -rf "$stage"
  mkdir -p "$stage" || err "cannot write to $PREFIX"
  cp -R "$src/ai-assistant.zsh" "$src/lib" "$src/completions" "$stage/" || err "cannot copy the plugin"
  changed=0
  for item in ai-assistant.zsh lib completions; do
    if ! diff -r -x '*.zwc' "$stage/$item" "$PREFIX/$item" >/dev/null 2>&1; then
      rm -rf "${PREFIX:?}/$item"
      mv "$stage/$item" "$PREFIX/$item"
      changed=1
    fi
  done
  rm -rf "$stage"
  [ "$changed" = 1 ] && say "installed the plugin in $PREFIX"
  return 0
}

# A hash of the package sources: the venv is rebuilt only when they change.
source_hash() {
  (cd "$1" && find pyproject.toml pyhelpers/claude_docker -type f ! -path '*/__pycache__/*' | LC_ALL=C sort | xargs cat) \
    | cksum | cut -d' ' -f1
}

install_package() {
  src=$1
  venv="$PREFIX/venv"
  if [ ! -x "$venv/bin/python" ]; then
    base=$("$PYTHON" -c 'import sys; assert sys.version_info >= (3, 9), "Python 3.9+ needed"; print(sys.executable)') \
      || err "$PYTHON is not a usable Python 3.9+"
    "$base" -m venv "$venv" || err "cannot create a virtual environment (Debian: apt-get install python3-venv)"
    say "created $venv"
  fi
  hash=$(source_hash "$src")
  # The hash lives in the venv, so a venv made anew (deleted, or a new Python) always gets the package.
  if [ "$(cat "$venv/.claude-docker-source-hash" 2>/dev/null)" != "$hash" ]; then
    # Built from a copy: pip and setuptools write build files beside the sources, and the checkout
    # may be read-only or shared.
    build=$(mktemp -d) || err "cannot make a temporary directory"
    cp -R "$src/pyproject.toml" "$src/pyhelpers" "$build/" || { rm -rf "$build"; err "cannot copy the sources"; }
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location "$build"; then
      rm -rf "$build"
      err "pip could not install the helper package"
    fi
    rm -rf "$build"
    "$venv/bin/python" -m compileall -q "$("$venv/bin/python" -c 'import claude_docker, os; print(os.path.dirname(claude_docker.__file__))')" \
      || err "byte-compiling failed"
    printf '%s\n' "$hash" >"$venv/.claude-docker-source-hash"
    say "installed the helper package into $venv"
  fi
  main_py=$("$venv/bin/python" -c 'import claude_docker, os; print(os.path.join(os.path.dirname(claude_docker.__file__), "__main__.py"))') \
    || err "the helper package is not importable from $venv"
  env_tmp="$PREFIX/env.zsh.$$"
  printf '# Written by install.sh: what the shims call.\ntypeset -g _CLAUDE_DOCKER_PYTHON=%s\ntypeset -g _CLAUDE_DOCKER_MAIN=%s\n' \
    "'$venv/bin/python'" "'$main_py'" >"$env_tmp"
  replace_if_changed "$PREFIX/env.zsh" "$env_tmp" || true
}

compile_zsh() {
  command -v zsh >/dev/null 2>&1 || return 0
  # Word-code copies make sourcing faster; zsh uses them only while newer than their source.
  for f in "$PREFIX/ai-assistant.zsh" "$PREFIX/env.zsh" "$PREFIX"/lib/*.sh; do
    [ -f "$f" ] || continue
    if [ ! -f "$f.zwc" ] || [ "$f" -nt "$f.zwc" ]; then zsh -fc "zcompile '$f'" || say "zcompile $f failed (harmless)"; fi
  done
}

link_bin() {
  make_dir "$BIN_DIR" || err "cannot create $BIN_DIR"
  target="$PREFIX/venv/bin/claude-docker"
  if [ "$(readlink "$BIN_DIR/claude-docker" 2>/dev/null)" != "$target" ]; then
    ln -sf "$target" "$BIN_DIR/claude-docker" || err "cannot link $BIN_DIR/claude-docker"
    say "linked $BIN_DIR/claude-docker"
  fi
}

do_install() {
  src=$(src_dir) || err "cannot find the source directory"
  if [ ! -f "$src/ai-assistant.zsh" ] || [ ! -d "$src/pyhelpers" ]; then err "run install.sh from a claude-docker checkout"; fi
  # (an install made before the marker existed is recognised by its layout)
  if [ -d "$PREFIX" ] && [ ! -e "$PREFIX/$OURS" ] && [ -n "$(ls -A "$PREFIX")" ] \
      && ! { [ -f "$PREFIX/ai-assistant.zsh" ] && [ -d "$PREFIX/venv" ]; }; then
    err "$PREFIX is not empty and not a claude-docker install: choose another --prefix"
  fi
  make_dir "$(dirname "$PREFIX")" || err "cannot create $PREFIX"
  mkdir -p "$PREFIX" || err "cannot create $PREFIX"
  : >"$PREFIX/$OURS"
  copy_plugin "$src"
  install_package "$src"
  compile_zsh
  link_bin
  [ "$EDIT_RC" = 1 ] && install_rc
  record_created
  say "claude-docker is installed; open a new zsh (or: . \"$PREFIX/ai-assistant.zsh\") and run: claude-docker doctor"
}

# The images `claude-docker image build` made for this user (its owner label), unless a container uses one.
remove_images() {
  command -v docker >/dev/null 2>&1 || return 0
  refs=$(docker image ls --filter "label=io.claude-docker.owner=$(id -u):$HOME" \
    --format '{{.Repository}}:{{.Tag}} {{.ID}}' 2>/dev/null) || return 0
  printf '%s\n' "$refs" | while read -r ref id; do
    [ -n "$ref" ] || continue
    case $ref in *'<none>'*) ref=$id ;; esac
    if docker image rm "$ref" >/dev/null 2>&1; then say "removed the image $ref"
    else say "kept the image $ref: a container uses it (docker image rm $ref once it is gone)"; fi
  done
}

# A path setting as the tool reads it: `~` and `~/…` name the home.
expand_home() {
  # shellcheck disable=SC2088 # a literal ~ is what is matched here
  case $1 in
    "~") printf '%s' "$HOME" ;;
    "~/"*) printf '%s/%s' "$HOME" "${1#"~/"}" ;;
    *) printf '%s' "$1" ;;
  esac
}

# The tool's own files: its locks and what it derives again from the logs go; the user's data and logs
# (backups, held changes, interrupted sessions, crash log, events, metrics, traces) only with --purge or a yes.
remove_state() {
  state=$(expand_home "${CLAUDE_DOCKER_STATE_DIR:-$HOME/.claude-docker}")
  rmdir "$state/sessions" 2>/dev/null
  if [ -d "$state/sessions" ]; then
    # A session still running (or not yet synced back) needs its locks: they are never removed under it.
    say "kept the tool's locks: $state/sessions holds sessions not finished"
  else
    rm -f "${CLAUDE_CONFIG_DIR:-$HOME/.claude}/.claude-docker-sync.lock"
    rm -rf "$state/locks" "$state/metrics" "$state/textfile"
  fi
  rmdir "$state" 2>/dev/null
  events=$(expand_home "${CLAUDE_DOCKER_EVENTS_FILE:-$HOME/.claude-docker-events.jsonl}")
  metrics=$(expand_home "${CLAUDE_DOCKER_METRICS_FILE:-$HOME/.claude-docker-metrics.jsonl}")
  traces=$(expand_home "${CLAUDE_DOCKER_TRACES_DIR:-$HOME/.claude-docker-traces}")
  if [ -n "${CLAUDE_DOCKER_BACKUP_DIR:-}" ]; then
    # A backup dir set by hand may be a shared disk holding others' backups: never removed from here.
    say "kept $(expand_home "$CLAUDE_DOCKER_BACKUP_DIR"): CLAUDE_DOCKER_BACKUP_DIR is yours to remove"
  fi
  kept=''
  # The logs and their rotations (`log.1` … `log.N`), never another file whose name only begins the same.
  for p in "$state" "$events" "$events".[0-9]* "$metrics" "$metrics".[0-9]* "$traces"; do
    case $p in "$events".*[!0-9]* | "$metrics".*[!0-9]*) continue ;; esac
    [ -n "$p" ] && [ -e "$p" ] && kept="$kept$p
"
  done
  [ -n "$kept" ] || return 0
  if [ "$PURGE" = 0 ] && [ -t 0 ] && [ -t 2 ]; then
    say "your claude-docker data and logs:"
    printf '%s' "$kept" | sed 's/^/  /' >&2
    [ -d "$state/sessions" ] && say "  (sessions in $state/sessions hold changes not yet synced back: claude-docker cleanup)"
    printf 'remove them too? [y/N] ' >&2
    read -r answer || answer=n
    case $answer in [yY]*) PURGE=1 ;; esac
  fi
  if [ "$PURGE" = 1 ]; then
    printf '%s' "$kept" | while IFS= read -r p; do rm -rf "$p" && say "removed $p"; done
  else
    printf '%s' "$kept" | while IFS= read -r p; do say "kept $p"; done
    say "(install.sh --uninstall --purge removes them)"
  fi
}

# What install created outside the prefix: the rc file if empty now, directories if empty, deepest first.
remove_created() {
  [ -n "$1" ] || return 0
  printf '%s\n' "$1" | LC_ALL=C sort -r | while IFS= read -r p; do
    case $p in
      rc:*) p=${p#rc:}; if [ -f "$p" ] && [ ! -L "$p" ] && [ ! -s "$p" ]; then rm -f "$p" && say "removed $p"; fi ;;
      /*) rmdir "$p" 2>/dev/null ;;
    esac
  done
}

do_uninstall() {
  created=$(cat "$PREFIX/$CREATED" 2>/dev/null)
  [ -e "$PREFIX/$OURS" ] && remove_images
  rc=$(rc_file)
  if [ "$EDIT_RC" = 1 ] && [ -f "$rc" ] && grep -qxF "$MARK_BEGIN" "$rc"; then
    check_block "$rc"
    tmp="$rc.claude-docker.$$"
    strip_block "$rc" >"$tmp" && replace_if_changed "$rc" "$tmp" && say "removed the plugin from $rc"
  fi
  if [ "$(readlink "$BIN_DIR/claude-docker" 2>/dev/null)" = "$PREFIX/venv/bin/claude-docker" ]; then
    rm -f "$BIN_DIR/claude-docker" && say "removed $BIN_DIR/claude-docker"
  fi
  if [ -e "$PREFIX/$OURS" ]; then
    rm -rf "$PREFIX" && say "removed $PREFIX"
    remove_created "$created"
    remove_state
  elif [ -d "$PREFIX" ]; then
    say "left $PREFIX alone: it is not a claude-docker install (nor was the tool's state touched)"
  else
    remove_state  # uninstalled before: what is left is the tool's state, the user's data and logs (--purge)
  fi
  say "uninstalled"
}

main() {
  PREFIX=${CLAUDE_DOCKER_PREFIX:-${XDG_DATA_HOME:-$HOME/.local/share}/claude-docker}
  BIN_DIR=${CLAUDE_DOCKER_BIN_DIR:-$HOME/.local/bin}
  PYTHON=${CLAUDE_DOCKER_INSTALL_PYTHON:-python3}
  EDIT_RC=1
  PURGE=0
  action=install
  while [ $# -gt 0 ]; do
    case $1 in
      --uninstall) action=uninstall ;;
      --prefix) [ $# -ge 2 ] || err "--prefix needs a directory"; PREFIX=$2; shift ;;
      --bin-dir) [ $# -ge 2 ] || err "--bin-dir needs a directory"; BIN_DIR=$2; shift ;;
      --python) [ $# -ge 2 ] || err "--python needs a path"; PYTHON=$2; shift ;;
      --no-rc) EDIT_RC=0 ;;
      --purge) PURGE=1 ;;
      -h|--help) sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'; return 0 ;;
      *) err "unknown option: $1 (see --help)" ;;
    esac
    shift
  done
  case $PREFIX in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac
  "do_$action"
}

{ main "$@" || exit 1; }
