# Shared set-up for scripts/demo, scripts/test and scripts/bench. Sourced, not run.
# Quick when everything is already in place: a stamp records which pyproject the venv matches.

AGENTMUX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$AGENTMUX_ROOT/.venv"

ensure_tools() {
  local missing=()
  command -v tmux >/dev/null 2>&1 || missing+=(tmux)
  command -v git >/dev/null 2>&1 || missing+=(git)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "agentmux needs ${missing[*]}. Install with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 4
  fi
}

# Only the tests need these: sshd for the SSH-host tests (tests/sshd.py), and zsh and fish,
# in which the tests check that remote commands read back byte for byte (skipped without).
ensure_test_tools() {
  local missing=() optional=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  command -v zsh >/dev/null 2>&1 || optional+=(zsh)
  command -v fish >/dev/null 2>&1 || optional+=(fish)
  [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} ${optional[*]} with apt-get (for the tests)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" "${optional[@]}" >&2
  elif [ ${#missing[@]} -gt 0 ]; then
    echo "the tests need ${missing[*]}. Install with:" >&2
    echo "  sudo apt-get install -y ${missing[*]} ${optional[*]}" >&2
    exit 4
  else
    echo "note: without ${optional[*]}, their login-shell tests are skipped" >&2
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
