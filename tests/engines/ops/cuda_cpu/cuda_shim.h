// cuda_shim.h: the CUDA built-ins engines/ops/cuda/*.cu use, for running those kernels
// UNCHANGED on the CPU under g++ (tests only; build.py includes the .cu after this header).
//
// Execution model
//   * Blocks of a grid run one after another, in a random (seeded) order, on the calling
//     OS thread, so a kernel that depends on the order of blocks shows up.
//   * The threads of a block are fibers, one 64 KiB stack each (switched by the small
//     x86-64 routine below; glibc ucontext elsewhere or with -DCUDA_SHIM_UCONTEXT, which
//     makes a system call per switch). __syncthreads() is a
//     real barrier: every fiber of the block runs until it reaches a barrier (or returns),
//     then the next phase starts. Fibers are resumed in a fresh random order every phase,
//     so a missing barrier lets a thread read shared memory before (or after) the writes
//     it depends on. Interleaving happens at barriers and atomics only, not between two
//     plain instructions: a race between barriers with no atomic is not found.
//   * Threads waiting at different __syncthreads() calls (divergent barrier) are an error.
//     Threads that returned no longer count, as on CUDA since Volta.
//   * __shared__ is thread_local storage (one OS thread runs one block at a time, so all
//     fibers of a block share it). The launcher fills this library's whole TLS block with
//     garbage before each block, so a kernel reading shared memory it never wrote sees
//     garbage, as on a GPU. `extern __shared__ T name[]` is defined by build.py with
//     CUDA_SHIM_DYNAMIC_SHARED bytes; asking for more at launch is an error.
//   * Float intrinsics (__fadd_rn ...) are plain IEEE float operations; build.py compiles
//     with -ffp-contract=off, so nothing is fused into an FMA.
//   * Arguments are checked against the kernel's parameter types and output arrays have
//     guard zones (both in launch.py, from the signature text exported here).
// Errors (limits, divergent barrier) stop the launch and are returned as text by the
// exported cuda_shim_launch_<kernel>(), which takes what CuPy's RawKernel takes: grid,
// block, shared_mem, and void* args[] (a pointer to each argument, as cuLaunchKernel).
#pragma once

#include <dlfcn.h>
#include <link.h>
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ thread_local
#define __syncthreads() cuda_shim::sync_threads(__LINE__)

#ifndef CUDA_SHIM_DYNAMIC_SHARED
#define CUDA_SHIM_DYNAMIC_SHARED (48 * 1024)
#endif

struct uint3 { unsigned int x, y, z; };
typedef uint3 dim3;

// Per-fiber values; the scheduler sets them before resuming a fiber.
static uint3 threadIdx, blockIdx, blockDim, gridDim;

inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __saturatef(float a) { return a < 0.0f ? 0.0f : (a > 1.0f ? 1.0f : a); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline void __threadfence() {}

namespace cuda_shim {

constexpr size_t kStackBytes = 64 * 1024;

struct Fiber {
    void* stack_pointer = nullptr;  // x86-64 switch
    ucontext_t* context = nullptr;  // elsewhere
    uint3 index;
    bool done = false;
    int barrier_line = 0;  // > 0: waiting at the __syncthreads() of that line
};

struct Block {
    std::vector<Fiber> fibers;
    Fiber* current = nullptr;
    void* scheduler_stack_pointer = nullptr;
    ucontext_t scheduler;
    void (*body)(void*) = nullptr;
    void* body_arg = nullptr;
};

static Block block_state;
static std::vector<std::vector<char>> stacks;
static std::vector<ucontext_t> contexts;  // ucontext back-end only
static std::mt19937_64 order_rng;
// `extern __shared__` storage (build.py registers it): only the bytes a launch asks for,
// and a little beyond, are refilled with garbage per block.
static unsigned char* (*dynamic_shared_of_this_thread)() = nullptr;

void fiber_entry();

#if defined(__x86_64__) && !defined(CUDA_SHIM_UCONTEXT)
// glibc's swapcontext makes a system call (signal mask) per switch; this switch saves only
// the SysV callee-saved registers on the old stack and pops them from the new one.
extern "C" void cuda_shim_switch(void** save_stack_pointer, void* load_stack_pointer);
asm(R"(
    .text
    .hidden cuda_shim_switch
    .globl cuda_shim_switch
    .type cuda_shim_switch, @function
cuda_shim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
)");

inline void prepare_fiber(Fiber& f, std::vector<char>& stack) {
    auto top = reinterpret_cast<uintptr_t>(stack.data() + stack.size()) & ~uintptr_t(15);
    auto* slot = reinterpret_cast<void**>(top);
    *--slot = nullptr;                                     // fiber_entry's "return address"
    *--slot = reinterpret_cast<void*>(&fiber_entry);       // popped by ret
    for (int r = 0; r < 6; ++r) *--slot = nullptr;         // rbp rbx r12-r15
    f.stack_pointer = slot;
}
inline void resume(Fiber& f) { cuda_shim_switch(&block_state.scheduler_stack_pointer, f.stack_pointer); }
inline void yield_to_scheduler() {
    cuda_shim_switch(&block_state.current->stack_pointer, block_state.scheduler_stack_pointer);
}
#else
inline void prepare_fiber(Fiber& f, std::vector<char>& stack) {
    const size_t t = &f - block_state.fibers.data();
    if (contexts.size() < block_state.fibers.size()) contexts.resize(block_state.fibers.size());
    f.context = &contexts[t];
    getcontext(f.context);
    f.context->uc_stack.ss_sp = stack.data();
    f.context->uc_stack.ss_size = stack.size();
    f.context->uc_link = nullptr;
    makecontext(f.context, fiber_entry, 0);
}
inline void resume(Fiber& f) { swapcontext(&block_state.scheduler, f.context); }
inline void yield_to_scheduler() { swapcontext(block_state.current->context, &block_state.scheduler); }
#endif

inline void sync_threads(int line) {
    block_state.current->barrier_line = line;
    yield_to_scheduler();
}

// Atomics: one fiber runs at a time, so the update itself is atomic; each one then yields,
// so the order in which threads' atomics land is random too.
template <typename T, typename F>
inline T atomic_update(T* address, F f) {
    const T old = *address;
    *address = f(old);
    if (block_state.current) yield_to_scheduler();  // barrier_line stays 0: runnable
    return old;
}

// Runs one thread's kernel body, then hands back to the scheduler for good.
inline void fiber_entry() {
    block_state.body(block_state.body_arg);
    block_state.current->done = true;
    yield_to_scheduler();
    __builtin_trap();  // a finished fiber is never resumed
}

// This library's TLS block (all __shared__ variables) for the calling OS thread.
inline std::pair<unsigned char*, size_t> shared_region() {
    static thread_local unsigned char probe;  // makes the TLS block exist
    probe = 1;
    Dl_info info{};
    dladdr(reinterpret_cast<void*>(&shared_region), &info);
    void* handle = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    void* start = nullptr;
    dlinfo(handle, RTLD_DI_TLS_DATA, &start);
    dlclose(handle);
    struct Query { const char* name; size_t size; } query{info.dli_fname, 0};
    dl_iterate_phdr([](dl_phdr_info* phdr, size_t, void* data) {
        auto* q = static_cast<Query*>(data);
        if (!phdr->dlpi_name || std::strcmp(phdr->dlpi_name, q->name) != 0) return 0;
        for (int i = 0; i < phdr->dlpi_phnum; ++i)
            if (phdr->dlpi_phdr[i].p_type == PT_TLS) q->size = phdr->dlpi_phdr[i].p_memsz;
        return 1;
    }, &query);
    return {static_cast<unsigned char*>(start), query.size};
}

// Random bytes over the TLS block (static shared memory); after the first time, the dynamic
// array only up to the bytes the launch asked for (plus 64): it is 48 KiB, and refilling
// all of it for each of thousands of blocks is most of a small launch's time.
inline void fill_with_garbage(unsigned char* tls, size_t size, size_t shared_mem) {
    unsigned long long state = order_rng();
    auto fill = [&state](unsigned char* from, unsigned char* to) {
        for (; from < to; from += 8) {
            state += 0x9E3779B97F4A7C15ULL;  // splitmix64
            unsigned long long z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            z ^= z >> 31;
            std::memcpy(from, &z, std::min<size_t>(8, to - from));
        }
    };
    unsigned char* end = tls + size;
    unsigned char* dynamic_shared = dynamic_shared_of_this_thread ? dynamic_shared_of_this_thread() : nullptr;
    static bool filled_once = false;  // the whole dynamic array once, at first (not TLS: refilled)
    if (dynamic_shared && dynamic_shared >= tls && dynamic_shared < end && filled_once) {
        unsigned char* dynamic_end = dynamic_shared + CUDA_SHIM_DYNAMIC_SHARED;
        fill(tls, dynamic_shared);
        fill(dynamic_shared, std::min(dynamic_end, dynamic_shared + shared_mem + 64));
        fill(dynamic_end, end);
    } else {
        fill(tls, end);
        filled_once = true;
    }
}

// Runs every thread of one block to completion; "" or the reason it failed.
inline std::string run_block(size_t threads, const uint3& dims) {
    Block& b = block_state;
    if (stacks.size() < threads) stacks.resize(threads);
    b.fibers.resize(threads);
    for (size_t t = 0; t < threads; ++t) {
        Fiber& f = b.fibers[t];
        f = Fiber{};
        f.index = {unsigned(t % dims.x), unsigned(t / dims.x % dims.y), unsigned(t / (dims.x * dims.y))};
        if (stacks[t].empty()) stacks[t].resize(kStackBytes);
        prepare_fiber(f, stacks[t]);
    }
    std::vector<Fiber*> runnable;
    for (;;) {
        runnable.clear();
        for (Fiber& f : b.fibers)
            if (!f.done && f.barrier_line <= 0) runnable.push_back(&f);
        if (runnable.empty()) {  // every live thread waits at a barrier: release them all
            int line = 0;
            for (Fiber& f : b.fibers) {
                if (f.done) continue;
                if (line && line != f.barrier_line)
                    return "divergent __syncthreads(): threads wait at lines " +
                           std::to_string(line) + " and " + std::to_string(f.barrier_line);
                line = f.barrier_line;
                f.barrier_line = 0;
                runnable.push_back(&f);
            }
            if (runnable.empty()) break;
        }
        std::shuffle(runnable.begin(), runnable.end(), order_rng);
        for (Fiber* f : runnable) {
            f->barrier_line = 0;
            b.current = f;
            threadIdx = f->index;
            resume(*f);
        }
    }
    b.current = nullptr;
    return "";
}

// Static shared memory is per kernel, which only ptxas knows: test_resource_usage.py checks
// static + dynamic there; here the dynamic part alone is checked.
inline std::string check_launch(const unsigned* g, const unsigned* k, size_t shared_mem) {
    const unsigned long long threads = 1ULL * k[0] * k[1] * k[2];
    if (!g[0] || !g[1] || !g[2] || !threads) return "empty grid or block";
    if (threads > 1024 || k[0] > 1024 || k[1] > 1024 || k[2] > 64)
        return "block " + std::to_string(k[0]) + "x" + std::to_string(k[1]) + "x" +
               std::to_string(k[2]) + " exceeds CUDA's limits (1024 threads, z <= 64)";
    if (g[0] > 2147483647u || g[1] > 65535 || g[2] > 65535) return "grid exceeds CUDA's limits";
    if (shared_mem > CUDA_SHIM_DYNAMIC_SHARED) return "dynamic shared memory above 48 KiB";
    return "";
}

template <typename... P, size_t... I>
inline void call_with(void (*kernel)(P...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<P>*>(args[I])...);
}

template <typename... P>
inline std::string launch(void (*kernel)(P...), const unsigned* grid, const unsigned* block,
                          size_t shared_mem, void** args, unsigned long long seed) {
    auto [tls, tls_size] = shared_region();
    std::string error = check_launch(grid, block, shared_mem);
    if (!error.empty()) return error;
    order_rng.seed(seed);
    struct Call { void (*kernel)(P...); void** args; } call{kernel, args};
    block_state.body = [](void* c) {
        auto* call = static_cast<Call*>(c);
        call_with(call->kernel, call->args, std::index_sequence_for<P...>{});
    };
    block_state.body_arg = &call;
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    const unsigned long long blocks = 1ULL * grid[0] * grid[1] * grid[2];
    std::vector<unsigned long long> block_order(blocks);
    for (unsigned long long i = 0; i < blocks; ++i) block_order[i] = i;
    std::shuffle(block_order.begin(), block_order.end(), order_rng);
    for (unsigned long long i : block_order) {
        fill_with_garbage(tls, tls_size, shared_mem);
        blockIdx = {unsigned(i % grid[0]), unsigned(i / grid[0] % grid[1]),
                    unsigned(i / (1ULL * grid[0] * grid[1]))};
        error = run_block(size_t(block[0]) * block[1] * block[2], blockDim);
        if (!error.empty()) return error;
    }
    return "";
}

// Parameter types as text ("f32*,i32,..."), so Python can check what it passes.
template <typename T> constexpr const char* type_code() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, float>) return "f32";
    else if constexpr (std::is_same_v<U, double>) return "f64";
    else if constexpr (std::is_same_v<U, int>) return "i32";
    else if constexpr (std::is_same_v<U, unsigned int>) return "u32";
    else if constexpr (std::is_same_v<U, long long>) return "i64";
    else if constexpr (std::is_same_v<U, unsigned long long>) return "u64";
    else if constexpr (std::is_same_v<U, unsigned char>) return "u8";
    else return "?";
}

