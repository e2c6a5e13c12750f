"""NumPyro's tests run with warnings as errors (its ``setup.cfg``: ``filterwarnings = error``),
so ours run its adapted tests the same way: a kernel that warns on a run NUTS runs quietly
fails here. A test's own ``filterwarnings`` marks, closer to it, still take precedence."""

import pathlib

import pytest

HERE = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in pathlib.Path(item.fspath).parents:
            item.add_marker(pytest.mark.filterwarnings("error"), append=False)
