// YOLO candidate scoring: one thread per candidate finds its best class
// (loaded by engines/ops/yolo_decode_cupy.py; thresholding and compaction of
// the survivors are then one cupy.flatnonzero).
//
// yolo_v8_best_class: pred is (4 + C, n) row-major, so consecutive threads read
//   consecutive addresses of each class row (coalesced). best = max score,
//   best_class = first class reaching it (NumPy's argmax).
// yolo_v5_best_class: pred is (n, 5 + C); best = objectness * max class score,
//   best_class = first argmax of objectness * class score, exactly as the NumPy
//   twin computes them (products rounded with __fmul_rn, no FMA).

extern "C" __global__ void yolo_v8_best_class(const float* __restrict__ pred, const int n,
                                              const int classes, float* __restrict__ best,
                                              int* __restrict__ best_class) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float* scores = pred + (long long)4 * n + i;
    float top = scores[0];
    int arg = 0;
    for (int c = 1; c < classes; ++c) {
        const float v = scores[(long long)c * n];
        if (v > top) { top = v; arg = c; }
    }
    best[i] = top;
    best_class[i] = arg;
}

extern "C" __global__ void yolo_v5_best_class(const float* __restrict__ pred, const int n,
                                              const int classes, float* __restrict__ best,
                                              int* __restrict__ best_class) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float* row = pred + (long long)i * (5 + classes);
    const float objectness = row[4];
    float top_class = row[5];
    float top_joint = __fmul_rn(objectness, row[5]);
    int arg = 0;
    for (int c = 1; c < classes; ++c) {
        const float v = row[5 + c];
        const float joint = __fmul_rn(objectness, v);
        top_class = fmaxf(top_class, v);
        if (joint > top_joint) { top_joint = joint; arg = c; }
    }
    best[i] = __fmul_rn(objectness, top_class);
    best_class[i] = arg;
}
