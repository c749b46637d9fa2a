"""MuJoCo physics tasks on MJX (``mujoco.mjx``), in the ``envs_jax`` protocol.

Modules: ``base`` (MJCF loading with clear errors, the MJX adapter), ``locomotion``
(D4RL's gym MuJoCo tasks), ``antmaze``, ``cheetah_run`` (DMC, with an in-jit pixel
renderer in ``render``), ``record`` (one episode of a policy rendered in one compiled
call, for evaluation videos), ``humanoid`` + ``motion_lib`` (the AMP humanoid). Assets and their
provenance/licences live in ``assets/``. Tasks are registered in ``envs_jax`` by id.
"""
