"""The progress line gets a bar on a terminal and stays plain in logs and pipes."""

import io

import numpy as np

from purerl.common.logging import Progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _segment(stream):
    progress = Progress(100, 10, stream=stream)
    progress.compiled(1.0)
    progress.segment(50, {"episode_return_sum": np.ones((2, 5)),
                          "episode_count": np.ones((2, 5))})
    return stream.getvalue().splitlines()


def test_terminal_gets_a_bar_on_the_same_line():
    lines = _segment(_Terminal())
    assert len(lines) == 2 and "━" in lines[1] and "update  50/100" in lines[1]
    assert "ETA" in lines[1]


def test_pipe_gets_the_plain_line():
    lines = _segment(io.StringIO())
    assert lines[1].startswith("  update  50/100  return 1.000") and "━" not in lines[1]


def test_line_shows_the_newest_evaluation_mean_over_runs():
    progress = Progress(100, 10, stream=io.StringIO())
    progress.compiled(1.0)
    nan = np.nan
    evals = np.array([[nan, 4.0, nan, 6.0], [nan, 2.0, nan, 8.0]])   # [runs, updates]
    line = progress.segment(4, {"episode_return_sum": np.ones((2, 4)),
                                "episode_count": np.ones((2, 4)), "eval/return": evals})
    assert "eval 7.0" in line
    line = progress.segment(8, {"episode_return_sum": np.ones((2, 4)),
                                "episode_count": np.ones((2, 4)),
                                "eval/return": np.full((2, 4), nan)})
    assert "eval" not in line
