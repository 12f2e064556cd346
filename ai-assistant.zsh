# claude-docker: Claude Code in a hardened Docker container for any project directory.
#
# Source this file from ~/.zshrc (install.sh adds that line). Sourcing defines functions and puts the
# completions on fpath; it starts no process, prints nothing and overrides no value you set yourself.
# If no compinit has run by the first prompt, it runs one then, so completion works with a plain .zshrc.
#
#   claude [ARGS...]     Claude Code in a container for the current project (ARGS reach it untouched)
#   claude-docker CMD    the helper: run, ps, cleanup, doctor, image build (see `claude-docker --help`)
#
# Configuration is read by the helper from CLAUDE_DOCKER_* variables (README); CLAUDE_DOCKER_PYTHON
# overrides the interpreter install.sh recorded in env.zsh.

[[ -n ${_CLAUDE_DOCKER_ROOT-} ]] && return 0
typeset -g _CLAUDE_DOCKER_ROOT=${${(%):-%x}:A:h}

# The absolute interpreter path, written by install.sh.
[[ -r $_CLAUDE_DOCKER_ROOT/env.zsh ]] && builtin source "$_CLAUDE_DOCKER_ROOT/env.zsh"

() {
  emulate -L zsh
  local f
  for f in "$_CLAUDE_DOCKER_ROOT"/lib/*.sh(N); do
    builtin source "$f"
  done
  if (( ! ${fpath[(Ie)$_CLAUDE_DOCKER_ROOT/completions]} )); then
    fpath=("$_CLAUDE_DOCKER_ROOT/completions" $fpath)
  fi
  # compinit already ran: register ours now, as it would have found them on fpath.
  if (( ${+functions[compdef]} )); then
    autoload -Uz _claude _claude-docker _claude-dr _claude-docker-rollout _claude-docker-gitops
    compdef _claude claude
    compdef _claude-docker claude-docker
    compdef _claude-dr claude-dr disaster_recovery
    compdef _claude-docker-rollout deploy_canary rollback_deployment run_smoke_tests track_deployment
    compdef _claude-docker-gitops encrypt_secrets reconcile_config detect_drift audit_config_change gitops_reconcile_loop
    compdef _claude-docker-alerting alert
  elif [[ -o interactive ]]; then
    typeset -ga precmd_functions
    precmd_functions=(${precmd_functions:#_claude_docker_compinit} _claude_docker_compinit)
  fi
}

# Once, before the first prompt: a .zshrc that never ran compinit (a plain one) gets zsh's completion
# system, so ours work. Deferred rather than run here so that sourcing stays free of I/O, and so that a
# compinit later in .zshrc (or a framework's) runs alone and finds ours on fpath. Its dump is kept in
# this install's directory, which uninstall removes.
function _claude_docker_compinit {
  emulate -L zsh
  precmd_functions=(${precmd_functions:#_claude_docker_compinit})
  unfunction _claude_docker_compinit
  (( ${+functions[compdef]} )) && return 0
  autoload -Uz compinit && compinit -i -d "$_CLAUDE_DOCKER_ROOT/zcompdump"
}
