"""The shipped assets, installed as the package ``core.assets`` (pyproject.toml's package-dir).

Only ``checkpoints/*.pt`` and ``checkpoints/*.openset.json`` go into the built distribution;
``resumable/`` (training states to continue runs) stays in the source tree. Found through
``core.shipped.checkpoint_dir``.
"""
