"""A relative SQLite store path is read from the config file's directory, so `failsoft serve`
and `failsoft keys` open the same file wherever they are started."""

from __future__ import annotations

from pathlib import Path

from failsoft.config import load_config, parse_config

BASE = """
providers: {o: {dialect: openai, base_url: "http://127.0.0.1:9", api_key: x}}
models: {m: {targets: [o/gpt]}}
"""


def test_relative_sqlite_path_is_read_from_the_config_directory(tmp_path: Path) -> None:
    file = tmp_path / "conf" / "failsoft.yaml"
    file.parent.mkdir()
    file.write_text(BASE + 'store: {url: "sqlite:///state/failsoft.db"}\n')
    url = load_config(file).store.url
    assert url == "sqlite:///" + str((file.parent / "state" / "failsoft.db").resolve())


def test_absolute_memory_and_unset_stores_are_left_alone(tmp_path: Path) -> None:
    file = tmp_path / "failsoft.yaml"
    for given in ("sqlite:////var/lib/failsoft/f.db", "sqlite:///:memory:", "memory://"):
        file.write_text(BASE + f'store: {{url: "{given}"}}\n')
        assert load_config(file).store.url == given
    file.write_text(BASE)
    assert load_config(file).store.url is None


def test_a_config_without_a_file_keeps_the_working_directory() -> None:
    config = parse_config(BASE + 'store: {url: "sqlite:///x.db"}\n')
    assert config.store.url == "sqlite:///x.db"
