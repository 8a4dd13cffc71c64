"""The soak's bookkeeping: frame-id gaps outside fault windows, counted drops, RSS slope."""
from pipeline.bench.soak import _losses, lost_outside
from pipeline.bench.soak_probe import slope_per_10min


def msgs(*frames):
    return [(t, "cam0", frame_id, t) for t, frame_id in frames]


def test_gaps_count_only_outside_fault_windows():
    messages = msgs((1, 0), (2, 1), (3, 4), (10, 5), (20, 9), (21, 0), (22, 2))
    # 1 -> 4 is 2 lost; 5 -> 9 spans the fault (12, 15): not counted; a restart from 0 is not a loss
    assert lost_outside(messages, [(12.0, 15.0)], 0.0) == 2 + 1
    assert lost_outside(messages, [], 0.0) == 2 + 3 + 1
    assert lost_outside(messages, [], 10.0) == 3 + 1


def test_counted_drops_are_not_losses():
    messages = msgs((1, 0), (2, 3), (3, 4))
    out = _losses(messages, [], {"counts": {"capture.cam0": {"dropped": 1}, "sink": {"stale": 0}}}, 0.0)
    assert out["messages_lost_outside_outages"] == 1
    assert out["losses"]["frame_id_gaps_in_steady_window"] == 2 and out["losses"]["counted_by_stages"] == 1


def test_slope_per_10_minutes():
    assert abs(slope_per_10min([(0, 100.0), (300, 100.5), (600, 101.0)]) - 1.0) < 1e-9
    assert slope_per_10min([(0, 1.0)]) is None


def test_slopes_by_third_tell_a_filling_buffer_from_a_leak():
    from pipeline.bench.soak_probe import slopes_by_third
    filling = [(t, min(t, 1200) / 600) for t in range(0, 1801, 60)]     # grows 1 MB/10 min, then stops
    first, second, third = slopes_by_third(filling)
    assert abs(first - 1.0) < 1e-6 and abs(third) < 1e-6


def test_slopes_by_process_name_the_one_that_grows():
    from pipeline.bench.soak import _slopes_by_process
    samples = [{"t": t, "rss_mb_by_process": {"sink": 100 + t / 600, "capture.cam0": 50.0}} for t in range(0, 1800, 5)]
    slopes = _slopes_by_process(samples, since=600)
    assert abs(slopes["sink"]["whole"] - 1.0) < 1e-6 and abs(slopes["capture.cam0"]["whole"]) < 1e-6


def test_slopes_by_kind_tell_heap_growth_from_library_pages():
    from pipeline.bench.soak import _slopes_by_kind, _slopes_by_process
    samples = [{"t": t, "rss_mb_by_kind": {"anon": 10 + t / 300, "file": 40.0, "shmem": 5.0},
                "rss_mb_by_process": {"inference": 55 + t / 300},
                "rss_mb_by_process_kind": {"inference": {"anon": 10 + t / 300, "file": 40.0, "shmem": 5.0}}}
               for t in range(0, 1800, 5)]
    by_kind = _slopes_by_kind(samples, since=0)
    assert by_kind["anon"] == 2.0 and by_kind["file"] == 0.0 and by_kind["shmem"] == 0.0
    assert _slopes_by_process(samples, since=0)["inference"]["by_kind"] == {"anon": 2.0, "file": 0.0, "shmem": 0.0}


def test_rss_kinds_of_this_process_add_up_to_its_rss():
    import os
    from pathlib import Path
    from pipeline.bench.soak_probe import rss_kb, rss_kinds_kb
    kinds = rss_kinds_kb(os.getpid())
    vm_rss = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("VmRSS:"))
    assert kinds["anon"] > 0 and kinds["file"] > 0
    assert abs(rss_kb(os.getpid()) - vm_rss) < 4096          # read a moment apart: within a few MB
    assert rss_kinds_kb(2 ** 22 + 12345) == {"anon": 0, "file": 0, "shmem": 0}     # no such process
