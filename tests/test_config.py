"""course_lib.config: profiles, pick(), device, data directory, seeds."""

import os
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


# -- CPU threads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("physical, usable, load, expected", [
    (2, 2, 0.0, 2),    # an idle laptop: every core
    (2, 2, 0.4, 2),    # a little background noise does not cost a core
    (2, 2, 0.6, 1),    # one core mostly busy
    (2, 2, 1.0, 1),
    (2, 2, 5.7, 1),    # overloaded: one thread, never zero
    (4, 8, 0.0, 4),    # hyperthreads do not count
    (8, 8, 3.2, 5),
    (8, 2, 0.0, 2),    # a container's quota or affinity mask caps it
])
def test_choose_threads_leaves_busy_cores_alone(physical, usable, load, expected):
    assert config.choose_threads(physical, usable, load) == expected


def test_physical_cores_counts_distinct_cores_of_every_package(tmp_path):
    lines = []
    for cpu, (package, core) in enumerate([(0, 0), (0, 1), (0, 0), (0, 1), (1, 0), (1, 1), (1, 0), (1, 1)]):
        lines += [f"processor\t: {cpu}", f"physical id\t: {package}", f"core id\t\t: {core}", ""]
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("\n".join(lines))
    assert config.physical_cores(cpuinfo) == 4
    cpuinfo.write_text("processor\t: 0\nmodel name\t: a CPU that names no cores\n")
    assert config.physical_cores(cpuinfo) == (os.cpu_count() or 1)


def test_usable_cpus_obeys_the_container_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")  # 1.5 CPUs -> 2
    assert config.usable_cpus(cpu_max) == 2
    cpu_max.write_text("max 100000\n")
    assert config.usable_cpus(cpu_max) == 4
    assert config.usable_cpus(tmp_path / "missing") == 4


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_configure_threads_from_load(monkeypatch, restore_threads):
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    monkeypatch.setattr(config, "physical_cores", lambda: 2)
    monkeypatch.setattr(config, "usable_cpus", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.5, 0.5))
    assert config.configure_threads() == 2
    assert torch.get_num_threads() == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 2.0, 1.0))
    assert config.configure_threads() == 1
    assert torch.get_num_threads() == 1


def test_configure_threads_argument_and_variable_win(monkeypatch, restore_threads, capsys):
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    monkeypatch.setenv("COURSE_THREADS", "2")
    assert config.configure_threads() == 2
    assert config.configure_threads(1, verbose=True) == 1
    assert capsys.readouterr().out == "torch uses 1 CPU thread\n"
    monkeypatch.setenv("COURSE_THREADS", "two")
    with pytest.raises(ValueError, match=r"COURSE_THREADS must be a whole number of threads; got 'two'"):
        config.configure_threads()
    with pytest.raises(ValueError, match="at least 1; got 0"):
        config.configure_threads(0)


@pytest.mark.parametrize("cores, load, jobs, expected", [
    (2, 0.0, 1, 2),    # a quiet laptop, one chapter after another: both cores each time
    (2, 1.0, 1, 1),    # another program keeps one core busy
    (16, 0.0, 9, 1),   # nine chapters at once on a GPU machine's 16 cores
    (16, 0.0, 4, 4),
    (2, 0.0, 3, 1),    # never fewer than one
])
def test_threads_per_job_shares_the_idle_cores_out(monkeypatch, cores, load, jobs, expected):
    monkeypatch.setattr(config, "physical_cores", lambda: cores)
    monkeypatch.setattr(config, "usable_cpus", lambda: cores)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert config.threads_per_job(jobs) == expected
