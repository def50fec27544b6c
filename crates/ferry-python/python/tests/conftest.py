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
