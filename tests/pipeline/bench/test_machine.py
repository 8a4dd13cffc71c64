"""pipeline/bench/machine.py: results say which CPU, not only its brand string."""
from engines.core.cpu import cpu_label
from pipeline.bench.machine import machine_info
from pipeline.bench.report import _machine


def test_machine_info_names_the_cpu_beyond_its_brand():
    info = machine_info()
    assert info["cpu_id"] == cpu_label()
    assert info["cpu_id"].startswith(info["cpu"])
    assert info["cpu_mhz"] is None or info["cpu_mhz"] > 0
    assert _machine({"machine": info}).endswith(info["cpu_id"].split("@")[0].strip())


def test_report_reads_results_written_before_cpu_id():
    old = {"machine": {"gpu": None, "cores": 2, "cpu": "AMD EPYC"}}
    assert _machine(old) == "2-core AMD EPYC"
