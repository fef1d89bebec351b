"""Model tests run single-threaded.

The models under test are tiny (or run once); intra-op threads buy nothing, and on a busy
2-core machine OpenMP's spinning threads made ``test_zoo.py`` about 7x slower (measured:
the overfit tests took 3 min with torch's default threads, 24 s with one).
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
