"""A closure pickles as its ferry bytes, the same bytes Rust writes, and runs
in another interpreter that has nothing but those bytes."""

import os
import pickle
import subprocess
import sys

import pytest

import ferry


def test_python_encodes_a_closure_as_rust_does(guest):
    with open(os.environ["FERRY_TEST_RUST_CLOSURE"], "rb") as f:
        rust = f.read()
    hello = guest.closure("greet", env="Hello")
    assert hello.to_bytes() == rust
    assert ferry.Closure.from_bytes(rust)("Ada") == "Hello, Ada!"
    assert ferry.Closure.from_bytes(rust).id == hello.id


def test_a_pickled_closure_runs_in_a_fresh_interpreter(guest, tmp_path):
    hello = guest.closure("greet", env="Hello", blobs={"table": b"t" * 10})
    pickled = tmp_path / "closure.pickle"
    pickled.write_bytes(pickle.dumps(hello))
    program = (
        "import pickle, sys\n"
        "c = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(c('Grace'), c.blobs['table'] == sys.argv[2])\n"
    )
    # Another process, another store: the module travels inside the bytes.
    env = dict(os.environ, FERRY_STORE=str(tmp_path / "store"))
    out = subprocess.run(
        [sys.executable, "-c", program, str(pickled), hello.blobs["table"]],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert out == "Hello, Grace! True\n"


def test_modules_pickle_too_and_a_reference_needs_the_store(guest):
    assert pickle.loads(pickle.dumps(guest)) == guest
    add = guest.closure("add")
    by_reference = add.to_bytes(by_reference=True)
    assert len(by_reference) < len(add.to_bytes()) // 10
    with pytest.raises(ferry.FerryError, match="not in the store|no store"):
        ferry.Closure.from_bytes(by_reference)
