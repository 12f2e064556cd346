#!/usr/bin/env bats
# The zsh completions in completions/: they register through compinit, parse, follow the
# zsh-completions layout, and complete real content when driven through zsh's completion system.
# The live tests type into an interactive `zsh -f -i` running in a zpty pseudo-terminal (zsh's own
# module), so no terminal, tmux or rc file is needed.

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

@test "_claude covers every option in claude --help (2.1.197)" {
  local opt main
  # Only the top-level function's specs count, not those of the subcommands.
  main="$(sed -n '/^_claude() {$/,/^}$/p' "$COMPDIR/_claude")"
  [ -n "$main" ] || fail "no _claude() function in $COMPDIR/_claude"
  for opt in --add-dir --agent --agents --allow-dangerously-skip-permissions --allowedTools \
    --allowed-tools --append-system-prompt --ax-screen-reader --bg --background --bare --betas \
    --brief --chrome -c --continue --dangerously-skip-permissions -d --debug --debug-file \
    --disable-slash-commands --disallowedTools --disallowed-tools --effort \
    --exclude-dynamic-system-prompt-sections --fallback-model --file --fork-session --from-pr -h \
    --help --ide --include-hook-events --include-partial-messages --input-format --json-schema \
    --max-budget-usd --mcp-config --model -n --name --no-chrome --no-session-persistence \
    --output-format --permission-mode --plugin-dir --plugin-url -p --print --prompt-suggestions \
    --remote-control --remote-control-session-name-prefix --replay-user-messages -r --resume \
    --safe-mode --session-id --setting-sources --settings --strict-mcp-config --system-prompt \
    --tmux --tools --verbose -v --version -w --worktree; do
    grep -qE -- "[{,'*)]${opt}[]=+[,}]" <<<"$main" || fail "_claude lacks $opt"
  done
}

@test "TAB after claude-docker lists its subcommands with descriptions" {
  complete_line 'claude-docker ' '*run*--*this project*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" doctor cleanup image ps run "list sessions" \
    "remove orphaned containers, sync back interrupted sessions" "build the session image" \
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

@test "TAB after claude-docker image build --recipe offers npm and dockerfile" {
  complete_line 'claude-docker image build --recipe ' '*npm*--*'
  [ "$status" -eq 0 ] || fail "driver failed ($status): $output"
  assert_contains "$output" npm dockerfile
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
