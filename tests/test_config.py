"""course_lib.config: profiles, pick(), device, data directory, seeds."""

import random

import numpy as np
import pytest
import torch

from course_lib import config


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "turbo")
    with pytest.raises(config.ProfileError, match=r"'turbo' is not a profile; use one of smoke, cpu, full"):
        config.profile()
    assert issubclass(config.ProfileError, ValueError)


@pytest.mark.parametrize("name, expected", [("smoke", 2), ("cpu", 5), ("full", 40), (" SMOKE ", 2)])
def test_pick_returns_the_value_of_the_active_profile(monkeypatch, name, expected):
    monkeypatch.setenv("COURSE_PROFILE", name)
    assert config.pick(smoke=2, cpu=5, full=40) == expected


def test_pick_with_an_unknown_profile_raises(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "laptop")
    with pytest.raises(config.ProfileError):
        config.pick(smoke=1, cpu=2, full=3)


def test_default_profile_is_cpu_without_cuda(monkeypatch, no_gpu):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert config.profile() == "cpu"
    monkeypatch.setenv("COURSE_PROFILE", "")  # empty counts as unset
    assert config.profile() == "cpu"
    assert config.device() == torch.device("cpu")


def test_default_profile_is_full_with_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.profile() == "full"


def test_data_dir_from_variable_or_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    assert config.data_dir() == tmp_path / "data"
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert config.data_dir() == tmp_path / "cache" / "rnn-course" / "data"


def _draws():
    return torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)]


def test_seed_everything_repeats_torch_numpy_and_python_draws():
    config.seed_everything(1234)
    first = _draws()
    config.seed_everything(1234)
    second = _draws()
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    assert first[2] == second[2]
    config.seed_everything(1235)
    assert not torch.equal(first[0], _draws()[0])
