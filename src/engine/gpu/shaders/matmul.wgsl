// Batched matrix products (what tract's EinSum becomes): every output element is a dot product
// over one contracted axis of A and B, addressed by strides, so batch axes, broadcasting and
// transposes need no copies. Neighbouring invocations share A's row (or B's column), which
// the caches serve.
struct MatmulParams {
    count: u32,
    depth: u32,
    a_depth_stride: u32,
    b_depth_stride: u32,
    dims: array<u32, 6>,
    a_strides: array<u32, 6>,
    b_strides: array<u32, 6>,
}

@group(0) @binding(0) var<storage, read> p: MatmulParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

@compute @workgroup_size(64)
fn matmul_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    var ia = strided_offset(i, p.dims, p.a_strides);
    var ib = strided_offset(i, p.dims, p.b_strides);
    let sa = p.a_depth_stride;
    let sb = p.b_depth_stride;
    var sum = 0.0;
    for (var k = 0u; k < p.depth; k = k + 1u) {
        sum = sum + a[ia] * b[ib];
        ia = ia + sa;
        ib = ib + sb;
    }
    y[i] = sum;
}

// The tiled kernel: the output's last two axes are rows (read from A only) and columns (read
// from B only); each 16×16 workgroup computes a 64×64 tile of one batch item, every invocation a
// 4×4 block, from 64×16 slices of A and 16×64 slices of B staged in workgroup memory.
// Grid: (column tiles, row tiles, batch items).
const TILE: u32 = 64u;
const DEPTH: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>;
var<workgroup> tile_b: array<f32, 1024>;

@compute @workgroup_size(16, 16)
fn matmul_tiled_main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let rows = p.dims[4];
    let cols = p.dims[5];
    let depth = p.depth;
    var rest = wid.z;
    var base_a = 0u;
    var base_b = 0u;
    for (var k = 3i; k >= 0i; k = k - 1i) {
        let d = p.dims[k];
        base_a = base_a + (rest % d) * p.a_strides[k];
        base_b = base_b + (rest % d) * p.b_strides[k];
        rest = rest / d;
    }
    let row_stride = p.a_strides[4];
    let col_stride = p.b_strides[5];
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let t = lid.y * 16u + lid.x;
    var acc = array<f32, 16>();
    for (var k0 = 0u; k0 < depth; k0 = k0 + DEPTH) {
        for (var e = 0u; e < 4u; e = e + 1u) {
            let slot = t + e * 256u;
            let r = row0 + slot / DEPTH;
            let ka = k0 + slot % DEPTH;
            var va = 0.0;
            if (r < rows && ka < depth) { va = a[base_a + r * row_stride + ka * p.a_depth_stride]; }
            tile_a[slot] = va;
            let kb = k0 + slot / TILE;
            let c = col0 + slot % TILE;
            var vb = 0.0;
            if (c < cols && kb < depth) { vb = b[base_b + c * col_stride + kb * p.b_depth_stride]; }
            tile_b[slot] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < DEPTH; kk = kk + 1u) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i = i + 1u) {
                av[i] = tile_a[(lid.y * 4u + i) * DEPTH + kk];
                bv[i] = tile_b[kk * TILE + lid.x * 4u + i];
            }
            for (var i = 0u; i < 4u; i = i + 1u) {
                for (var j = 0u; j < 4u; j = j + 1u) {
                    acc[i * 4u + j] = acc[i * 4u + j] + av[i] * bv[j];
                }
            }
        }
        workgroupBarrier();
    }
    let base_y = wid.z * rows * cols;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let r = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j = j + 1u) {
            let c = col0 + lid.x * 4u + j;
            if (r < rows && c < cols) { y[base_y + r * cols + c] = acc[i * 4u + j]; }
        }
    }
}
