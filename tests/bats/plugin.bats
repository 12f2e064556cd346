#!/usr/bin/env bats
# The zsh plugin: sourcing is silent and starts nothing; the shims pass argv and exit status through.

# Each @test runs in its own subshell: an export inside one is meant to stay there.
# shellcheck disable=SC2030,SC2031

load test_helper

@test "sourcing prints nothing and starts no process" {
  stub_everything
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  run zsh -f -c "source '$PLUGIN'"
  [ "$status" -eq 0 ]
  [ "$output" = "" ]
  # interactive too, where it only queues its compinit for the first prompt
  run zsh -f -i -c "source '$PLUGIN'; print -r -- \$precmd_functions"
  [ "$status" -eq 0 ]
  [ "$output" = "_claude_docker_compinit" ]
  [ ! -e "$MARKER" ]
}

@test "sourcing is clean under strict options (errexit, nounset, pipefail, ksh arrays, no glob)" {
  stub_everything
  for opts in "-e -u -o pipefail" "-o ksh_arrays" "-o no_glob" "-o extended_glob -o no_unset"; do
    # shellcheck disable=SC2086
    run zsh -f $opts -c "source '$PLUGIN'; whence -w claude"
    [ "$status" -eq 0 ]
    [ "$output" = "claude: function" ]
  done
  [ ! -e "$MARKER" ]
}

@test "an alias named claude (Claude Code's local installer makes one) can't bypass the container" {
  create_stub python
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  run zsh -f -c "alias claude='echo NATIVE'; source '$PLUGIN'; claude --version"
  [ "$status" -eq 0 ]
  [ "$output" = "" ]
  [ "$(tr '\0' ' ' <"$BATS_TEST_TMPDIR/python.argv")" = "-I -m claude_docker run -- --version " ]
}

@test "the functions exist and completions go on fpath once, even when sourced twice" {
  local f i=0 functions="claude claude-docker claude-dr disaster_recovery find_good_backup restore_from_backup verify_recovery deploy_canary rollback_deployment run_smoke_tests track_deployment"
  run zsh -f -c "source '$PLUGIN'; source '$PLUGIN'; whence -w $functions; print -l -- \$fpath | grep -c -x '$ROOT/completions'; print -r -- \$fpath[1]"
  [ "$status" -eq 0 ]
  for f in $functions; do
    [ "${lines[i]}" = "$f: function" ]
    i=$((i + 1))
  done
  [ "${lines[i]}" = "1" ]
  [ "${lines[i + 1]}" = "$ROOT/completions" ]
}

@test "the recovery, rollout and gitops shims call the helper's commands with their arguments" {
  create_stub python
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  # (pairs split at "|": an image reference has a colon)
  for pair in "claude-dr --yes|dr --yes" "disaster_recovery --json|dr --json" "find_good_backup|backup find-good" \
              "restore_from_backup 2026 --repair|backup restore 2026 --repair" \
              "verify_recovery --no-smoke|backup verify-recovery --no-smoke" \
              "deploy_canary img:2 --steps 1,10,50 --yes|rollout deploy img:2 --steps 1,10,50 --yes" \
              "deploy_canary|rollout deploy" "rollback_deployment --to previous|rollout rollback --to previous" \
              "run_smoke_tests --json|rollout smoke --json" "track_deployment --watch|rollout status --watch" \
              "encrypt_secrets s.json --in-place|gitops encrypt s.json --in-place" \
              "reconcile_config --once|gitops reconcile --once" "detect_drift --json|gitops drift --json" \
              "audit_config_change --verify|gitops audit --verify" "gitops_reconcile_loop|gitops loop"; do
    rm -f "$BATS_TEST_TMPDIR/python.argv"
    run zsh -f -c "source '$PLUGIN'; ${pair%%|*}"
    [ "$status" -eq 0 ]
    [ "$(tr '\0' ' ' <"$BATS_TEST_TMPDIR/python.argv")" = "-I -m claude_docker ${pair#*|} " ]
  done
}

@test "completions are registered when compinit ran before the plugin" {
  run zsh -f -c "autoload -Uz compinit && compinit -D -u; source '$PLUGIN'; print -r -- \$_comps[claude] \$_comps[claude-docker] \$_comps[claude-dr]"
  [ "$status" -eq 0 ]
  [ "$output" = "_claude _claude-docker _claude-dr" ]
  run zsh -f -c "autoload -Uz compinit && compinit -D -u; source '$PLUGIN'; print -r -- \$_comps[deploy_canary] \$_comps[rollback_deployment] \$_comps[run_smoke_tests] \$_comps[track_deployment]"
  [ "$status" -eq 0 ]
  [ "$output" = "_claude-docker-rollout _claude-docker-rollout _claude-docker-rollout _claude-docker-rollout" ]
  run zsh -f -c "autoload -Uz compinit && compinit -D -u; source '$PLUGIN'; print -r -- \$_comps[encrypt_secrets] \$_comps[reconcile_config] \$_comps[detect_drift] \$_comps[audit_config_change] \$_comps[gitops_reconcile_loop]"
  [ "$status" -eq 0 ]
  [ "$output" = "_claude-docker-gitops _claude-docker-gitops _claude-docker-gitops _claude-docker-gitops _claude-docker-gitops" ]
}