template <typename T> inline std::string param_code() {
    if constexpr (std::is_pointer_v<T>) return std::string(type_code<std::remove_pointer_t<T>>()) + "*";
    else return type_code<T>();
}

template <typename... P> inline std::string signature(void (*)(P...)) {
    std::string text;
    ((text += (text.empty() ? "" : ",") + param_code<P>()), ...);
    return text;
}

}  // namespace cuda_shim

template <typename T> inline T atomicAdd(T* a, T v) { return cuda_shim::atomic_update(a, [v](T o) { return T(o + v); }); }
template <typename T> inline T atomicSub(T* a, T v) { return cuda_shim::atomic_update(a, [v](T o) { return T(o - v); }); }
template <typename T> inline T atomicMax(T* a, T v) { return cuda_shim::atomic_update(a, [v](T o) { return o > v ? o : v; }); }
template <typename T> inline T atomicMin(T* a, T v) { return cuda_shim::atomic_update(a, [v](T o) { return o < v ? o : v; }); }
template <typename T> inline T atomicOr(T* a, T v) { return cuda_shim::atomic_update(a, [v](T o) { return T(o | v); }); }
template <typename T> inline T atomicAnd(T* a, T v) { return cuda_shim::atomic_update(a, [v](T o) { return T(o & v); }); }
template <typename T> inline T atomicExch(T* a, T v) { return cuda_shim::atomic_update(a, [v](T) { return v; }); }
template <typename T> inline T atomicCAS(T* a, T expected, T v) {
    return cuda_shim::atomic_update(a, [=](T o) { return o == expected ? v : o; });
}

