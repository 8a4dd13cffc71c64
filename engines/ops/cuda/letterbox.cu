// Fused letterbox for CuPy (loaded by engines/ops/letterbox_cupy.py): bilinear
// resize + centring + padding + channel order + (x / 255 - mean) / std, from an
// (H, W, 3) uint8 BGR frame straight into a planar (3, out_h, out_w) float32 input.
//
// One thread per output pixel. Sampling matches torch's F.interpolate(bilinear,
// align_corners=False, antialias=False): source = (dst + 0.5) * scale - 0.5,
// clamped at 0, with the far neighbour clamped to the last row/column;
// scale = source size / resized size. Output channel c reads frame channel
// source_channel[c] (2, 1, 0 for RGB). Pixels outside the resized area get pad[c],
// already normalised by the caller.

extern "C" __global__ void letterbox_bilinear(
        const unsigned char* __restrict__ frame, const int src_h, const int src_w,
        float* __restrict__ out, const int out_h, const int out_w,
        const int top, const int left, const int resized_h, const int resized_w,
        const float scale_y, const float scale_x,
        const int* __restrict__ source_channel, const float* __restrict__ mean,
        const float* __restrict__ std, const float* __restrict__ pad) {
    const int ox = blockIdx.x * blockDim.x + threadIdx.x;
    const int oy = blockIdx.y * blockDim.y + threadIdx.y;
    if (ox >= out_w || oy >= out_h) return;
    const long long plane = (long long)out_h * out_w;
    const long long at = (long long)oy * out_w + ox;
    const int rx = ox - left, ry = oy - top;
    if (rx < 0 || ry < 0 || rx >= resized_w || ry >= resized_h) {
        for (int c = 0; c < 3; ++c) out[c * plane + at] = pad[c];
        return;
    }
    const float sy = fmaxf((ry + 0.5f) * scale_y - 0.5f, 0.0f);
    const float sx = fmaxf((rx + 0.5f) * scale_x - 0.5f, 0.0f);
    const int y0 = min((int)sy, src_h - 1), x0 = min((int)sx, src_w - 1);
    const int y1 = min(y0 + 1, src_h - 1), x1 = min(x0 + 1, src_w - 1);
    const float fy = sy - y0, fx = sx - x0;
    const unsigned char* r0 = frame + (long long)y0 * src_w * 3;
    const unsigned char* r1 = frame + (long long)y1 * src_w * 3;
    for (int c = 0; c < 3; ++c) {
        const int s = source_channel[c];
        const float top_row = (1.0f - fx) * r0[x0 * 3 + s] + fx * r0[x1 * 3 + s];
        const float bottom_row = (1.0f - fx) * r1[x0 * 3 + s] + fx * r1[x1 * 3 + s];
        const float v = (1.0f - fy) * top_row + fy * bottom_row;
        out[c * plane + at] = (v / 255.0f - mean[c]) / std[c];
    }
}
