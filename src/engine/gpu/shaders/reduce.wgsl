// Reductions over any set of axes (sum, max, min, product, mean of squares); reduced axes
// stay in the output with size 1.
struct ReduceParams {
    count: u32,
    op: u32,
    // Input elements per output element.
    reduced_count: u32,
    // The output's dims (reduced axes 1).
    dims: array<u32, 6>,
    // The reduced axes' dims (1 where not reduced).
    reduced_dims: array<u32, 6>,
    // The input's strides.
    strides: array<u32, 6>,
}

@group(0) @binding(0) var<storage, read> p: ReduceParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn reduce_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    let op = p.op;
    let base = strided_offset(i, p.dims, p.strides);
    var acc = 0.0;
    if (op == REDUCE_MAX) { acc = -3.40282346e38; }
    if (op == REDUCE_MIN) { acc = 3.40282346e38; }
    if (op == REDUCE_PROD) { acc = 1.0; }
    for (var r = 0u; r < p.reduced_count; r = r + 1u) {
        let v = x[base + strided_offset(r, p.reduced_dims, p.strides)];
        switch op {
            case REDUCE_SUM: { acc = acc + v; }
            case REDUCE_MAX: { acc = max(acc, v); }
            case REDUCE_MIN: { acc = min(acc, v); }
            case REDUCE_PROD: { acc = acc * v; }
            case REDUCE_MEAN_OF_SQUARES, default: { acc = acc + v * v; }
        }
    }
    if (op == REDUCE_MEAN_OF_SQUARES) { acc = acc / f32(p.reduced_count); }
    y[i] = acc;
}
