"""The shim itself (cuda_shim.h, launch.py): barrier semantics, schedule, limits, argument and
guard checks, on small kernels written here, so the cuda_cpu tests can be trusted to fail."""
import numpy as np
import pytest

from tests.engines.ops.cuda_cpu.build import CpuModule, build
from tests.engines.ops.cuda_cpu.launch import ShimLaunchError, guarded_empty, set_seed

pytestmark = pytest.mark.cuda_cpu

SOURCE = r'''
extern "C" __global__ void reverse_tiles(const int* in, const int n, const int use_barrier, int* out) {
    __shared__ int tile[256];
    const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    tile[t] = i < n ? in[i] : -1;
    if (use_barrier) __syncthreads();
    if (i < n) out[i] = tile[blockDim.x - 1 - t];
}
extern "C" __global__ void divergent_barrier(int* out) {
    if (threadIdx.x % 2) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}
extern "C" __global__ void early_exit_then_barrier(const int live, int* out) {
    __shared__ int value;
    if (threadIdx.x >= live) return;
    if (threadIdx.x == 0) value = 7;
    __syncthreads();
    out[threadIdx.x] = value;
}
extern "C" __global__ void count_threads(unsigned int* counter) { atomicAdd(counter, 1u); }
extern "C" __global__ void write_one_past(int* out, const int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i] = 1;
}
extern "C" __global__ void sum_in_dynamic_shared(const int* in, const int n, int* out) {
    extern __shared__ int scratch[];
    for (int i = threadIdx.x; i < n; i += blockDim.x) scratch[i] = in[i];
    __syncthreads();
    if (threadIdx.x == 0) { int s = 0; for (int i = 0; i < n; ++i) s += scratch[i]; *out = s; }
}
extern "C" __global__ void where_am_i(unsigned int* out) {
    const unsigned int block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    const unsigned int thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    out[block * blockDim.x * blockDim.y * blockDim.z + thread] += 1;
}
'''
KERNELS = ("reverse_tiles", "divergent_barrier", "early_exit_then_barrier", "count_threads",
           "write_one_past", "sum_in_dynamic_shared", "where_am_i")


@pytest.fixture(scope="module", params=["switch", "ucontext"])
def shim(request, shim_build_dir):
    """Both fiber back-ends: the x86-64 register switch and glibc's ucontext fallback."""
    defines = ("CUDA_SHIM_UCONTEXT",) if request.param == "ucontext" else ()
    return CpuModule(build(SOURCE, KERNELS, shim_build_dir, defines), KERNELS)


def reverse(shim, n, use_barrier, seed):
    set_seed(seed)
    data = np.arange(n, dtype=np.int32)
    out = np.full(n, -2, np.int32)
    shim.get_function("reverse_tiles")(((n + 255) // 256,), (256,),
                                       (data, np.int32(n), np.int32(use_barrier), out))
    return out


def test_barrier_makes_shared_writes_visible_and_its_absence_shows(shim):
    n = 600
    want = np.arange(n).reshape(-1)
    full = (n // 256) * 256
    want[:full] = want[:full].reshape(-1, 256)[:, ::-1].reshape(-1)
    for seed in range(3):
        out = reverse(shim, n, 1, seed)
        np.testing.assert_array_equal(out[:full], want[:full])
    # no barrier: threads run in random order, so some read tile slots not yet written
    assert any(not np.array_equal(reverse(shim, n, 0, seed)[:full], want[:full]) for seed in range(3))


def test_divergent_barrier_is_an_error(shim):
    with pytest.raises(ShimLaunchError, match="divergent __syncthreads"):
        shim.get_function("divergent_barrier")((1,), (64,), (np.zeros(64, np.int32),))


def test_threads_that_returned_do_not_block_a_barrier(shim):
    out = np.zeros(64, np.int32)
    shim.get_function("early_exit_then_barrier")((1,), (64,), (np.int32(10), out))
    assert out[:10].tolist() == [7] * 10 and not out[10:].any()


def test_atomics_and_every_thread_of_a_3d_grid_runs_once(shim):
    counter = np.zeros(1, np.uint32)
    shim.get_function("count_threads")((3, 2, 2), (4, 3, 5), (counter,))
    assert counter[0] == 12 * 60
    out = np.zeros(12 * 60, np.uint32)
    shim.get_function("where_am_i")((3, 2, 2), (4, 3, 5), (out,))
    assert (out == 1).all()


def test_dynamic_shared_memory_and_its_limit(shim):
    data = np.arange(1000, dtype=np.int32)
    out = np.zeros(1, np.int32)
    shim.get_function("sum_in_dynamic_shared")((1,), (128,), (data, np.int32(1000), out),
                                               shared_mem=4000)
    assert out[0] == data.sum()
    with pytest.raises(ShimLaunchError, match="48 KiB"):
        shim.get_function("sum_in_dynamic_shared")((1,), (128,), (data, np.int32(10), out),
                                                   shared_mem=48 * 1024 + 4)


def test_launch_limits_and_argument_types_are_checked(shim):
    counter = np.zeros(1, np.uint32)
    with pytest.raises(ShimLaunchError, match="exceeds CUDA's limits"):
        shim.get_function("count_threads")((1,), (1025,), (counter,))
    with pytest.raises(TypeError, match="tuples of 1-3 positive ints"):
        shim.get_function("count_threads")((0,), (32,), (counter,))
    with pytest.raises(TypeError, match="must be a C-contiguous uint32"):
        shim.get_function("count_threads")((1,), (32,), (np.zeros(1, np.int64),))
    with pytest.raises(TypeError, match="must be int32, got int64"):
        shim.get_function("write_one_past")((1,), (32,), (np.zeros(4, np.int32), np.int64(3)))
    with pytest.raises(TypeError, match="1 arguments for 2 parameters"):
        shim.get_function("write_one_past")((1,), (32,), (np.zeros(4, np.int32),))


def test_writing_past_the_end_of_an_array_is_caught(shim):
    out = guarded_empty((40,), np.int32)
    with pytest.raises(ShimLaunchError, match="wrote past the end"):
        shim.get_function("write_one_past")((2,), (32,), (out, np.int32(40)))
    out = guarded_empty((40,), np.int32)
    shim.get_function("write_one_past")((2,), (32,), (out, np.int32(39)))
    assert (out == 1).all()
