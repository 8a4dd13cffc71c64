"""engines/core/cpu.py: CPUs sold under one brand string are told apart (thread cache, bench results)."""
import builtins
import io

import pytest

from engines import threads
from engines.core.cpu import cpu_identity, cpu_label, parse_cpuinfo

ZEN1 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
model name\t: AMD EPYC
stepping\t: 2
cpu MHz\t\t: 1996.251
flags\t\t: fpu sse2 avx fma avx2 bmi2

processor\t: 1
model name\t: something else
"""
ZEN4 = ZEN1.replace("cpu family\t: 23", "cpu family\t: 25").replace("model\t\t: 1\n", "model\t\t: 17\n") \
    .replace("avx2 bmi2", "avx2 bmi2 avx512f avx512bw avx512_vnni avx512_bf16")
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes crc32 sve
CPU implementer\t: 0x41
CPU part\t: 0xd0c
"""


def test_first_processor_block_with_its_vector_extensions():
    info = parse_cpuinfo(ZEN1)
    assert info == {"model": "AMD EPYC", "family": "23", "model_number": "1", "stepping": "2",
                    "mhz": "1996.251", "vector": ["avx2", "fma"]}
    assert cpu_label(info) == "AMD EPYC family 23 model 1 stepping 2 avx2,fma"


def test_arm_has_no_model_name_but_implementer_and_part():
    info = parse_cpuinfo(ARM)
    assert info["implementer"] == "0x41" and info["part"] == "0xd0c" and info["vector"] == ["asimd", "sve"]
    assert "model" not in info


def _fake_cpuinfo(monkeypatch, text):
    real_open = builtins.open

    def fake_open(path, *args, **kwargs):
        if str(path) == "/proc/cpuinfo":
            return io.StringIO(text)
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", fake_open)


@pytest.mark.parametrize("other", [ZEN4, ZEN1.replace("stepping\t: 2", "stepping\t: 0")])
def test_thread_cache_key_differs_between_cpus_of_one_brand_string(monkeypatch, other):
    """Before, the key held only the brand string: a budget calibrated on one 'AMD EPYC' would have been
    reused on another of that name, ~5x slower (the bug)."""
    _fake_cpuinfo(monkeypatch, ZEN1)
    key_a, cache_a = threads.machine_key(), threads.cache_key("onnxruntime", "model-digest")
    _fake_cpuinfo(monkeypatch, other)
    assert threads.machine_key() != key_a
    assert threads.cache_key("onnxruntime", "model-digest") != cache_a


def test_unreadable_cpuinfo_still_names_something(monkeypatch):
    def no_open(path, *args, **kwargs):
        raise OSError("no /proc here")
    monkeypatch.setattr(builtins, "open", no_open)
    info = cpu_identity()
    assert info["vector"] == [] and info["model"]