// One per kernel (build.py writes them): the ctypes entry points.
#define CUDA_SHIM_API extern "C" __attribute__((visibility("default")))
// Defines the storage of an `extern __shared__ T name[]` (build.py writes one per array).
#define CUDA_SHIM_DYNAMIC_SHARED_ARRAY(type, name)                                           \
    alignas(16) thread_local type name[CUDA_SHIM_DYNAMIC_SHARED / sizeof(type)];             \
    static unsigned char* cuda_shim_address_of_##name() {                                     \
        return reinterpret_cast<unsigned char*>(name);                                       \
    }                                                                                        \
    __attribute__((constructor)) static void cuda_shim_register_##name() {                   \
        cuda_shim::dynamic_shared_of_this_thread = cuda_shim_address_of_##name;              \
    }
#define CUDA_SHIM_EXPORT(name)                                                               \
    CUDA_SHIM_API const char* cuda_shim_signature_##name() {                                 \
        static const std::string text = cuda_shim::signature(name);                          \
        return text.c_str();                                                                 \
    }                                                                                        \
    CUDA_SHIM_API int cuda_shim_launch_##name(const unsigned* grid, const unsigned* block,   \
                                              size_t shared_mem, void** args,                \
                                              unsigned long long seed, char* error,          \
                                              size_t size) {                                 \
        const std::string why = cuda_shim::launch(name, grid, block, shared_mem, args, seed); \
        std::snprintf(error, size, "%s", why.c_str());                                       \
        return why.empty() ? 0 : 1;                                                          \
    }
