// Batched matrix products (what tract's EinSum becomes): every output element is a dot product
// over one contracted axis of A and B, addressed by strides, so batch axes, broadcasting and
// transposes need no copies. Neighbouring invocations share A's row (or B's column), which
// the caches serve.
// Parameters: [count, K, a k-stride, b k-stride, dims(6) @4, a strides @10, b strides @16].
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

const DIMS: u32 = 4u;
const A_STRIDES: u32 = 10u;
const B_STRIDES: u32 = 16u;

@compute @workgroup_size(64)
fn matmul_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p[0]) { return; }
    var ia = strided_offset(i, DIMS, A_STRIDES);
    var ib = strided_offset(i, DIMS, B_STRIDES);
    let sa = p[2];
    let sb = p[3];
    var sum = 0.0;
    for (var k = 0u; k < p[1]; k = k + 1u) {
        sum = sum + a[ia] * b[ib];
        ia = ia + sa;
        ib = ib + sb;
    }
    y[i] = sum;
}
