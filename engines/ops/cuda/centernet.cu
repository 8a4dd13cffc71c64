// CenterNet peak extraction (loaded by engines/ops/centernet_decode_cupy.py).
//
// centernet_peaks: one thread per heatmap pixel of hm (C, H, W) logits.
// is_peak = 1 when the logit is > cut and no in-map neighbour of its 3x3
// window is larger (equal neighbours are allowed, so a plateau keeps all its
// pixels), which is "equals the 3x3 max-pool with -inf padding" from
// "Objects as Points". Ranking and box building are done with CuPy afterwards.

extern "C" __global__ void centernet_peaks(const float* __restrict__ hm, const int planes,
                                           const int height, const int width, const float cut,
                                           unsigned char* __restrict__ is_peak) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long plane_size = (long long)height * width;
    if (idx >= plane_size * planes) return;
    const int x = (int)(idx % width);
    const int y = (int)((idx / width) % height);
    const float* plane = hm + (idx / plane_size) * plane_size;
    const float v = hm[idx];
    bool peak = v > cut;
    for (int dy = -1; dy <= 1 && peak; ++dy) {
        const int ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (int dx = -1; dx <= 1; ++dx) {
            const int nx = x + dx;
            if (nx < 0 || nx >= width) continue;
            if (plane[(long long)ny * width + nx] > v) { peak = false; break; }
        }
    }
    is_peak[idx] = peak ? 1 : 0;
}
