"""``purerl.common.argv.scan_flags``: the three spellings, the next-token rule, and every
token kept once, in order."""

from purerl.common.argv import FlagToken, flag_name, scan_flags


def test_scan_flags_spellings_and_next_token_rule():
    argv = ["run", "--a", "1", "--b=x", "--num-envs", "--c", "--b=", "--a"]
    items = scan_flags(argv, {"a", "b", "num_envs"}, lambda name, nxt: name == "a")
    assert items == [FlagToken(None, None, ("run",)), FlagToken("a", "1", ("--a", "1")),
                     FlagToken("b", "x", ("--b=x",)), FlagToken("num_envs", None, ("--num-envs",)),
                     FlagToken(None, None, ("--c",)), FlagToken("b", "", ("--b=",)),
                     FlagToken("a", None, ("--a",))]           # at the end: nothing to take
    assert sum((t.tokens for t in items), ()) == tuple(argv)


def test_flag_name():
    assert flag_name("--num-envs=4") == "num_envs" and flag_name("num_envs") is None


def test_pop_resume_every_spelling():
    from purerl.cli.common import pop_resume

    assert pop_resume(["--seed", "1"]) == (["--seed", "1"], None)
    assert pop_resume(["--resume", "runs/a", "--seed", "1"]) == (["--seed", "1"], "runs/a")
    assert pop_resume(["--resume=runs/a"]) == ([], "runs/a")
    # a bare --resume (the older usage with --out_file) does not eat the next flag
    assert pop_resume(["--resume", "--out_file", "x"]) == (["--out_file", "x"], "")
    assert pop_resume(["--seed", "1", "--resume"]) == (["--seed", "1"], "")
    assert pop_resume(["--resume", "runs/a", "--no_resume"]) == ([], None)


def test_sac_last_value_is_the_last_spelling():
    from purerl.cli.sac import _last_value

    assert _last_value(["--num_envs", "4", "--num_envs=8"], "num_envs") == "8"
    assert _last_value(["--num_envs=8", "--num_envs", "2"], "num_envs") == "2"
    assert _last_value(["--seed", "1"], "num_envs") is None
