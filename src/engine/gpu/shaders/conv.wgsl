// Convolutions and transposed convolutions over 1 to 3 spatial axes (fewer axes are padded to
// three with size 1), with stride, padding, dilation and groups (depthwise included). Each
// invocation computes one output voxel for up to LANES output channels of one group, so every
// input value read serves all of them; f32 accumulation.
// Weights are [C_out][C_in / groups][KD][KH][KW]; bias is [C_out].
struct ConvParams {
    count: u32,
    batch: u32,
    c_in: u32,
    c_out: u32,
    groups: u32,
    lanes: u32,
    window: Window,
}

@group(0) @binding(0) var<storage, read> p: ConvParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const LANES: u32 = 8u;

struct Site {
    n: u32,
    co0: u32,
    lanes: u32,
    out: vec3<u32>,
}

// Which batch item, first output channel, lane count and output voxel invocation `i` computes.
fn site_of(i: u32) -> Site {
    let out_dims = unsigned3(p.window.out_dims);
    let voxels = out_dims.x * out_dims.y * out_dims.z;
    let lanes = p.lanes;
    let c_out = p.c_out;
    let lane_groups = (c_out + lanes - 1u) / lanes;
    let s = i % voxels;
    let rest = i / voxels;
    var site: Site;
    site.n = rest / lane_groups;
    site.co0 = (rest % lane_groups) * lanes;
    site.lanes = min(lanes, c_out - site.co0);
    site.out = vec3<u32>(s / (out_dims.y * out_dims.z), (s / out_dims.z) % out_dims.y, s % out_dims.z);
    return site;
}

fn store(site: Site, acc: array<f32, LANES>) {
    let out_dims = unsigned3(p.window.out_dims);
    let voxels = out_dims.x * out_dims.y * out_dims.z;
    let s = (site.out.x * out_dims.y + site.out.y) * out_dims.z + site.out.z;
    for (var j = 0u; j < site.lanes; j = j + 1u) {
        let co = site.co0 + j;
        y[(site.n * p.c_out + co) * voxels + s] = acc[j] + bias[co];
    }
}

@compute @workgroup_size(64)
fn conv_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    let site = site_of(i);
    let in_dims = signed3(p.window.in_dims);
    let kernel = unsigned3(p.window.kernel);
    let stride = signed3(p.window.strides);
    let dilation = signed3(p.window.dilations);
    let pad = offsets3(p.window.pad_before);
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    let group = site.co0 / c_out_group;
    let taps = kernel.x * kernel.y * kernel.z;
    let in_voxels = u32(in_dims.x * in_dims.y * in_dims.z);
    let origin = vec3<i32>(site.out) * stride - pad;
    var acc = array<f32, LANES>();
    for (var ci = 0u; ci < c_in_group; ci = ci + 1u) {
        let x_base = (site.n * p.c_in + group * c_in_group + ci) * in_voxels;
        let w_base = (site.co0 * c_in_group + ci) * taps;
        let w_lane = c_in_group * taps;
        for (var kz = 0u; kz < kernel.x; kz = kz + 1u) {
            let z = origin.x + i32(kz) * dilation.x;
            if (z < 0 || z >= in_dims.x) { continue; }
            for (var ky = 0u; ky < kernel.y; ky = ky + 1u) {
                let yy = origin.y + i32(ky) * dilation.y;
                if (yy < 0 || yy >= in_dims.y) { continue; }
                for (var kx = 0u; kx < kernel.z; kx = kx + 1u) {
                    let xx = origin.z + i32(kx) * dilation.z;
                    if (xx < 0 || xx >= in_dims.z) { continue; }
                    let v = x[x_base + u32((z * in_dims.y + yy) * in_dims.z + xx)];
                    let tap = (kz * kernel.y + ky) * kernel.z + kx;
                    for (var j = 0u; j < site.lanes; j = j + 1u) {
                        acc[j] = acc[j] + v * w[w_base + j * w_lane + tap];
                    }
                }
            }
        }
    }
    store(site, acc);
}

// Where tap `k` of output coordinate `o` reads along one axis: the input index, or -1 when the
// tap falls between input samples or outside them.
fn deconv_source(o: u32, k: u32, stride: i32, dilation: i32, pad: i32, size: i32) -> i32 {
    let t = i32(o) + pad - i32(k) * dilation;
    if (t < 0 || t % stride != 0) { return -1; }
    let s = t / stride;
    if (s >= size) { return -1; }
    return s;
}

@compute @workgroup_size(64)
fn deconv_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    let site = site_of(i);
    let in_dims = signed3(p.window.in_dims);
    let kernel = unsigned3(p.window.kernel);
    let stride = signed3(p.window.strides);
    let dilation = signed3(p.window.dilations);
    let pad = offsets3(p.window.pad_before);
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    let group = site.co0 / c_out_group;
    let taps = kernel.x * kernel.y * kernel.z;
    let in_voxels = u32(in_dims.x * in_dims.y * in_dims.z);
    var acc = array<f32, LANES>();
    for (var kz = 0u; kz < kernel.x; kz = kz + 1u) {
        let z = deconv_source(site.out.x, kz, stride.x, dilation.x, pad.x, in_dims.x);
        if (z < 0) { continue; }
        for (var ky = 0u; ky < kernel.y; ky = ky + 1u) {
            let yy = deconv_source(site.out.y, ky, stride.y, dilation.y, pad.y, in_dims.y);
            if (yy < 0) { continue; }
            for (var kx = 0u; kx < kernel.z; kx = kx + 1u) {
                let xx = deconv_source(site.out.z, kx, stride.z, dilation.z, pad.z, in_dims.z);
                if (xx < 0) { continue; }
                let tap = (kz * kernel.y + ky) * kernel.z + kx;
                let voxel = u32((z * in_dims.y + yy) * in_dims.z + xx);
                for (var ci = 0u; ci < c_in_group; ci = ci + 1u) {
                    let v = x[(site.n * p.c_in + group * c_in_group + ci) * in_voxels + voxel];
                    let w_base = (site.co0 * c_in_group + ci) * taps + tap;
                    for (var j = 0u; j < site.lanes; j = j + 1u) {
                        acc[j] = acc[j] + v * w[w_base + j * c_in_group * taps];
                    }
                }
            }
        }
    }
    store(site, acc);
}
