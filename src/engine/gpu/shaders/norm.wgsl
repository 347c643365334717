// Normalisations along one axis, seen as [outer, length, inner]: softmax, log-softmax and
// RMS normalisation (x / sqrt(mean(x²) + eps)); f32 accumulation, max subtracted first.
// Parameters: [count (outer·inner), op, length, inner, eps].
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn norm_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p[0]) { return; }
    let op = p[1];
    let length = p[2];
    let inner = p[3];
    let base = (i / inner) * length * inner + i % inner;
    if (op == 2u) {
        var squares = 0.0;
        for (var k = 0u; k < length; k = k + 1u) {
            let v = x[base + k * inner];
            squares = squares + v * v;
        }
        let scale = inverseSqrt(squares / f32(length) + param_f32(4u));
        for (var k = 0u; k < length; k = k + 1u) {
            y[base + k * inner] = x[base + k * inner] * scale;
        }
        return;
    }
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
        if (op == 1u) {
            y[base + k * inner] = shifted - log(total);
        } else {
            y[base + k * inner] = exp(shifted) / total;
        }
    }
}