@test "the gitops shims pass the helper's exit status back (drift's 1 and 2, the gitops statuses)" {
  for code in 1 2 8 9 10 11 12 13; do
    create_stub python "$code"
    export CLAUDE_DOCKER_PYTHON=$STUBS/python
    run zsh -f -c "source '$PLUGIN'; detect_drift; print -r -- \$?; reconcile_config; print -r -- \$?; audit_config_change; print -r -- \$?; encrypt_secrets f; print -r -- \$?; gitops_reconcile_loop; print -r -- \$?"
    [ "$output" = "$code"$'\n'"$code"$'\n'"$code"$'\n'"$code"$'\n'"$code" ]
  done
}

@test "alert calls claude-docker alert send with its arguments and passes the helper's exit status back" {
  create_stub python
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  run zsh -f -c "source '$PLUGIN'; alert high 'nightly import failed' job=import 'note=a b'"
  [ "$status" -eq 0 ]
  expected=$(printf '%s\0' -I -m claude_docker alert send high 'nightly import failed' job=import 'note=a b' | od -c)
  [ "$(od -c <"$BATS_TEST_TMPDIR/python.argv")" = "$expected" ]
  for code in 1 14 15; do  # the usage error, a broken alerting.toml, a notification not delivered
    create_stub python "$code"
    run zsh -f -c "source '$PLUGIN'; alert high msg k=v; print -r -- \$?"
    [ "$output" = "$code" ]
  done
}

@test "the rollout shims pass an argument untouched, and the helper's exit status back" {
  create_stub python
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  # an argument with spaces and glob characters arrives as one word, untouched
  run zsh -f -c "source '$PLUGIN'; run_smoke_tests 'my image*' ''"
  expected=$(printf '%s\0' -I -m claude_docker rollout smoke 'my image*' '' | od -c)
  [ "$(od -c <"$BATS_TEST_TMPDIR/python.argv")" = "$expected" ]
  # the statuses the rollout documents come back unchanged (1 failure, 6 conflict, 7 damaged state, 125)
  for code in 1 6 7 125; do
    create_stub python "$code"
    run zsh -f -c "source '$PLUGIN'; deploy_canary; print -r -- \$?; rollback_deployment; print -r -- \$?; run_smoke_tests; print -r -- \$?; track_deployment; print -r -- \$?"
    [ "$output" = "$code"$'\n'"$code"$'\n'"$code"$'\n'"$code" ]
  done
}

@test "the seed's CLAUDE_DOCKER_V2_PROBABILITY=0.1 deploy_canary reaches the helper in its environment, for that call only" {
  # A helper that records the variable as it sees it.
  cat >"$STUBS/python" <<STUB
#!/bin/sh
printf '%s %s\n' "\${CLAUDE_DOCKER_V2_PROBABILITY-unset}" "\$*" >>"$BATS_TEST_TMPDIR/seen"
STUB
  chmod +x "$STUBS/python"
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  unset CLAUDE_DOCKER_V2_PROBABILITY
  run zsh -f -c "source '$PLUGIN'
    CLAUDE_DOCKER_V2_PROBABILITY=0.1 deploy_canary
    CLAUDE_DOCKER_V2_PROBABILITY=0.5 deploy_canary
    CLAUDE_DOCKER_V2_PROBABILITY=1.0 deploy_canary img:2
    deploy_canary
    print -r -- \${CLAUDE_DOCKER_V2_PROBABILITY-unset in the shell}"
  [ "$status" -eq 0 ]
  [ "$output" = "unset in the shell" ]
  [ "$(cat "$BATS_TEST_TMPDIR/seen")" = "0.1 -I -m claude_docker rollout deploy
0.5 -I -m claude_docker rollout deploy
1.0 -I -m claude_docker rollout deploy img:2
unset -I -m claude_docker rollout deploy" ]
}

@test "claude passes its arguments to the helper untouched, after run --" {
  create_stub python
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  run zsh -f -c "source '$PLUGIN'; claude -p 'a b' '' -- '*' '\$HOME' \$'two\nlines'"
  [ "$status" -eq 0 ]
  # shellcheck disable=SC2016 # '$HOME' is the literal argument under test
  expected=$(printf '%s\0' -I -m claude_docker run -- -p 'a b' '' -- '*' '$HOME' $'two\nlines' | od -c)
  [ "$(od -c <"$BATS_TEST_TMPDIR/python.argv")" = "$expected" ]
}

@test "claude-docker passes its arguments to the helper" {
  create_stub python
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  run zsh -f -c "source '$PLUGIN'; claude-docker doctor --json"
  [ "$status" -eq 0 ]
  [ "$(tr '\0' ' ' <"$BATS_TEST_TMPDIR/python.argv")" = "-I -m claude_docker doctor --json " ]
}

@test "the helper's exit status is the function's" {
  create_stub python 42
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  run zsh -f -c "source '$PLUGIN'; claude; print -r -- \$?; claude-docker ps; print -r -- \$?"
  [ "$output" = $'42\n42' ]
}

@test "the interpreter install.sh recorded is used, and CLAUDE_DOCKER_PYTHON overrides it" {
  create_stub python
  create_stub other-python
  mkdir -p "$BATS_TEST_TMPDIR/inst"
  cp -R "$ROOT/ai-assistant.zsh" "$ROOT/lib" "$ROOT/completions" "$BATS_TEST_TMPDIR/inst/"
  printf 'typeset -g _CLAUDE_DOCKER_PYTHON=%s\n' "$STUBS/python" >"$BATS_TEST_TMPDIR/inst/env.zsh"
  run zsh -f -c "source '$BATS_TEST_TMPDIR/inst/ai-assistant.zsh'; claude-docker ps"
  [ "$status" -eq 0 ]
  [ "$(cat "$MARKER")" = "python" ]
  run zsh -f -c "CLAUDE_DOCKER_PYTHON='$STUBS/other-python'; source '$BATS_TEST_TMPDIR/inst/ai-assistant.zsh'; claude-docker ps"
  [ "$(tail -1 "$MARKER")" = "other-python" ]
}

@test "a missing helper is one clear line and status 125" {
  run zsh -f -c "source '$PLUGIN'; claude --version"
  [ "$status" -eq 125 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ $output == *"run install.sh"* ]]
}

