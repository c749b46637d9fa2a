"""The main job's threshold, at full size (about 5 min on a 2-core CPU): marked slow."""

import pytest

from purerl.cli import rl2 as rl2_cli


@pytest.mark.slow
def test_main_job_scores_at_least_6_4(tmp_path):
    summary = rl2_cli.main([f"--runs_dir={tmp_path}", "--out_file=main", "--log_every=0"])
    e = summary["eval"]
    assert e["score_mean"] >= 6.4, e
    assert min(e["score_per_seed"]) >= 6.3, e
