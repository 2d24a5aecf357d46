"""The renderer on streams made to the point: each case is one thing a terminal program does."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentmux import capture, screen
from agentmux.screen import ALT_FOOTER, ALT_HEADER

E = "\x1b"
# What is left when escape codes are stripped instead of played: an ESC, a CSI's parameters
# and final byte ("[48;2;10;10;10m", "49;8H"), a charset designation ("(B").
FRAGMENT = re.compile(r"\x1b|\[[0-9;?]*[0-9][0-9;?]*[A-Za-z]|\b\d+;\d+[A-Za-z]|\(B")


def render(text: str, width: int = 40, height: int = 10, max_lines: int = 5000) -> str:
    return screen.render_bytes(text.encode(), width, height, max_lines)


def assert_clean(out: str) -> None:
    assert [line for line in out.splitlines() if FRAGMENT.search(line)] == []


@pytest.mark.parametrize(("stream", "want"), [
    pytest.param(f"Welcome{E}[9Gto{E}[12GCodex,", "Welcome to Codex,", id="CHA"),
    pytest.param(f"Finish{E}[1Csigning{E}[1Cin", "Finish signing in", id="CUF"),
    pytest.param(f"{E}[3;1HWelcome{E}[3;9Hto{E}[3;12Hyou", "Welcome to you", id="CUP"),
    pytest.param(f"a{E}[5Cb", "a     b", id="CUF-wide-gap"),
    pytest.param(f"{E}[48;2;10;10;10mdark{E}[49m {E}[38:2:1:2:3mcolon{E}[0m",
                 "dark colon", id="SGR-truecolour-and-colons"),
    pytest.param(f"x{E}[<u{E}[>1u{E}[=5u{E}[?u{E}[>4;?m{E}[?1007$p{E}[2 q{E}[>0q{E}[?6n y",
                 "x y", id="private-and-intermediate-CSI"),
    pytest.param(f"a{E}Ptmux;{E}{E}P+q4d73{E}{E}\\{E}{E}[?1016$p{E}\\b", "ab", id="tmux-DCS"),
    pytest.param(f"a{E}_Gi=31337,s=1,v=1,a=q,t=d,f=24;AAAA{E}\\b", "ab", id="kitty-APC"),
    pytest.param(f"a{E}]0;title{E}\\{E}]10;?\x07{E}]8;;http://x{E}\\link{E}]8;;{E}\\b",
                 "alinkb", id="OSC"),
    pytest.param(f"{E}(B{E})0{E}7{E}8{E}=text{E}>", "text", id="ESC-charsets-keypad"),
    pytest.param("a\x01\x02\x7fb\x00c", "abc", id="C0-controls"),
    pytest.param("⚠️ warn 👍🏽 ok e\u0301 ZWJ 👨\u200d💻 end", "⚠ warn 👍🏽 ok é ZWJ 👨💻 end",
                 id="zero-width-does-not-cut-the-line"),
    pytest.param("日本語 text", "日本語 text", id="wide"),
    pytest.param(f"abc{E}[1;2;3A{E}[1;2;3Bd", "abcd", id="extra-parameters"),
    pytest.param(f"abc{E}[2Gx{E}[3b", "axxxx", id="REP"),
    pytest.param("price [agentm", "price [agentm", id="held-back-for-a-marker-at-the-end"),
    pytest.param(f"keep{E}[3J", "keep", id="ED3-erases-saved-lines-only"),
])
def test_one_line(stream: str, want: str) -> None:
    out = render(stream)
    assert out == want + "\n"
    assert_clean(out)


def test_spinner_redraws_do_not_multiply_lines() -> None:
    spin = "".join(f"\r{E}[2K{E}[36m{'⠋⠙⠹⠸'[i % 4]}{E}[39m Working ({i}s)" for i in range(500))
    out = render(f"start\r\n{spin}\r{E}[2Kdone\r\n")
    assert out == "start\ndone\n"


def test_cursor_addressed_frame_replaces_the_screen() -> None:
    frames = "".join(f"{E}[1;1Hframe {i}{E}[K{E}[2;1Hstatus {i % 3}{E}[K" for i in range(300))
    assert render(frames) == "frame 299\nstatus 2\n"


def test_only_lines_that_scroll_off_become_scrollback() -> None:
    out = render("".join(f"line {i}\r\n" for i in range(25)), height=10)
    assert out.splitlines() == [f"line {i}" for i in range(25)]


def test_blank_runs_collapse_and_trailing_spaces_go() -> None:
    out = render("a   \r\n\r\n\r\n\r\n  b  \r\n\r\n\r\n", height=4)
    assert out == "a\n\n  b\n"


def test_long_line_wrapped_by_the_terminal_is_joined_without_gluing() -> None:
    words = " ".join(f"word{i:02d}" for i in range(30))  # a space falls on the wrap column
    out = render(words + "\r\nnext\r\n", width=20, height=5)
    assert out.splitlines() == [words, "next"]


@pytest.mark.parametrize("mode", ["1049", "1047", "47"])
def test_alternate_screen_keeps_its_last_frame_as_a_section(mode: str) -> None:
    stream = (f"before\r\n{E}[?{mode}h{E}[H{E}[2J"
              + "".join(f"{E}[2;3Hframe {i}{E}[3;3Hbox" for i in range(50))
              + f"{E}[?{mode}lafter\r\n")
    out = render(stream)
    assert out.splitlines() == ["before", "", ALT_HEADER, "  frame 49", "  box", ALT_FOOTER, "",
                                "after"]


def test_alternate_screen_cleared_before_leaving_keeps_the_frame_before_the_clear() -> None:
    out = render(f"{E}[?1049h{E}[1;1Hmenu{E}[2;1H> 1. yes{E}[2J{E}[?1049lbye\r\n")
    assert out.splitlines() == [ALT_HEADER, "menu", "> 1. yes", ALT_FOOTER, "", "bye"]


def test_stream_ending_on_the_alternate_screen_ends_with_that_screen() -> None:
    out = render(f"WARNING: x\r\n{E}[?1049h{E}[1;1H{E}[J{E}[3;3HPress enter to continue")
    assert out.splitlines() == ["WARNING: x", "", ALT_HEADER, "  Press enter to continue"]
    r = screen.renderer(40, 10)
    r.feed(f"main\r\n{E}[?1049h{E}[5;1Hon alt".encode())
    assert r.screen_lines() == ["on alt"]


def test_scrollback_keeps_its_head_and_tail_and_says_how_many_were_left_out() -> None:
    out = render("".join(f"line {i}\r\n" for i in range(20_000)), height=10, max_lines=100)
    lines = out.splitlines()
    # The head is capped by max_lines too; 9 lines are still on the screen.
    assert lines[:100] == [f"line {i}" for i in range(100)]
    assert lines[100] == "[agentmux: 19791 lines not shown here]"
    assert lines[101:] == [f"line {i}" for i in range(19_891, 20_000)]


def test_any_chunking_renders_the_same() -> None:
    stream = (f"héllo wörld 日本 {E}[1mbold{E}[0m\r\n{E}[?1049h{E}[2;2Hbox ✓{E}[?1049l"
              f"{E}Ptmux;{E}{E}[?1049h{E}\\after\r\n" * 20).encode()
    whole = screen.render_bytes(stream, 40, 10)
    rng = random.Random(7)
    for _ in range(30):
        r = screen.renderer(40, 10)
        i = 0
        while i < len(stream):
            n = rng.randint(1, 9)
            r.feed(stream[i:i + n])
            i += n
        assert r.transcript() == whole


def test_random_bytes_never_raise_nor_leave_an_escape() -> None:
    rng = random.Random(12)
    alphabet = [b"\x1b", b"[", b"?", b"1049", b"h", b"l", b";", b"5", b"m", b"P", b"\\", b"]",
                b"\x07", b"\r", b"\n", b"ab ", "✓".encode(), b"\xe2\x9c", b"\x9b", b"\x00"]
    for _ in range(200):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200)))
        out = screen.render_bytes(data, 20, 5)
        assert "\x1b" not in out


def test_capture_marker_becomes_a_line_of_its_own_even_on_the_alternate_screen() -> None:
    mark = capture.marker(123456).decode()
    out = render(f"head line\r\n{E}[?1049h{E}[5;5Hhal{mark}{E}[2;1Htail screen")
    # What was drawn before the gap stays where it was drawn.
    assert out.splitlines() == ["head line", "", "[agentmux: 123456 bytes dropped here]", "",
                                ALT_HEADER, "tail screen", "", "    hal"]


def test_richer_keeps_the_capture_with_more_content_and_the_earlier_on_a_tie() -> None:
    full, logo = "a conversation\nwith many words\n", "  logo   \n\n\n"
    assert screen.richer(full, logo) == full
    assert screen.richer(logo, full) == full
    assert screen.richer("ab", "b a") == "ab"


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _bytes_read() -> int:
    """What this process has read so far, through any file (the kernel's count)."""
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(io["rchar"])


def test_last_lines_reads_only_the_tail_of_a_big_log(tmp_path: Path) -> None:
    body = "".join(f"{E}[32mline {i}{E}[0m\r\n" for i in range(400_000)).encode()
    log = _write(tmp_path / "out.log", body)   # 7 MB: rendered whole, several seconds
    before = _bytes_read()
    assert screen.last_lines(log, 3) == ["line 399997", "line 399998", "line 399999"]
    assert _bytes_read() - before < 4 * screen.TAIL_BYTES < len(body) // 4


def test_tail_cut_inside_the_alternate_screen_is_played_there(tmp_path: Path) -> None:
    filler = "".join(f"{E}[5;1Hspinner {i}{E}[K" for i in range(30_000))
    log = _write(tmp_path / "out.log",
                 f"shell$ tui\r\n{E}[?1049h{E}[1;1Hmenu{filler}{E}[?1049lshell$ \r\n".encode())
    assert screen.last_lines(log, 4) == ["spinner 29999", ALT_FOOTER, "", "shell$"]


def test_screen_text_starts_from_the_last_full_redraw(tmp_path: Path) -> None:
    # A diff-drawing program: one full draw, then only a spinner cell, far past TAIL_BYTES.
    spins = "".join(f"{E}[10;1H{'⠋⠙⠹⠸'[i % 4]}" for i in range(100_000))
    log = _write(tmp_path / "out.log",
                 f"{E}[?1049h{E}[1;1H{E}[J{E}[2;3HTrust this folder?{E}[4;3H› 1. Yes{spins}"
                 .encode())
    assert screen.screen_text(log).splitlines() == ["  Trust this folder?", "", "  › 1. Yes",
                                                    "", "", "", "", "", "⠸"]


def test_render_file_over_its_budget_keeps_head_and_end_and_says_what_was_skipped(
        tmp_path: Path) -> None:
    body = "".join(f"line {i}\r\n" for i in range(300_000)).encode()
    log = _write(tmp_path / "out.log", body)
    lines = screen.render_file(log, 80, 24, max_lines=1000, max_bytes=256 * 1024).splitlines()
    assert lines[:200] == [f"line {i}" for i in range(200)]
    assert re.fullmatch(r"\[agentmux: \d+ lines and \d+ bytes of output not shown here\]",
                        lines[200])
    assert lines[-1000:] == [f"line {i}" for i in range(299_000, 300_000)]


def test_pyte_is_loaded_only_when_something_is_rendered() -> None:
    code = ("import sys, agentmux.screen, agentmux.capture; print('pyte' in sys.modules); "
            "agentmux.screen.render_bytes(b'x'); print('pyte' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]
    root = Path(__file__).resolve().parent.parent / "agentmux"
    importers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                       if re.search(r"^\s*(import pyte|from pyte)", p.read_text(), re.M))
    assert importers == ["screen/vt.py"]


def test_screen_text_after_a_full_screen_program_left_is_the_main_screen(tmp_path: Path) -> None:
    log = _write(tmp_path / "out.log", (f"$ tui\r\n{E}[?1049h{E}[2J{E}[1;1Hmenu{E}[?1049l"
                                        + "".join(f"out {i}\r\n" for i in range(100))
                                        + "$ ").encode())
    want = ["out 96", "out 97", "out 98", "out 99", "$"]
    assert screen.screen_text(log, 40, 5).splitlines() == want
