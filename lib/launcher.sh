# ============================================================================================
# The launcher: `claude` and `claude-docker`, thin shims over the Python helper.
# They build argv, call the helper by its absolute path and return its exit status unchanged.
# ============================================================================================

# An alias named claude (Claude Code's own local installer adds one) would run Claude Code outside the
# container whenever it is typed: the sandbox this plugin is for would be silently bypassed.
(( ${+aliases[claude]} )) && unalias claude
(( ${+aliases[claude-docker]} )) && unalias claude-docker

# Summary: call the claude-docker helper with these arguments.
# Usage: _claude_docker_helper ARGS...
function _claude_docker_helper {
  local py=${CLAUDE_DOCKER_PYTHON:-${_CLAUDE_DOCKER_PYTHON-}}
  if [[ -z $py || ! -x $py ]]; then
    print -ru2 -- "claude-docker: the helper is not installed (no interpreter at '${py}'): run install.sh"
    return 125
  fi
  # -I: the user's PYTHONPATH, PYTHONHOME and user site-packages can't change the helper. The installed
  # entry point runs as a script: `-m` would import runpy and friends, ~10 ms of every call.
  if [[ -z ${CLAUDE_DOCKER_PYTHON-} && -n ${_CLAUDE_DOCKER_MAIN-} ]]; then
    "$py" -I "$_CLAUDE_DOCKER_MAIN" "$@"
  else
    "$py" -I -m claude_docker "$@"
  fi
}

# Summary: Claude Code in a hardened container for the current project.
# Usage: claude [ARGS...]
function claude {
  _claude_docker_helper run -- "$@"
}

# Summary: the helper's CLI (run, ps, cleanup, doctor, image build, ...).
# Usage: claude-docker COMMAND [OPTIONS]
function claude-docker {
  _claude_docker_helper "$@"
}
