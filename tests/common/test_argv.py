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
