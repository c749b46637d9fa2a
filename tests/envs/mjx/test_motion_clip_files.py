"""Motion clips from the user: poselib ``.npy`` files and ``.yaml`` motion sets.

Every bad clip is the shipped walk clip with one field changed, written to ``tmp_path``;
each error must be one line naming the file and the field. No physics is stepped (the
humanoid is only constructed), so the module stays in the fast tier.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

from envs_jax.mjx import humanoid as hm
from envs_jax.mjx import motion_lib as ml

WALK = os.path.join(hm.MOTIONS_DIR, "amp_humanoid_walk.npy")
RUN = os.path.join(hm.MOTIONS_DIR, "amp_humanoid_run.npy")


@pytest.fixture(scope="module")
def walk_raw() -> dict:
    return np.load(WALK, allow_pickle=True).item()


def _write(tmp_path, name: str, raw: dict) -> str:
    path = str(tmp_path / name)
    np.save(path, raw, allow_pickle=True)
    return path


def _changed(raw: dict, edit) -> dict:
    out = copy.deepcopy(raw)
    edit(out)
    return out


def _one_line_error(fn, *fragments: str) -> str:
    with pytest.raises(ValueError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


@pytest.mark.parametrize("fps, shown", [("60", "str"), (None, "NoneType"), (True, "bool"),
                                        ([60], "list"), (np.array([60.0, 30.0]), "ndarray")])
def test_an_fps_of_the_wrong_type_names_the_file_and_field(tmp_path, walk_raw, fps, shown):
    path = _write(tmp_path, "walk_bad_fps.npy",
                  _changed(walk_raw, lambda r: r.__setitem__("fps", fps)))
    assert _one_line_error(lambda: ml.load_motion_clip(path), "walk_bad_fps.npy", "'fps'",
                    "a number", shown)


@pytest.mark.parametrize("fps", [60, np.int64(60), np.float32(60.0), np.array(60.0),
                                 np.array([60])])
def test_every_numeric_fps_type_loads_as_a_float(tmp_path, walk_raw, fps):
    path = _write(tmp_path, "walk_fps.npy", _changed(walk_raw, lambda r: r.__setitem__("fps", fps)))
    clip = ml.load_motion_clip(path)
    assert isinstance(clip.fps, float) and clip.fps == 60.0


def test_a_non_positive_fps_is_refused(tmp_path, walk_raw):
    path = _write(tmp_path, "walk_zero_fps.npy",
                  _changed(walk_raw, lambda r: r.__setitem__("fps", 0)))
    assert _one_line_error(lambda: ml.load_motion_clip(path), "walk_zero_fps.npy", "'fps'", "> 0")


def test_a_renamed_body_is_a_wrong_skeleton(tmp_path, walk_raw):
    def rename(r):
        names = list(r["skeleton_tree"]["node_names"])
        names[5] = "right_paw"
        r["skeleton_tree"]["node_names"] = names

    path = _write(tmp_path, "walk_paw.npy", _changed(walk_raw, rename))
    assert _one_line_error(lambda: ml.load_motion_clip(path), "walk_paw.npy",
                    "'skeleton_tree.node_names'", "'right_paw' where 'right_hand' belongs")


def test_a_skeleton_with_a_body_less_names_the_count(tmp_path, walk_raw):
    def drop_left_foot(r):
        tree = r["skeleton_tree"]
        tree["node_names"] = list(tree["node_names"])[:14]
        tree["parent_indices"]["arr"] = tree["parent_indices"]["arr"][:14]
        tree["local_translation"]["arr"] = tree["local_translation"]["arr"][:14]
        for key in ("rotation", "global_velocity", "global_angular_velocity"):
            r[key]["arr"] = r[key]["arr"][:, :14]

    path = _write(tmp_path, "walk_14.npy", _changed(walk_raw, drop_left_foot))
    assert _one_line_error(lambda: ml.load_motion_clip(path), "walk_14.npy",
                    "'skeleton_tree.node_names'", "the 15 bodies", "got 14 bodies")


def test_a_wrong_body_count_in_the_frames_names_the_array(tmp_path, walk_raw):
    path = _write(tmp_path, "walk_rot14.npy", _changed(
        walk_raw, lambda r: r["rotation"].__setitem__("arr", r["rotation"]["arr"][:, :14])))
    assert _one_line_error(lambda: ml.load_motion_clip(path), "walk_rot14.npy", "'rotation'",
                    "15 bodies", "shape [154, 14, 4]")
    path = _write(tmp_path, "walk_vel.npy", _changed(
        walk_raw, lambda r: r["global_velocity"].__setitem__(
            "arr", r["global_velocity"]["arr"][:100])))
    assert _one_line_error(lambda: ml.load_motion_clip(path), "walk_vel.npy", "'global_velocity'",
                    "[154, 15, 3]", "shape [100, 15, 3]")


def test_non_finite_and_non_numeric_arrays_are_refused(tmp_path, walk_raw):
    def nan(r):
        r["root_translation"]["arr"] = r["root_translation"]["arr"].copy()
        r["root_translation"]["arr"][3, 1] = np.nan

    path = _write(tmp_path, "walk_nan.npy", _changed(walk_raw, nan))
    assert _one_line_error(lambda: ml.load_motion_clip(path), "walk_nan.npy", "'root_translation'",
                    "finite", "1 NaN/inf")
    path = _write(tmp_path, "walk_str.npy", _changed(
        walk_raw, lambda r: r["rotation"].__setitem__("arr", np.array(["a", "b"]))))
    assert _one_line_error(lambda: ml.load_motion_clip(path), "walk_str.npy", "'rotation'",
                           "numeric")


def test_a_clip_of_another_body_size_does_not_fit_the_humanoid(tmp_path, walk_raw):
    def scale(r):
        r["skeleton_tree"]["local_translation"]["arr"] = (
            r["skeleton_tree"]["local_translation"]["arr"] * 1.1)

    path = _write(tmp_path, "walk_tall.npy", _changed(walk_raw, scale))
    assert ml.load_motion_clip(path).local_rot.shape == (154, 15, 4)  # a valid clip ...
    assert _one_line_error(lambda: hm.AMPHumanoid(motion_files=path), "walk_tall.npy",  # ... misfit
                    "'skeleton_tree.local_translation'", "model's body offsets", "m away")


def test_a_yaml_motion_set_loads_into_the_humanoid_with_its_weights(tmp_path):
    os.symlink(WALK, tmp_path / "walk.npy")
    os.symlink(RUN, tmp_path / "run.npy")
    (tmp_path / "set.yaml").write_text(
        "motions:\n  - file: walk.npy\n    weight: 3\n  - file: run.npy\n    weight: 1.0\n")
    env = hm.AMPHumanoid(motion_files=str(tmp_path / "set.yaml"))
    lib = env.default_params().motion
    np.testing.assert_allclose(lib.clip_weight, [0.75, 0.25])
    np.testing.assert_array_equal(lib.clip_frames, [154, 82])
    np.testing.assert_allclose(lib.clip_length, [153 / 60, 81 / 60], rtol=1e-6)


def test_yaml_errors_name_the_yaml_and_the_entry(tmp_path, walk_raw):
    os.symlink(WALK, tmp_path / "walk.npy")
    _write(tmp_path, "bad.npy", _changed(walk_raw, lambda r: r.__setitem__("fps", "fast")))
    cases = {
        "missing.yaml": ("motions:\n  - file: walk.npy\n  - file: nope.npy\n",
                         ["'motions[1].file'", "nope.npy"]),
        "weight.yaml": ("motions:\n  - file: walk.npy\n    weight: heavy\n",
                        ["'motions[0].weight'", "a number >= 0", "'heavy'"]),
        "negative.yaml": ("motions:\n  - file: walk.npy\n    weight: -1\n",
                          ["'motions[0].weight'", "-1"]),
        "empty.yaml": ("clips: [walk.npy]\n", ["'motions'", "non-empty list"]),
        "badclip.yaml": ("motions:\n  - file: walk.npy\n  - file: bad.npy\n",
                         ["bad.npy", "'fps'", "badclip.yaml", "motions[1]"]),
    }
    for name, (text, fragments) in cases.items():
        (tmp_path / name).write_text(text)
        assert _one_line_error(lambda n=name: ml.load_motion_lib(str(tmp_path / n)), name,
                               *fragments)
