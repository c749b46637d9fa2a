"""The pixel-RL task stacks (DMC / dmc2gym conventions), built from a task name.

``make_pixel_env(task, action_repeat, frame_stack, image_size, pixels)`` returns the base env
(no auto-reset, unvectorised) the SAC+AE agent trains on:

* ``"cheetah_run"``: ``FrameStack(MjxPixels(ActionRepeat(CheetahRun("state"), R)), k)``, the
  84x84 ``side`` camera (dmc2gym camera_id 0) rendered in JAX once per agent step; with
  ``pixels=False`` the 17-d state, ``ActionRepeat(CheetahRun("state"), R)`` (the seed's
  ``--encoder_type identity``: no frame stack).
* ``"pendulum_swingup"``: a cheap CPU stand-in, ``FrameStack(ActionRepeat(PixelPendulum(S),
  R), k)`` (gymnax ``Pendulum-v1`` drawn as an S x S image; ``envs_jax.pixel_pendulum``);
  ``pixels=False``: gymnax's ``(cos, sin, thdot)`` state.
* ``"point_mass_reach"``: the cheapest, ``FrameStack(ActionRepeat(PixelPointMass(S), R), k)``
  (a dot moved to the centre of a square by velocity commands; ``envs_jax.pixel_point_mass``);
  ``pixels=False``: its ``[2]`` position.

Observations are ``[S, S, 3k]`` uint8, channels last (``FrameStack``'s layout). Action
repeat defaults: ``DMC_ACTION_REPEAT`` (cheetah_run 4), pendulum 2, point mass 2.
"""

from __future__ import annotations

from envs_jax.core import Environment
from envs_jax.wrappers import DMC_ACTION_REPEAT, ActionRepeat, FrameStack

__all__ = ["DEFAULT_ACTION_REPEAT", "PIXEL_TASKS", "make_pixel_env"]

PIXEL_TASKS = ("cheetah_run", "pendulum_swingup", "point_mass_reach")
DEFAULT_ACTION_REPEAT = {**DMC_ACTION_REPEAT, "pendulum_swingup": 2, "point_mass_reach": 2}


def make_pixel_env(task: str, action_repeat: int | None = None, frame_stack: int = 3,
                   image_size: int = 84, pixels: bool = True,
                   settle_steps: int | None = None) -> tuple[Environment, object]:
    """``(env, params)`` of ``task`` (``PIXEL_TASKS``) as described in the module docstring.

    Args:
        task: one of ``PIXEL_TASKS``.
        action_repeat: R (None: ``DEFAULT_ACTION_REPEAT[task]``).
        frame_stack: k frames per observation (pixels only).
        image_size: image side S in pixels.
        pixels: image observations (else the task's state vector).
        settle_steps: cheetah's zero-control steps at reset (None: DMC's 200).

    Raises:
        ValueError: unknown ``task`` or bad sizes (from the wrappers / envs).
    """
    if task not in PIXEL_TASKS:
        raise ValueError(f"make_pixel_env: task: expected one of {PIXEL_TASKS}, got {task!r}")
    repeat = DEFAULT_ACTION_REPEAT[task] if action_repeat is None else action_repeat
    if task == "cheetah_run":
        from envs_jax.mjx.cheetah_run import SETTLE_STEPS, CheetahRun
        from envs_jax.mjx.pixels import MjxPixels
        from envs_jax.mjx.render import Camera

        base = CheetahRun("state", settle_steps=SETTLE_STEPS if settle_steps is None
                          else settle_steps)
        env = ActionRepeat(base, repeat)
        if pixels:
            camera = Camera(base.mj_model, "side", width=image_size, height=image_size)
            env = FrameStack(MjxPixels(env, camera), frame_stack)
        return env, env.default_params()
    if task == "point_mass_reach":
        from envs_jax.pixel_point_mass import PixelPointMass

        env = ActionRepeat(PixelPointMass(image_size, pixels=pixels), repeat)
        if pixels:
            env = FrameStack(env, frame_stack)
        return env, env.default_params()
    if pixels:
        from envs_jax.pixel_pendulum import PixelPendulum

        env = FrameStack(ActionRepeat(PixelPendulum(image_size), repeat), frame_stack)
    else:
        from envs_jax.gymnax_adapter import GymnaxAdapter
        import gymnax

        env = ActionRepeat(GymnaxAdapter(gymnax.make("Pendulum-v1")[0]), repeat)
    return env, env.default_params()
