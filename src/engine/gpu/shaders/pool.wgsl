// Max pooling over 1 to 3 spatial axes (padding never wins: out-of-range taps are skipped).
struct PoolParams {
    count: u32,
    // Batch items × channels.
    planes: u32,
    window: Window,
}

@group(0) @binding(0) var<storage, read> p: PoolParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn max_pool_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    let in_dims = signed3(p.window.in_dims);
    let out_dims = unsigned3(p.window.out_dims);
    let voxels = out_dims.x * out_dims.y * out_dims.z;
    let plane = i / voxels;
    let s = i % voxels;
    let out = vec3<i32>(vec3<u32>(s / (out_dims.y * out_dims.z), (s / out_dims.z) % out_dims.y, s % out_dims.z));
    let origin = out * signed3(p.window.strides) - offsets3(p.window.pad_before);
    let dilation = signed3(p.window.dilations);
    let kernel = signed3(p.window.kernel);
    let base = plane * u32(in_dims.x * in_dims.y * in_dims.z);
    var best = -3.40282346e38;
    var any = false;
    for (var kz = 0i; kz < kernel.x; kz = kz + 1i) {
        let z = origin.x + kz * dilation.x;
        if (z < 0 || z >= in_dims.x) { continue; }
        for (var ky = 0i; ky < kernel.y; ky = ky + 1i) {
            let yy = origin.y + ky * dilation.y;
            if (yy < 0 || yy >= in_dims.y) { continue; }
            for (var kx = 0i; kx < kernel.z; kx = kx + 1i) {
                let xx = origin.z + kx * dilation.z;
                if (xx < 0 || xx >= in_dims.z) { continue; }
                best = max(best, x[base + u32((z * in_dims.y + yy) * in_dims.z + xx)]);
                any = true;
            }
        }
    }
    y[i] = select(0.0, best, any);
}
