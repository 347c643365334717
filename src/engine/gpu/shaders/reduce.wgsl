// Reductions over any set of axes (sum, max, min, product, mean of squares); reduced axes
// stay in the output with size 1. Parameters: [count, op, reduced count, dims(6) @3 (the
// output's, reduced axes 1), reduced dims(6) @9 (1 where not reduced), input strides(6) @15].
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn reduce_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p[0]) { return; }
    let op = p[1];
    let base = strided_offset(i, 3u, 15u);
    var acc = 0.0;
    if (op == 1u) { acc = -3.40282346e38; }
    if (op == 2u) { acc = 3.40282346e38; }
    if (op == 3u) { acc = 1.0; }
    for (var r = 0u; r < p[2]; r = r + 1u) {
        let v = x[base + strided_offset(r, 9u, 15u)];
        switch op {
            case 0u: { acc = acc + v; }
            case 1u: { acc = max(acc, v); }
            case 2u: { acc = min(acc, v); }
            case 3u: { acc = acc * v; }
            default: { acc = acc + v * v; }
        }
    }
    if (op == 4u) { acc = acc / f32(p[2]); }
    y[i] = acc;
}
