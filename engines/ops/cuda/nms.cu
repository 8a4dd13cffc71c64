// Bitmask non-maximum suppression, in two kernels (loaded by engines/ops/nms_cupy.py).
//
// Boxes arrive sorted by descending score (stable), as float32 x1, y1, x2, y2.
// 1. nms_iou_mask: grid (tiles, tiles), 64 threads. Block (col_tile, row_tile)
//    loads 64 column boxes into shared memory; thread t owns row box
//    row_tile * 64 + t and sets bit j of one 64-bit word when column box
//    col_tile * 64 + j comes later in score order and overlaps it by IoU > cut.
//    Only col_tile >= row_tile does work (a box only suppresses later boxes),
//    and it writes every word of those tiles, which are the only words the scan
//    reads (row i, words >= i / 64): the mask need not be zeroed (the cuda_cpu
//    tests run this with a mask full of garbage).
// 2. nms_greedy_scan: the greedy pass runs ON THE DEVICE in one block, so the
//    (n x tiles) mask never crosses to the host. A shared bitset marks removed
//    boxes; box i survives when its bit is still clear, and then its mask row
//    is OR-ed into the bitset by all threads. keep[i] = 1 for survivors.
//
// Arithmetic follows torchvision's CPU kernel step by step, with explicit
// round-to-nearest intrinsics so nvcc cannot fuse them into FMAs; `cut` is the
// largest float32 not above the threshold (engines/ops/thresholds.py), so
// `iou > cut` means exactly `iou > threshold`. With use_classes != 0 only boxes
// of the same class suppress each other (torchvision's per-class path).

#define NMS_TILE 64

__device__ __forceinline__ float nms_area(float x1, float y1, float x2, float y2) {
    return __fmul_rn(__fsub_rn(x2, x1), __fsub_rn(y2, y1));
}

extern "C" __global__ void nms_iou_mask(const float* __restrict__ boxes,
                                        const int* __restrict__ class_ids,
                                        const int use_classes, const int n, const float cut,
                                        unsigned long long* __restrict__ mask) {
    const int row_tile = blockIdx.y;
    const int col_tile = blockIdx.x;
    if (col_tile < row_tile) return;
    const int tiles = (n + NMS_TILE - 1) / NMS_TILE;
    const int col_start = col_tile * NMS_TILE;
    const int cols = min(NMS_TILE, n - col_start);
    const int t = threadIdx.x;

    __shared__ float tile_box[NMS_TILE * 4];
    __shared__ float tile_area[NMS_TILE];
    __shared__ int tile_class[NMS_TILE];
    if (t < cols) {
        const float* b = boxes + (long long)(col_start + t) * 4;
        tile_box[t * 4 + 0] = b[0];
        tile_box[t * 4 + 1] = b[1];
        tile_box[t * 4 + 2] = b[2];
        tile_box[t * 4 + 3] = b[3];
        tile_area[t] = nms_area(b[0], b[1], b[2], b[3]);
        tile_class[t] = use_classes ? class_ids[col_start + t] : 0;
    }
    __syncthreads();

    const int row = row_tile * NMS_TILE + t;
    if (row >= n) return;
    const float* r = boxes + (long long)row * 4;
    const float x1 = r[0], y1 = r[1], x2 = r[2], y2 = r[3];
    const float area = nms_area(x1, y1, x2, y2);
    const int cls = use_classes ? class_ids[row] : 0;
    unsigned long long bits = 0ULL;
    for (int j = (col_tile == row_tile) ? t + 1 : 0; j < cols; ++j) {
        if (tile_class[j] != cls) continue;
        const float* c = tile_box + j * 4;
        const float w = fmaxf(__fsub_rn(fminf(x2, c[2]), fmaxf(x1, c[0])), 0.0f);
        const float h = fmaxf(__fsub_rn(fminf(y2, c[3]), fmaxf(y1, c[1])), 0.0f);
        const float inter = __fmul_rn(w, h);
        const float iou = __fdiv_rn(inter, __fsub_rn(__fadd_rn(area, tile_area[j]), inter));
        if (iou > cut) bits |= 1ULL << j;
    }
    mask[(long long)row * tiles + col_tile] = bits;
}

extern "C" __global__ void nms_greedy_scan(const unsigned long long* __restrict__ mask,
                                           const int n, unsigned char* __restrict__ keep) {
    extern __shared__ unsigned long long removed[];
    const int tiles = (n + NMS_TILE - 1) / NMS_TILE;
    for (int w = threadIdx.x; w < tiles; w += blockDim.x) removed[w] = 0ULL;
    __syncthreads();
    for (int i = 0; i < n; ++i) {
        const int word = i / NMS_TILE;
        const bool alive = ((removed[word] >> (i % NMS_TILE)) & 1ULL) == 0ULL;
        __syncthreads();  // everyone has read the bit before anyone writes the word
        if (alive) {
            const unsigned long long* row = mask + (long long)i * tiles;
            for (int w = word + threadIdx.x; w < tiles; w += blockDim.x) removed[w] |= row[w];
        }
        if (threadIdx.x == 0) keep[i] = alive ? 1 : 0;
        __syncthreads();
    }
}
