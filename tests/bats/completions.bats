#!/usr/bin/env bats
# The zsh completions in completions/: they register through compinit, parse, follow the
# zsh-completions layout, match the real `claude --help` of the pinned Claude Code in the test image,
# and complete real content when driven through zsh's completion system (complete_helper.bash).

load complete_helper

setup() {
  ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
  COMPDIR="$ROOT/completions"
  command -v zsh >/dev/null 2>&1 || skip "zsh is not installed"
}

# Fail with a message, showing what was checked.
fail() {
  printf '%s\n' "$@" >&2
  return 1
}

assert_contains() { # haystack needle...
  local haystack=$1 needle
  shift
  for needle in "$@"; do
    [[ $haystack == *"$needle"* ]] || fail "expected to find: $needle" "in output:" "$haystack"
  done
}

assert_no_program_ran() {
  [[ ! -e $SPY_LOG ]] || fail "completion ran external programs:" "$(cat "$SPY_LOG")"
}

@test "compinit maps claude to _claude and claude-docker to _claude-docker, from completions/" {
  run zsh -f -c '
    fpath=("$1" $fpath)
    autoload -Uz compinit && compinit -D -u
    autoload +X _claude _claude-docker
    print -r -- "$_comps[claude]|$_comps[claude-docker]"
    print -r -- "$functions_source[_claude]"
    print -r -- "$functions_source[_claude-docker]"
  ' zsh "$COMPDIR"
  [ "$status" -eq 0 ] || fail "zsh failed: $output"
  [ "${lines[0]}" = "_claude|_claude-docker" ] || fail "unexpected _comps: ${lines[0]}"
  [ "${lines[1]}" = "$COMPDIR/_claude" ] || fail "_claude loaded from ${lines[1]}"
  [ "${lines[2]}" = "$COMPDIR/_claude-docker" ] || fail "_claude-docker loaded from ${lines[2]}"
}

@test "zsh -n accepts both completion files" {
  zsh -n "$COMPDIR/_claude"
  zsh -n "$COMPDIR/_claude-docker"
}

@test "completion files follow the zsh-completions layout and never run a program" {
  local name file
  for name in claude claude-docker; do
    file="$COMPDIR/_$name"
    [ "$(head -n 1 "$file")" = "#compdef $name" ] || fail "$file: bad first line"
    [ "$(tail -n 1 "$file")" = "_$name \"\$@\"" ] || fail "$file: must end with _$name \"\$@\""
    # Static: no command substitution anywhere outside comments.
    run grep -nE '\$\(|`' <(grep -v '^[[:space:]]*#' "$file")
    [ "$status" -eq 1 ] || fail "$file: command substitution found:" "$output"
    # Helpers are guarded so a user's own definitions win.
    run grep -cE '^\(\( \$\+functions\[_' "$file"
    [ "$output" -ge 1 ] || fail "$file: no guarded helper functions"
  done
}

