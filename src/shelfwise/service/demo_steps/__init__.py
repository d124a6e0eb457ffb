"""Demo steps contributed by each capability (see :func:`shelfwise.service.demo.all_steps`).

A module here defines ``ORDER: int`` and ``STEPS: list[DemoStep]``. Conventional orders:
10 lifecycle, 20 recommend (train, evaluate), 30 text (sentiment), 40 exposure policies,
50 experiments, 60 search / pricing / risk.
"""
