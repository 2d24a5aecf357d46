"""The command language: which commands the runner execs itself, and with which argv.

Every `exact` row is checked against sh itself: sh must split the command into exactly the
same words (printed by a program that shows its argv), so no row can claim a split sh would
not make.
"""

from __future__ import annotations

import shlex
import subprocess

import pytest

from agentmux.shellcmd import SH, argv_for, simple_words

EXACT = [
    ("claude 'fix the bug'", ["claude", "fix the bug"]),
    ("aider --message 'it'\"'\"'s done'", ["aider", "--message", "it's done"]),
    (f"codex {shlex.quote('a $HOME `id` ${x} * ; | & > ~ # {} !')}",
     ["codex", "a $HOME `id` ${x} * ; | & > ~ # {} !"]),
    ("agent \"double quoted\" plain\\ escaped", ["agent", "double quoted", "plain escaped"]),
    ("  agent\t--x=1  a=b ", ["agent", "--x=1", "a=b"]),
    ("agent '' \"\"", ["agent", "", ""]),
    ("exec agent --go", ["agent", "--go"]),
    ("exec exec agent", ["agent"]),
    ("/bin/sh -c 'agent --go'", ["agent", "--go"]),
    ("exec /bin/sh -c 'exec agent '\"'\"'it'\"'\"'\"'\"'\"'\"'\"'\"'s'\"'\"''",
     ["agent", "it's"]),
    ("ag'ent' x\"y\"z", ["agent", "xyz"]),
    ("agent %^@+,:", ["agent", "%^@+,:"]),
    ("agent \"a'b\"", ["agent", "a'b"]),
    ("/bin/sh -c 'a' extra", [SH, "-c", "a", "extra"]),  # sh itself, exec'd: $0 is `extra`
    ("'/opt/my agent/bin/run' x", ["/opt/my agent/bin/run", "x"]),
]

SHELL = [
    "a; b", "a && b", "a | b", "a > f", "a < f", "a &", "(a)", "{ a; }", "a $HOME", "a ${X}",
    "a `id`", "a $(id)", "a *.py", "a ?", "a [ab]", "~/bin/a", "a # note", "! a", "a\nb",
    "X=1 a", "echo hi", "cd sub", "exit 3", "true", ":", ". ./env", "if true; then a; fi",
    "exec", "exec -a name a", "-a", "", "   ", "a 'open", "a \"open", "a \"$X\"", "a \"\\n\"",
    "a \\", "a \\\nb", "kill -9 1", "test -f x",
    "printf '%s' x", "pwd", "[ -f x ]", "a {b,c}",
]


def sh_words(command: str) -> list[str]:
    """The words sh itself makes of command."""
    out = subprocess.run([SH, "-c", f"set -- {command}\nfor a; do printf '%s\\0' \"$a\"; done"],
                         capture_output=True, text=True, check=True).stdout
    return out.split("\0")[:-1]


@pytest.mark.parametrize(("command", "argv"), EXACT)
def test_simple_commands_are_execd_with_shs_own_split(command: str, argv: list[str]) -> None:
    assert argv_for(command) == (argv, True)
    assert simple_words(command) == sh_words(command)


@pytest.mark.parametrize("command", SHELL)
def test_everything_else_runs_under_sh(command: str) -> None:
    assert argv_for(command) == ([SH, "-c", command], False)


def test_sh_c_of_a_compound_command_is_that_command_under_sh() -> None:
    assert argv_for("exec /bin/sh -c 'a; b'") == ([SH, "-c", "a; b"], False)
