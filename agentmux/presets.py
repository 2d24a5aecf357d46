"""Built-in agent presets: one small entry per agent CLI.

`layout.parse` takes the allowed `agent` names from `BUILTINS`, so adding an entry here is
all it takes to add a preset. Every command passes the task the way that CLI's own
documentation says (the `source` URL); `{task}` is substituted already shell-quoted, so a
template must never wrap it in quotes of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["interactive", "one-shot", "shell"]


@dataclass(frozen=True)
class Preset:
    name: str
    command: str        # with a task; contains {task}
    no_task: str        # when the pane has no task
    mode: Mode          # what happens once the task is handled
    description: str
    source: str         # the documentation the command form was checked against
    # Regexes (Python `re`, MULTILINE) that mean "this agent is asking a person", matched on
    # the rendered visible screen. Data, not code: each string cites where it was seen.
    waiting_patterns: tuple[str, ...] = ()
    # The CLI's non-interactive form (`mode = "headless"`), with {task}; None: it has none.
    headless: str | None = None
    # Arguments that make the CLI approve its own actions (`approve = "auto"`); None: none.
    approve: tuple[str, ...] | None = None
    # The command that resumes the last conversation (`restart --continue`); None: none.
    resume: str | None = None
    # The keys that answer this CLI's menus: (a regex, MULTILINE, on the rendered screen, the
    # keys as `agentmux send PANE --key` takes them). `status` shows them beside a waiting
    # agent whose screen matches. Data, not code: each cites where it was seen.
    menu_keys: tuple[tuple[str, tuple[str, ...]], ...] = ()


BUILTINS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="claude",
            command="claude {task}",
            no_task="claude",
            mode="interactive",
            description="Claude Code; `claude \"query\"` starts the REPL with an initial prompt",
            source="https://code.claude.com/docs/en/cli-reference",
            waiting_patterns=(
                # The third option of every permission dialog; claude-squad keys on exactly
                # this (smtg-ai/claude-squad session/tmux/tmux.go, HasUpdated/hasPrompt).
                r"No, and tell Claude what to do differently",
                # ccmanager (kbwo/ccmanager src/services/stateDetector/claude.ts): "Do you
                # want"/"Would you like" followed by options, and the "❯ 1." selection cursor.
                r"(?i)^\W*(?:Do you want|Would you like) .+\?",
                r"❯\s+\d+\.\s",
                # ccmanager claude.ts: "esc to cancel" is shown only by dialogs waiting for input.
                r"(?i)esc to cancel",
            ),
            approve=("--permission-mode", "bypassPermissions"),
            menu_keys=(
                # The folder-trust prompt: "❯ 1. Yes, I trust this folder  2. No, exit / Enter
                # to confirm · Esc to cancel" (tests/golden/claude-trust-prompt.raw).
                (r"Quick safety check", ("1", "2", "Up", "Down", "Enter", "Escape")),
                # Permission dialogs: three numbered options, the third this one.
                (r"No, and tell Claude what to do differently",
                 ("1", "2", "3", "Up", "Down", "Enter", "Escape")),
                (r"❯\s+\d+\.\s", ("Up", "Down", "Enter", "Escape")),
            ),
        ),
        Preset(
            name="codex",
            command="codex {task}",
            no_task="codex",
            mode="interactive",
            description="OpenAI Codex CLI; `codex \"...\"` is the initial prompt for the TUI",
            source="https://developers.openai.com/codex/cli/features",
            waiting_patterns=(
                # Codex's approval overlays (titles of its exec/patch approval requests, as
                # quoted by several tmux dashboards, e.g. the find_string hits for
                # "Would you like to run the following command?").
                r"Would you like to run the following command\?",
                r"Would you like to make the following edits\?",
                r"Would you like to grant these permissions\?",
                # ccmanager (kbwo/ccmanager src/services/stateDetector/codex.ts).
                r"(?i)press enter to confirm or esc to cancel",
                r"(?i)allow command\?",
            ),
            approve=("--dangerously-bypass-approvals-and-sandbox",),
            menu_keys=(
                # Sign-in menu: a real key 1-3 picks at once (a pasted digit does nothing),
                # Enter the highlighted one (tests/golden/codex-signin-menu.raw,
                # codex-device-code-error.raw; docs/agent-clis.md).
                (r"Sign in with ChatGPT", ("1", "2", "3", "Up", "Down", "Enter")),
                # "Trust this folder? … enter continue · esc back" (codex-trust-folder.raw).
                (r"Trust this folder\?", ("1", "2", "Enter", "Escape")),
                # "Finish signing in via your browser … Press esc to cancel"
                # (codex-browser-signin.raw).
                (r"(?i)finish signing in via your browser", ("Escape",)),
            ),
        ),
        Preset(
            name="aider",
            # aider documents no way to seed a prompt and stay in chat: --message is one-shot.
            command="aider --message {task}",
            no_task="aider",
            mode="one-shot",
            description="Aider; `--message` sends one message, processes the reply, then exits",
            source="https://aider.chat/docs/config/options.html",
            waiting_patterns=(
                # aider's io.confirm_ask renders "Question? (Y)es/(N)o [Yes]:", optionally with
                # "/(A)ll/(S)kip all/(D)on't ask again"; claude-squad keys on
                # "(Y)es/(N)o/(D)on't ask again" (smtg-ai/claude-squad session/tmux/tmux.go).
                r"\(Y\)es/\(N\)o\b.*\[(?:Yes|No)\]:\s*$",
            ),
            approve=("--yes-always",),
            # Its confirm_ask takes y or n, and Enter for the default in brackets.
            menu_keys=((r"\(Y\)es/\(N\)o", ("y", "n", "Enter")),),
        ),
        Preset(
            name="gemini",
            command="gemini -i {task}",
            no_task="gemini",
            mode="interactive",
            description="Gemini CLI; `-i` executes the prompt and continues interactively",
            source="https://github.com/google-gemini/gemini-cli/blob/main/docs/cli/cli-reference.md",
            waiting_patterns=(
                # ToolConfirmationMessage options; claude-squad keys on "Yes, allow once"
                # (smtg-ai/claude-squad session/tmux/tmux.go).
                r"Yes, allow once",
                # ccmanager (kbwo/ccmanager src/services/stateDetector/gemini.ts), which cites
                # gemini-cli packages/cli/src/ui/components/messages/ToolConfirmationMessage.tsx.
                r"(?i)waiting for user confirmation",
                r"│ (?:Apply this change|Allow execution|Do you want to proceed)",
            ),
            approve=("--approval-mode", "yolo"),
            menu_keys=(
                # "Do you trust the files in this folder? ● 1. Trust folder …" and "How would
                # you like to authenticate … (Use Enter to select)": arrows move the ●, Enter
                # picks (gemini-trust-dialog.raw, gemini-auth-dialog.raw).
                (r"Do you trust the files in this folder\?", ("Up", "Down", "Enter")),
                (r"How would you like to authenticate", ("Up", "Down", "Enter")),
            ),
        ),
        Preset(
            name="opencode",
            command="opencode --prompt {task}",
            no_task="opencode",
            mode="interactive",
            description="OpenCode TUI; `--prompt` is the prompt to use",
            source="https://opencode.ai/docs/cli/",
            approve=("--auto",),
        ),
        Preset(
            name="shell",
            # The task is a command line in the layout's language, POSIX sh, whatever $SHELL
            # is: under fish, `$SHELL -c` failed on `${`, and exits 0 on a syntax error. The
            # runner runs `sh -c TASK` as TASK itself: a simple task is exec'd, exactly.
            # Without a task the person gets their own interactive shell.
            command="exec /bin/sh -c {task}",
            no_task='exec "${SHELL:-/bin/sh}"',
            mode="shell",
            description="the task runs as a POSIX sh command line; with no task, an interactive "
                        "$SHELL",
            source="https://pubs.opengroup.org/onlinepubs/9799919799/utilities/sh.html",
        ),
    )
}


# For every pane, after the preset's own: read(1)-style confirmations and "press enter".
GENERIC_MENU_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"(?i)[\[(]y(?:es)?/n(?:o)?[\])]", ("y", "n")),
    (r"(?i)press enter to continue", ("Enter",)),
)


def names() -> tuple[str, ...]:
    return tuple(sorted(BUILTINS))


def get(name: str) -> Preset:
    return BUILTINS[name]


# Words that name a CLI's subcommand: arguments agentmux adds go after them (`codex exec -c …`,
# `opencode run --auto …`), since the subcommand has options of its own.
SUBCOMMANDS = frozenset({"exec", "resume", "run"})


def insert_at(template: str) -> int:
    """Where in a preset's command template added arguments go: after the program and its
    subcommand. Computed on the template, never on a rendered command: a task may look like
    a subcommand once substituted."""
    words = template.split(" ")
    n = 2 if len(words) > 1 and words[1] in SUBCOMMANDS else 1
    return len(" ".join(words[:n]))


def insert_args(template: str, rendered: str, args: str) -> str:
    """`rendered` (the template with its placeholders filled) with `args` (already quoted for
    the shell) added where `insert_at(template)` says."""
    at = insert_at(template)
    if not args or rendered[:at] != template[:at]:
        return rendered
    return rendered[:at] + " " + args + rendered[at:]


def template(preset: Preset, mode: str, approve: str, has_task: bool) -> str:
    """The command template a pane of this preset runs, for its mode and approval."""
    import shlex

    if mode == "headless" and preset.headless is not None:
        form = preset.headless
    else:
        form = preset.command if has_task else preset.no_task
    if approve == "auto" and preset.approve:
        form = insert_args(form, form, shlex.join(preset.approve))
    return form
