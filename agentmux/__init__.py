"""agentmux: run several AI coding agents at once, each in its own worktree and tmux pane."""

__version__ = "0.1.0"
