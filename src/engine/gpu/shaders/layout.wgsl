// Data movement: one strided gather covers transposes, slices, strided downsampling,
// broadcasting, constant padding and each part of a concatenation. Output coordinate c reads
// source coordinate c·step + shift on each axis, or the pad value where that falls outside.
// Parameters: [count, pad value, dst offset, src offset, dims(6) @4, dst strides(6) @10,
//              src strides(6) @16, src step(6, i32) @22, src shift(6, i32) @28, src dims(6) @34].
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn copy_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p[0]) { return; }
    var rest = i;
    var dst = p[2];
    var src = p[3];
    var inside = true;
    for (var k = 5i; k >= 0i; k = k - 1i) {
        let axis = u32(k);
        let d = p[4u + axis];
        let c = rest % d;
        rest = rest / d;
        dst = dst + c * p[10u + axis];
        let s = i32(c) * param_i32(22u + axis) + param_i32(28u + axis);
        if (s < 0 || s >= i32(p[34u + axis])) {
            inside = false;
        } else {
            src = src + u32(s) * p[16u + axis];
        }
    }
    if (inside) {
        y[dst] = x[src];
    } else {
        y[dst] = param_f32(1u);
    }
}
