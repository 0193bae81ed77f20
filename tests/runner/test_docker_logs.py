"""How the docker backend cuts a container's output into log lines."""

from __future__ import annotations

from wharf_runner.backends.docker_logs import MAX_LOG_LINE_BYTES, split_lines


def test_whole_lines_and_the_rest() -> None:
    assert split_lines(b"one\ntwo\nthr") == ([b"one", b"two"], b"thr")


def test_output_without_newlines_is_cut_into_bounded_lines() -> None:
    lines, rest = split_lines(b"x" * (2 * MAX_LOG_LINE_BYTES + 5))

    assert [len(line) for line in lines] == [MAX_LOG_LINE_BYTES, MAX_LOG_LINE_BYTES]
    assert rest == b"xxxxx"