@test "the real helper answers through the function (usage errors exit 2)" {
  [ -n "${CLAUDE_DOCKER_TEST_PYTHON:-}" ] || skip "CLAUDE_DOCKER_TEST_PYTHON is not set (tests/run sets it)"
  export CLAUDE_DOCKER_PYTHON=$CLAUDE_DOCKER_TEST_PYTHON
  run zsh -f -c "source '$PLUGIN'; claude-docker --version"
  [ "$status" -eq 0 ]
  [[ $output == "claude-docker, version "* ]]
  run zsh -f -c "source '$PLUGIN'; claude-docker ps --no-such-option"
  [ "$status" -eq 2 ]
  [[ $output == *"No such option"* ]]
}

@test "the rollout shims reach the real helper's commands; a bad share in the environment is one line, status 125" {
  [ -n "${CLAUDE_DOCKER_TEST_PYTHON:-}" ] || skip "CLAUDE_DOCKER_TEST_PYTHON is not set (tests/run sets it)"
  export CLAUDE_DOCKER_PYTHON=$CLAUDE_DOCKER_TEST_PYTHON
  for pair in "deploy_canary|deploy" "rollback_deployment|rollback" "run_smoke_tests|smoke" "track_deployment|status"; do
    run zsh -f -c "source '$PLUGIN'; ${pair%%|*} --help"
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "Usage: claude-docker rollout ${pair#*|} "* ]]
  done
  run zsh -f -c "source '$PLUGIN'; CLAUDE_DOCKER_V2_PROBABILITY=abc deploy_canary"
  [ "$status" -eq 125 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ $output == *CLAUDE_DOCKER_V2_PROBABILITY* ]]
}

# The sh/bash scripts go through shellcheck in tests/py/test_lint.py; zsh is beyond shellcheck, so it is parsed here.
@test "the plugin files pass zsh -n" {
  for f in "$PLUGIN" "$ROOT"/lib/*.sh "$ROOT"/completions/_*; do
    zsh -n "$f"
  done
}

@test "start_trace --help shows the help (status 0); output it can't eval is one line, status 1" {
  create_stub python
  export CLAUDE_DOCKER_PYTHON=$STUBS/python
  run zsh -f -o ksh_arrays -c "source '$PLUGIN'; start_trace --help"
  [ "$status" -eq 0 ]
  [ "$(tr '\0' ' ' <"$BATS_TEST_TMPDIR/python.argv")" = "-I -m claude_docker trace start --help " ]
  run zsh -f -c "source '$PLUGIN'; start_trace release"
  [ "$status" -eq 1 ]
  [ "$output" = "start_trace: unexpected output from claude-docker trace start" ]
  [ -n "${CLAUDE_DOCKER_TEST_PYTHON:-}" ] || skip "CLAUDE_DOCKER_TEST_PYTHON is not set (tests/run sets it)"
  export CLAUDE_DOCKER_PYTHON=$CLAUDE_DOCKER_TEST_PYTHON
  run zsh -f -c "source '$PLUGIN'; start_trace --help"
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == "Usage: claude-docker trace start [OPTIONS] [NAME]" ]]
  run zsh -f -c "source '$PLUGIN'; start_trace release && print -r -- \$TRACEPARENT"
  [ "$status" -eq 0 ]
  [[ $output == 00-*-01 ]]
}
