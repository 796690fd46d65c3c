"""ppo_jax.io.configfile: TOML config files and seed specifications; every bad document is one
ValueError naming the file (and the key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ppo_jax.io.configfile import load_config_file, parse_seeds


def test_parse_seeds():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,5,9") == [0, 5, 9]
    assert parse_seeds("3:6") == [3, 4, 5]
    assert parse_seeds(2) == [0, 1]
    assert parse_seeds([0, 1]) == [0, 1]
    assert parse_seeds("4294967295,0") == [4294967295, 0]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("x", "--seeds takes a count"),
        ("4294967296", "a count must be in"),
        ("0:4294967296", "at most"),
        ("4294967296,1", r"in \[0, 2\*\*32\)"),
        ("-1,2", r"in \[0, 2\*\*32\)"),
        ("0,0", "more than once"),
        ("3:3", "names no seed"),
        ([0, "a"], "takes a count"),
        ([True], "takes a count"),
        (1.5, "takes a count"),
        ({"a": 1}, "takes a count"),
        (0, "a count must be in"),
        ("0:1:2", r"--seeds takes a count \(8\), a list \(0,5,9\) or a range \(3:7\)"),
        ("1.5", "--seeds takes a count"),
        ("3:", "--seeds takes a count"),
        ("0;1", "--seeds takes a count"),
        ("9" * 5000, "--seeds takes a count"),
        ("1048577", r"a count must be in \[1, 1048576\]"),
        ("0:1048577", "at most 1048576"),
    ],
)
def test_bad_seeds_name_the_flag(value, needle):
    with pytest.raises(ValueError, match=needle):
        parse_seeds(value)


def test_config_file_fields_and_seeds(tmp_path: Path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('num_envs = 4\nhidden_sizes = [8]\nseeds = [0, 1]\nenv_name = "Acrobot-v1"\n')
    assert load_config_file(cfg) == {
        "num_envs": 4,
        "hidden_sizes": [8],
        "seeds": [0, 1],
        "env_name": "Acrobot-v1",
    }
    cfg.write_text('seeds = "0:3"\n')
    assert load_config_file(cfg)["seeds"] == [0, 1, 2]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"num_envz = 4\n", "unknown key"),
        (b"num_envs = [\n", "invalid TOML"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"a = " + b"[" * 100_000 + b"]" * 100_000, "invalid TOML"),
        (b"seeds = 4294967296\n", "seeds"),
        (b"seeds = [0, 0]\n", "more than once"),
        (b"seeds = 2.5\n", "seeds"),
        (b"seeds = {a = 1}\n", "seeds"),
        (b'seeds = "0:1:2"\n', r'seeds takes a count \(seeds = 8\).*range \(seeds = "3:7"\)'),
        (b"seeds = [1, 2.5]\n", "seeds = 8"),
        (b"x" * 10_000_000 + b" = 1\n", "larger than"),
    ],
)
def test_bad_documents_name_the_file(tmp_path: Path, content, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_bytes(content)
    with pytest.raises(ValueError, match=needle) as info:
        load_config_file(cfg)
    assert "bad.toml" in str(info.value) and len(str(info.value)) < 2000


def test_a_long_unknown_key_is_not_echoed_whole(tmp_path: Path):
    cfg = tmp_path / "long.toml"
    cfg.write_text("k" * 100_000 + " = 1\n")
    with pytest.raises(ValueError, match="unknown key") as info:
        load_config_file(cfg)
    assert len(str(info.value)) < 2000


def test_missing_file(tmp_path: Path):
    with pytest.raises(ValueError, match="cannot read"):
        load_config_file(tmp_path / "none.toml")
