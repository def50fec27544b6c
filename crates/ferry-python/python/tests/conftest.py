"""The example guests, built from source by the Rust test that runs pytest."""

import os

import pytest

import ferry


@pytest.fixture(scope="session")
def guest():
    return ferry.Module.from_file(os.environ["FERRY_TEST_GUEST"])


@pytest.fixture(scope="session")
def udfs():
    return ferry.Module.from_file(os.environ["FERRY_TEST_UDFS"])


# The histogram of the demo: `fill` over event ranges, `merge` of the parts.
HISTOGRAM = {"bins": 20, "lo": 0.0, "hi": 200.0, "peak": 91.2, "width": 2.5, "seed": 7}


def ranges(events, parts):
    """`events` event numbers in `parts` half-open ranges."""
    step = events // parts
    return [{"start": s, "end": min(s + step, events)} for s in range(0, events, step)]


def haversine(lat1, lon1, lat2, lon2):
    """The example's haversine in Python, for rows checked one by one."""
    import math

    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))
