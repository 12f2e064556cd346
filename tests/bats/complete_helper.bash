# shellcheck shell=bash
# complete_line: type a line and TAB into an interactive zsh in a zpty pseudo-terminal (zsh's own module,
# so no terminal, tmux or `script` is needed) and capture what the shell drew.

# complete_line LINE [UNTIL]: start an interactive zsh in a zpty, type LINE and TAB, and print what the
# shell drew after the TAB (escape sequences removed). Reading stops once the output matches the zsh
# pattern UNTIL, or after a few seconds. `docker`, `python`, `python3`, `claude` and `claude-docker` on
# $PATH are spies: any call is recorded in $SPY_LOG.
# The shell is `zsh -f -i` with $COMPDIR first in $fpath and compinit loaded, HOME the test's directory;
# with COMPLETE_AS_USER=1 it is a user's own `zsh -i` instead: $HOME as set, its .zshrc and nothing else.
complete_line() {
  local line=$1 until=${2:-'*'} shell setup home
  zsh -f -c 'zmodload zsh/zpty' 2>/dev/null || skip "the zsh/zpty module is not available"

  SPY_LOG="$BATS_TEST_TMPDIR/spy.log"
  local spy_dir="$BATS_TEST_TMPDIR/spybin" prog
  mkdir -p "$spy_dir"
  for prog in docker python python3 claude claude-docker; do
    printf '#!/bin/sh\necho "%s $*" >> "%s"\n' "$prog" "$SPY_LOG" > "$spy_dir/$prog"
    chmod +x "$spy_dir/$prog"
  done

  if [[ ${COMPLETE_AS_USER:-} == 1 ]]; then
    shell='zsh -i' setup='' home=$HOME
  else
    # shellcheck disable=SC2016  # expanded by the zsh in the zpty
    shell='zsh -f -i' setup='fpath=(${(q)compdir} \$fpath); autoload -Uz compinit && compinit -D -u; ' home=$BATS_TEST_TMPDIR
  fi

  local driver="$BATS_TEST_TMPDIR/drive.zsh"
  cat > "$driver" <<'EOF'
emulate -L zsh
setopt extended_glob
zmodload zsh/zpty || exit 3
local compdir=$1 line=$2 until=$3 shell=$4 setup=$5 out chunk
trap 'zpty -d cz 2>/dev/null' EXIT
zpty -b cz ${=shell} || exit 4
zpty -w cz "stty rows 100 cols 200; PS1='%% '; LISTMAX=100000; ${(e)setup}print -r -- RE''ADY"
integer deadline=$(( SECONDS + 15 ))
while (( SECONDS < deadline )) && [[ $out != *READY* ]]; do
  if zpty -rt cz chunk; then out+=$chunk; else sleep 0.05; fi
done
[[ $out == *READY* ]] || { print -u2 -r -- "the shell in the zpty never got ready: $out"; exit 5; }
zpty -w -n cz "$line"$'\t'
out=
deadline=$(( SECONDS + 5 ))
while (( SECONDS < deadline )); do
  if zpty -rt cz chunk; then
    out+=$chunk
    [[ ${out//$'\e'\[[0-9;?]#[a-zA-Z]/} == $~until ]] && break
  else
    sleep 0.05
  fi
done
# Then take the rest of the listing: read until the shell has been quiet for a moment.
integer quiet=0
while (( SECONDS < deadline && quiet < 6 )); do
  if zpty -rt cz chunk; then out+=$chunk; quiet=0; else sleep 0.05; (( quiet++ )); fi
done
# Clear the line and leave, then wait for the shell to exit so that this process reaps it.
zpty -w -n cz $'\C-u'
zpty -w cz 'exit'
deadline=$(( SECONDS + 5 ))
while (( SECONDS < deadline )) && zpty -t cz; do
  zpty -rt cz chunk || sleep 0.05
done
out=${out//$'\e'\[[0-9;?]#[a-zA-Z]/}
print -r -- ${${out//$'\r'/}//$'\a'/}
EOF
  run timeout 60 env PATH="$spy_dir:$PATH" HOME="$home" zsh -f "$driver" "${COMPDIR:-}" "$line" "$until" "$shell" "$setup"
}
