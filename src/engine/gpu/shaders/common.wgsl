// Prepended to every kernel: the parameter words (binding 0; word 0 is always the number of
// invocations that do work) and the invocation's linear index over a 2D grid of workgroups.
@group(0) @binding(0) var<storage, read> p: array<u32>;

const WORKGROUP: u32 = 64u;

fn linear_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WORKGROUP;
}

fn param_f32(i: u32) -> f32 {
    return bitcast<f32>(p[i]);
}

fn param_i32(i: u32) -> i32 {
    return bitcast<i32>(p[i]);
}

// Offset of element `i` of a rank-6 output of dims p[dims_at..dims_at+6] in an operand whose
// strides per output axis are p[strides_at..strides_at+6] (0 where the operand broadcasts).
fn strided_offset(i: u32, dims_at: u32, strides_at: u32) -> u32 {
    var rest = i;
    var offset = 0u;
    for (var k = 5i; k >= 0i; k = k - 1i) {
        let d = p[dims_at + u32(k)];
        offset = offset + (rest % d) * p[strides_at + u32(k)];
        rest = rest / d;
    }
    return offset;
}
