"""Value calls: Python objects in and out as MessagePack, failures as typed
exceptions, the sandbox's limits and grants as keyword arguments."""

import hashlib

import pytest

import ferry
from conftest import HISTOGRAM, ranges


def test_a_module_is_named_by_the_hash_of_its_bytes(guest):
    assert guest.id == "sha256:" + hashlib.sha256(bytes(guest)).hexdigest()
    names = {f["name"] for f in guest.functions}
    assert {"add", "greet", "fill", "merge"} <= names
    add = next(f for f in guest.functions if f["name"] == "add")
    assert add["kind"] == "value"


def test_calls_take_and_return_python_values(guest):
    assert guest.closure("add")(40, 2) == 42
    assert guest.closure("sum")([0.5, 1.5, 2.0]) == 4.0
    assert guest.closure("concat")("fer", "ry") == "ferry"
    assert guest.closure("word_count")("a b a") == {"a": 2, "b": 1}
    assert guest.closure("show")(-7) == "-7;"


def test_a_closure_carries_its_environment_and_blobs(guest):
    hello = guest.closure("greet", env="Hello")
    assert hello("Ada") == "Hello, Ada!"
    assert hello.env == "Hello"
    assert hello.with_env("Ahoy")("Ada") == "Ahoy, Ada!"
    sized = guest.closure("blob_size", blobs={"table": b"x" * 1000})
    assert sized("table") == 1000
    assert sized("other") is None
    assert sized.with_blob("other", b"abc")("other") == 3
    assert set(sized.blobs) == {"table"}


def test_histogram_fill_and_merge_as_a_map_reduce(guest):
    fill = guest.closure("fill", env=HISTOGRAM)
    merge = guest.closure("merge")
    parts = [fill(r) for r in ranges(10000, 4)]
    total = parts[0]
    for part in parts[1:]:
        total = merge(total, part)
    whole = fill({"start": 0, "end": 10000})
    assert total == whole
    assert sum(whole["counts"]) + whole["underflow"] + whole["overflow"] == 10000


def test_guest_failures_are_typed_exceptions_with_the_guests_words(guest):
    with pytest.raises(ferry.GuestError) as failed:
        guest.closure("divide")(1, 0)
    assert failed.value.kind == "error"
    assert failed.value.message == "cannot divide 1 by 0"
    assert failed.value.function == "divide"

    with pytest.raises(ferry.GuestError) as failed:
        guest.closure("boom")("on purpose")
    assert failed.value.kind == "panic" and failed.value.message == "on purpose"
    assert "\n" not in str(failed.value)

    with pytest.raises(ferry.GuestError) as failed:
        guest.closure("add")("forty", 2)
    assert failed.value.kind == "bad_argument"


def test_the_sandbox_is_set_by_keyword_and_holds(guest):
    with pytest.raises(ferry.GuestError) as failed:
        guest.closure("spin")(timeout=0.2)
    assert failed.value.kind == "timeout"
    with pytest.raises(ferry.GuestError) as failed:
        guest.closure("hog")(memory=32)
    assert failed.value.kind == "memory_limit"

    env_var = guest.closure("env_var")
    assert env_var("MODE") is None
    assert env_var("MODE", grant_env={"MODE": "fast"}) == "fast"
    assert guest.closure("now")() == 0
    assert guest.closure("now")(grant_clock=True) > 1_600_000_000

    with pytest.raises(TypeError, match="unexpected keyword argument `memroy`"):
        guest.closure("add")(1, 2, memroy=64)


def test_what_ferry_cannot_take_is_refused_in_one_line(guest):
    with pytest.raises(ferry.FerryError, match="not a valid WebAssembly module"):
        ferry.Module(b"\0asm junk")
    with pytest.raises(ferry.FerryError, match="has no function `nope`"):
        guest.closure("nope")
    with pytest.raises(TypeError, match="cannot receive a object"):
        guest.closure("add")(object(), 1)
    with pytest.raises(OverflowError):
        guest.closure("add")(2**70, 1)
    with pytest.raises(ferry.FerryError, match="not a ferry closure"):
        ferry.Closure.from_bytes(b"pickle? no")


def test_load_takes_what_the_cli_takes(guest, tmp_path):
    import os

    crate = os.path.join(os.environ["FERRY_TEST_ROOT"], "examples", "guest")
    assert ferry.load(crate) == guest  # built from source, the same bytes
    assert ferry.load(os.environ["FERRY_TEST_GUEST"]) == guest
    pickled = tmp_path / "hello.closure"
    pickled.write_bytes(guest.closure("greet", env="Hi").to_bytes())
    assert ferry.load(str(pickled))("Bo") == "Hi, Bo!"
    with pytest.raises(ferry.FerryError, match="no such file"):
        ferry.load(str(tmp_path / "missing.wasm"))