# A completion file for shims (lib/*.sh): $1 its name, the rest the functions it completes. It is static,
# registers itself for exactly those functions, and follows the layout of the others.
check_shim_completion() {
  local name=$1; shift
  local file="$COMPDIR/$name"
  zsh -n "$file"
  [ "$(head -n 1 "$file")" = "#compdef $*" ] || fail "$file: bad first line"
  [ "$(tail -n 1 "$file")" = "$name \"\$@\"" ] || fail "$file: must end with $name \"\$@\""
  local found expected
  if found=$(grep -nE '\$\(|`' <(grep -v '^[[:space:]]*#' "$file")); then
    fail "$file: command substitution found:" "$found"
  fi
  found=$(zsh -f -c '
    fpath=("$1" $fpath)
    autoload -Uz compinit && compinit -D -u
    shift
    for f; do print -rn -- "$_comps[$f] "; done
  ' zsh "$COMPDIR" "$@")
  expected=$(for _ in "$@"; do printf '%s ' "$name"; done)
  [ "$found" = "$expected" ] || fail "unexpected _comps: $found"
}

@test "_claude-docker-rollout completes the rollout shims, is static, and follows the layout" {
  check_shim_completion _claude-docker-rollout deploy_canary rollback_deployment run_smoke_tests track_deployment
}

@test "_claude-docker-gitops completes the gitops shims, is static, and follows the layout" {
  check_shim_completion _claude-docker-gitops encrypt_secrets reconcile_config detect_drift audit_config_change \
    gitops_reconcile_loop
}

@test "_claude-docker-alerting completes the alert shim, is static, follows the layout, and the plugin registers it" {
  check_shim_completion _claude-docker-alerting alert
  run zsh -f -c 'autoload -Uz compinit && compinit -D -u; source "$1"; print -r -- $_comps[alert]' zsh "$ROOT/ai-assistant.zsh"
  [ "$status" -eq 0 ] || fail "zsh failed: $output"
  [ "$output" = "_claude-docker-alerting" ] || fail "alert completes with: $output"
}

# What the pinned Claude Code itself prints for --help, from the test image (no network).
real_help() {
  local image=${CLAUDE_DOCKER_TEST_IMAGE:-}
  [ -n "$image" ] || skip "CLAUDE_DOCKER_TEST_IMAGE is not set (tests/run sets it)"
  if ! { command -v docker >/dev/null 2>&1 && docker image inspect "$image" >/dev/null 2>&1; }; then
    skip "no Docker engine, or no image $image"
  fi
  docker run --rm --network none --entrypoint claude "$image" --help
}

# compare WHAT EXPECTED ACTUAL: fail listing what one side has and the other lacks.
compare() {
  local missing extra
  missing=$(comm -23 <(printf '%s\n' "$2" | sort -u) <(printf '%s\n' "$3" | sort -u) | paste -sd' ')
  extra=$(comm -13 <(printf '%s\n' "$2" | sort -u) <(printf '%s\n' "$3" | sort -u) | paste -sd' ')
  [ -z "$missing$extra" ] || fail "$1 differ from claude --help of the pinned Claude Code:" \
    "  in --help, not in _claude: ${missing:-none}" "  in _claude, no longer in --help: ${extra:-none}"
}

@test "_claude completes exactly the options and commands of the pinned claude --help (from the image)" {
  local help in_help in_comp
  help=$(real_help)
  [ -n "$help" ] || fail "claude --help printed nothing"
  # Option lines are indented two spaces: "  -c, --continue   desc", "  --add-dir <directories...>".
  in_help=$(awk '/^Options:/ { o = 1; next } /^[^ ]/ { o = 0 } o && /^  -/ {
      sub(/^  /, ""); sub(/  .*/, ""); gsub(/ [<[][^]>]*[]>]/, "")
      n = split($0, a, ", "); for (i = 1; i <= n; i++) print a[i] }' <<<"$help")
  [ "$(wc -l <<<"$in_help")" -ge 40 ] || fail "could not read the options from:" "$help"
  # Only the top-level _arguments call's specs count, not those of the subcommands.
  in_comp=$(awk '/^_claude\(\) \{$/, /\*:: :->args/' "$COMPDIR/_claude" \
    | grep -oP "(?<=[{,'*)])--?[A-Za-z][A-Za-z0-9-]*(?=[]=+[,}])")
  compare "options" "$in_help" "$in_comp"
  # Commands: "  agents [options]  desc", "  plugin|plugins  desc".
  in_help=$(awk '/^Commands:/ { c = 1; next } c && /^  [a-z]/ { n = split($1, a, "|"); for (i = 1; i <= n; i++) print a[i] }' <<<"$help")
  in_comp=$(sed -n '/^_claude_commands() {$/,/^}$/p' "$COMPDIR/_claude" | grep -oP "^\s+'\K[a-z-]+(?=:)")
  compare "commands" "$in_help" "$in_comp"
}

