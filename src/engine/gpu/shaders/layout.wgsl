// Data movement: one strided gather covers transposes, slices, strided downsampling,
// broadcasting, constant padding and each part of a concatenation. Output coordinate c reads
// source coordinate c·step + shift on each axis, or the pad value where that falls outside.
struct CopyParams {
    count: u32,
    pad: f32,
    dst_offset: u32,
    src_offset: u32,
    dims: array<u32, 6>,
    dst_strides: array<u32, 6>,
    src_strides: array<u32, 6>,
    step: array<i32, 6>,
    shift: array<i32, 6>,
    src_dims: array<u32, 6>,
}

@group(0) @binding(0) var<storage, read> p: CopyParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn copy_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    var rest = i;
    var dst = p.dst_offset;
    var src = p.src_offset;
    var inside = true;
    for (var k = 5i; k >= 0i; k = k - 1i) {
        let d = p.dims[k];
        let c = rest % d;
        rest = rest / d;
        dst = dst + c * p.dst_strides[k];
        let s = i32(c) * p.step[k] + p.shift[k];
        if (s < 0 || s >= i32(p.src_dims[k])) {
            inside = false;
        } else {
            src = src + u32(s) * p.src_strides[k];
        }
    }
    if (inside) {
        y[dst] = x[src];
    } else {
        y[dst] = p.pad;
    }
}
