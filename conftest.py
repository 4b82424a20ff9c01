"""Test session set-up: no hub calls, the smoke profile, and a throw-away runs folder."""

import os
import tempfile

# Set before anything imports companion (its paths are read at import time); the
# notebook kernels that nbval starts inherit these too.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("COURSE_RUNS_DIR", tempfile.mkdtemp(prefix="course-test-runs-"))
os.environ.setdefault("MPLBACKEND", "Agg")
# Tiny models run as fast on one thread, and a busy machine does not thrash
os.environ.setdefault("OMP_NUM_THREADS", "1")
# toy stages train in less time than a worker process takes to start (companion.parallel)
os.environ.setdefault("COURSE_WORKERS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would only clutter the logs


# The lessons that train the most (the oracle, every method, both sizes, the attacks)
# run in the slow tier: `make test` stays short, `make test-slow` and CI run them.
SLOW_NOTEBOOKS = {"04_evaluation", "05_model_capacity", "07_is_it_really_gone"}


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        if item.path.suffix == ".ipynb" and item.path.stem in SLOW_NOTEBOOKS:
            item.add_marker(pytest.mark.slow)
        if hasattr(item, "output_timeout"):
            # nbval waits a fixed 5 s for a cell's outputs after the kernel replied;
            # a busy machine (two kernels, a CI job beside) can take longer, and the
            # cell then fails with "Timeout of 5 seconds exceeded waiting for output"
            item.output_timeout = 60