@test "TAB after claude-docker lists its subcommands with descriptions" {
  complete_line 'claude-docker ' '*run*--*this project*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" doctor cleanup image ps run "list sessions" \
    "remove orphaned containers, sync back interrupted sessions" "build and list the session images" \
    log-event metrics trace datadog health flush backup dr held
  assert_no_program_ran
}

@test "TAB after claude-docker held lists its commands, and apply completes --all" {
  complete_line 'claude-docker held ' '*apply*drop*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" list show apply drop "apply held items to the host"
  complete_line 'claude-docker held apply --' '*--all*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" --all "apply every held item"
  assert_no_program_ran
}

@test "TAB after claude-docker backup lists its commands, and claude-dr completes its options" {
  complete_line 'claude-docker backup ' '*create*--*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" create list verify prune restore find-good verify-recovery
  complete_line 'claude-dr --' '*--yes*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" --yes --no-smoke "recover without asking"
  assert_no_program_ran
}

@test "TAB after claude-docker rollout lists its commands; deploy, rollback and alert complete their values" {
  complete_line 'claude-docker rollout ' '*alert*watch*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" deploy rollback smoke status watch alert "evaluate the gates in a loop"
  complete_line 'claude-docker rollout deploy --' '*--yes*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" --steps --interval --window --min-sessions --max-error-rate --max-p95-start \
    --baseline-margin --failure-limit --progress-deadline --sticky --skip-smoke --yes --json
  complete_line 'claude-docker rollout deploy --sticky ' '*project*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" none user project "one slot per user"
  complete_line 'claude-docker rollout rollback --to ' '*previous*'
  assert_contains "$output" previous
  complete_line 'claude-docker rollout alert x --severity ' '*warning*'
  assert_contains "$output" critical warning info
  complete_line 'claude-docker rollout watch --' '*--every*'
  assert_contains "$output" --every "how often to evaluate the gates"
  assert_no_program_ran
}

@test "TAB after the rollout shims completes the options of the command each calls" {
  complete_line 'deploy_canary --st' '*--sticky*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" --steps --sticky "keep each user or project on one slot"
  complete_line 'deploy_canary --sticky ' '*project*'
  assert_contains "$output" none user project
  complete_line 'rollback_deployment --' '*--to*'
  assert_contains "$output" --json --to "known-good earlier image"
  complete_line 'rollback_deployment --to ' '*previous*'
  assert_contains "$output" previous
  complete_line 'run_smoke_tests --' '*--json*'
  assert_contains "$output" --json --help
  complete_line 'track_deployment --' '*--watch*'
  assert_contains "$output" --json --watch "print it again as it changes"
  assert_no_program_ran
}

@test "TAB after claude --output-format offers text, json and stream-json" {
  complete_line 'claude --output-format ' '*stream-json*text*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" stream-json "single result" "text"
  assert_no_program_ran
}

@test "TAB after claude-docker run -- completes Claude Code's options through _claude" {
  complete_line 'claude-docker run -- --permission-mode ' '*plan*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" acceptEdits bypassPermissions dontAsk plan
  complete_line 'claude-docker run --output-format ' '*stream-json*text*'
  assert_contains "$output" stream-json
  assert_no_program_ran
}

@test "TAB after claude-docker image build --recipe offers debian, dockerfile and minimal, --profile the profiles" {
  complete_line 'claude-docker image build --recipe ' '*debian*--*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" debian dockerfile minimal "no registry"
  complete_line 'claude-docker image build --profile ' '*python*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" python node go rust build
  complete_line 'claude-docker image ' '*list*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" build list "our images and what uses each"
  assert_no_program_ran
}

@test "TAB after claude-docker metrics offers collect and serve" {
  complete_line 'claude-docker metrics ' '*collect*--*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" collect serve "serve /metrics and /health"
  assert_no_program_ran
}

@test "TAB after claude mcp lists the mcp subcommands" {
  complete_line 'claude mcp ' '*start the Claude Code MCP server*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" add add-json get list remove serve
  assert_no_program_ran
}
