# Shared set-up for scripts/demo, scripts/test and scripts/bench. Sourced, not run.
# Quick when everything is already in place: a stamp records which pyproject the venv matches.

AGENTMUX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$AGENTMUX_ROOT/.venv"

# ensure_tools [CMD..]: tmux and git always, plus the commands named; each missing one is
# installed with apt-get when we are root, else the exact command is printed (exit 4).
ensure_tools() {
  local cmd pkg missing=() pkgs=()
  for cmd in tmux git "$@"; do
    command -v "$cmd" >/dev/null 2>&1 && continue
    [ "$cmd" = sshd ] && [ -x /usr/sbin/sshd ] && continue
    case "$cmd" in
      bwrap) pkg=bubblewrap ;;
      sshd) pkg=openssh-server ;;
      ssh) pkg=openssh-client ;;
      node) pkg=nodejs ;;
      ssh-keygen) pkg=openssh-client ;;
      *) pkg=$cmd ;;
    esac
    missing+=("$cmd"); pkgs+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${pkgs[*]} with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >&2
  else
    echo "agentmux needs ${missing[*]}. Install with:" >&2
    echo "  sudo apt-get install -y ${pkgs[*]}" >&2
    exit 4
  fi
}

ensure_venv() {
  local py stamp want
  py=$(command -v python3.11 || command -v python3 || true)
  if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "agentmux needs Python 3.11 or newer (found: ${py:-none})" >&2
    exit 4
  fi
  stamp="$VENV/.agentmux-stamp"
  want=$(cat "$AGENTMUX_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "setting up $VENV" >&2
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$AGENTMUX_ROOT[test]" >&2
  echo "$want" > "$stamp"
}
