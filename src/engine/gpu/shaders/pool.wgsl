// Max pooling over 1 to 3 spatial axes (padding never wins: out-of-range taps are skipped).
// Parameters: [count, planes (N·C), in dims(3) @2, out dims(3) @5, kernel(3) @8, stride(3) @11,
//              dilation(3) @14, pad before(3, i32) @17].
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn max_pool_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p[0]) { return; }
    let in_dims = vec3<i32>(i32(p[2]), i32(p[3]), i32(p[4]));
    let out_dims = vec3<u32>(p[5], p[6], p[7]);
    let voxels = out_dims.x * out_dims.y * out_dims.z;
    let plane = i / voxels;
    let s = i % voxels;
    let out = vec3<i32>(vec3<u32>(s / (out_dims.y * out_dims.z), (s / out_dims.z) % out_dims.y, s % out_dims.z));
    let origin = out * vec3<i32>(i32(p[11]), i32(p[12]), i32(p[13])) - vec3<i32>(param_i32(17u), param_i32(18u), param_i32(19u));
    let dilation = vec3<i32>(i32(p[14]), i32(p[15]), i32(p[16]));
    let base = plane * u32(in_dims.x * in_dims.y * in_dims.z);
    var best = -3.40282346e38;
    var any = false;
    for (var kz = 0i; kz < i32(p[8]); kz = kz + 1i) {
        let z = origin.x + kz * dilation.x;
        if (z < 0 || z >= in_dims.x) { continue; }
        for (var ky = 0i; ky < i32(p[9]); ky = ky + 1i) {
            let yy = origin.y + ky * dilation.y;
            if (yy < 0 || yy >= in_dims.y) { continue; }
            for (var kx = 0i; kx < i32(p[10]); kx = kx + 1i) {
                let xx = origin.z + kx * dilation.z;
                if (xx < 0 || xx >= in_dims.z) { continue; }
                best = max(best, x[base + u32((z * in_dims.y + yy) * in_dims.z + xx)]);
                any = true;
            }
        }
    }
    y[i] = select(0.0, best, any);
}
