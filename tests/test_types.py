"""`failsoft.types.Target`: one object per (provider, model), so that the policies' dict
lookups hash and compare in C, and still a value: equal by value whichever way it was
made, immutable, picklable without its hash, readable."""

from __future__ import annotations

import copy
import dataclasses
import gc
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from failsoft import types
from failsoft.types import AttemptRecord, Target


def test_equal_by_value_whichever_way_it_was_made() -> None:
    made = Target("sim", "gpt-4o")
    others = [
        Target("sim", "gpt-4o"),
        Target(provider="sim", model="gpt-4o"),
        Target("".join(["s", "im"]), "gpt-" + "4o"),  # equal strings, other objects
        dataclasses.replace(Target("sim", "other"), model="gpt-4o"),
        copy.copy(made),
        copy.deepcopy(made),
        *(pickle.loads(pickle.dumps(made, protocol)) for protocol in range(6)),
    ]
    for other in others:
        assert other == made and hash(other) == hash(made)
        assert {made: 1}[other] == 1
    assert Target("sim", "gpt-4o-mini") != made
    assert Target("simNS", "gpt-4o") != made
    assert made != ("sim", "gpt-4o")
    assert AttemptRecord(made, "200") == AttemptRecord(others[0], "200")


def test_fields_label_repr_and_immutability() -> None:
    target = Target("sim", "gpt-4o")
    assert (target.provider, target.model, target.label) == ("sim", "gpt-4o", "sim/gpt-4o")
    assert repr(target) == "Target(provider='sim', model='gpt-4o')"
    assert [f.name for f in dataclasses.fields(target)] == ["provider", "model"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.model = "gpt-4o-mini"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del target.provider  # type: ignore[misc]
    assert Target("sim", "gpt-4o").model == "gpt-4o"


def test_pickle_carries_no_hash_to_another_process() -> None:
    """Another process salts string hashes differently: a target read back there must
    be the same key as one it makes itself."""
    data = pickle.dumps({Target("sim", "gpt-4o"): "kept"})
    check = (
        "import pickle, sys; from failsoft.types import Target; "
        "table = pickle.loads(sys.stdin.buffer.read()); "
        "assert table[Target('sim', 'gpt-4o')] == 'kept'; "
        "assert next(iter(table)) is Target('sim', 'gpt-4o')"
    )
    src = str(Path(types.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": src}
    subprocess.run([sys.executable, "-c", check], input=data, env=env, check=True)


def test_the_registry_keeps_only_live_targets() -> None:
    """Callers can name `provider/<any model>`: targets nobody holds any more are gone."""
    made = [Target("made-up", f"model-{i}") for i in range(1000)]
    assert sum(provider == "made-up" for provider, _ in list(types._TARGETS)) == 1000
    del made
    gc.collect()
    assert not [key for key in list(types._TARGETS) if key[0] == "made-up"]


def test_threads_making_the_same_target_get_one_object() -> None:
    start = threading.Barrier(8)
    made: list[Target] = []

    def make() -> None:
        start.wait()
        made.extend(Target("race", f"model-{i}") for i in range(200))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(200):
        same = {id(t) for t in made if t.model == f"model-{i}"}
        assert len(same) == 1


def test_attempt_record_is_the_frozen_dataclass_its_fields_say() -> None:
    """`AttemptRecord` writes its own `__init__` (a cheaper one than a frozen dataclass's):
    the same parameters, in field order, with the fields' defaults; immutable, equal and
    hashed by value, replaceable, picklable."""
    import inspect

    params = list(inspect.signature(AttemptRecord).parameters.values())
    fields = dataclasses.fields(AttemptRecord)
    assert [p.name for p in params] == [f.name for f in fields]
    for param, each in zip(params, fields, strict=True):
        assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        expected = inspect.Parameter.empty if each.default is dataclasses.MISSING else each.default
        assert param.default == expected and type(param.default) is type(expected)
    target = Target("sim", "gpt-4o")
    record = AttemptRecord(target, "529", "busy", False, 1.5, 2.0, "retry", False)
    assert (record.target, record.outcome, record.detail, record.transient) == (
        target,
        "529",
        "busy",
        False,
    )
    assert (record.duration, record.retry_after, record.kind, record.made) == (
        1.5,
        2.0,
        "retry",
        False,
    )
    same = AttemptRecord(target, "529", "busy", False, 1.5, 2.0, "retry", False)
    assert record == same and hash(record) == hash(same)
    assert AttemptRecord(target, "200") == AttemptRecord(
        target, "200", "", True, 0.0, None, "first", True
    )
    assert dataclasses.replace(record, outcome="200").outcome == "200"
    assert pickle.loads(pickle.dumps(record)) == record
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.outcome = "200"  # type: ignore[misc]
    with pytest.raises(TypeError):
        AttemptRecord(target)  # type: ignore[call-arg]
