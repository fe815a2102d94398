"""Meta-training, in parts: the run's settings and flags (``config``), the training generator
(``trainer``), what a run writes (``sinks``), resuming a run (``resume``) and stopping it cleanly
(``signals``). ``python -m core.train`` ties them together."""
