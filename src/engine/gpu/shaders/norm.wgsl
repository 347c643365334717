// Normalisations along one axis, seen as [outer, length, inner]: softmax, log-softmax and
// RMS normalisation (x / sqrt(mean(x²) + eps)); f32 accumulation, max subtracted first.
struct NormParams {
    count: u32,
    op: u32,
    length: u32,
    inner: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> p: NormParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

fn rms_norm(base: u32, length: u32, inner: u32) {
    var squares = 0.0;
    for (var k = 0u; k < length; k = k + 1u) {
        let v = x[base + k * inner];
        squares = squares + v * v;
    }
    let scale = inverseSqrt(squares / f32(length) + p.eps);
    for (var k = 0u; k < length; k = k + 1u) {
        y[base + k * inner] = x[base + k * inner] * scale;
    }
}

fn softmax(base: u32, length: u32, inner: u32, logarithm: bool) {
    var top = -3.40282346e38;
    for (var k = 0u; k < length; k = k + 1u) {
        top = max(top, x[base + k * inner]);
    }
    var total = 0.0;
    for (var k = 0u; k < length; k = k + 1u) {
        total = total + exp(x[base + k * inner] - top);
    }
    for (var k = 0u; k < length; k = k + 1u) {
        let shifted = x[base + k * inner] - top;
        if (logarithm) {
            y[base + k * inner] = shifted - log(total);
        } else {
            y[base + k * inner] = exp(shifted) / total;
        }
    }
}

@compute @workgroup_size(64)
fn norm_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    let length = p.length;
    let inner = p.inner;
    let base = (i / inner) * length * inner + i % inner;
    switch p.op {
        case NORM_RMS_NORM: { rms_norm(base, length, inner); }
        case NORM_LOG_SOFTMAX: { softmax(base, length, inner, true); }
        case NORM_SOFTMAX, default: { softmax(base, length, inner, false); }
    }
}
