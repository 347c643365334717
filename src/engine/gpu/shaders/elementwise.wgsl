// Element-wise operations: unary maths and activations, broadcasting binary operations and
// comparisons (booleans are stored as 0.0 / 1.0), and select (Iff).
// Parameters: [count, op, alpha, dims(6) @3, a strides @9, b strides @15, c strides @21,
//              whether a, b, c are laid out like the output (then indexed directly) @27].
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> c: array<f32>;

const DIMS: u32 = 3u;
const A_STRIDES: u32 = 9u;
const B_STRIDES: u32 = 15u;
const C_STRIDES: u32 = 21u;
const SAME_LAYOUT: u32 = 27u;

// Where operand `k` (strides at `strides_at`) holds output element `i`.
fn operand_offset(i: u32, k: u32, strides_at: u32) -> u32 {
    if (p[SAME_LAYOUT + k] != 0u) {
        return i;
    }
    return strided_offset(i, DIMS, strides_at);
}

// erf to ~1e-7: its Taylor series near 0 (relative accuracy where erf is small), Abramowitz
// and Stegun 7.1.26 beyond.
fn erf_f32(x: f32) -> f32 {
    let ax = abs(x);
    if (ax < 1.0) {
        let x2 = x * x;
        var term = x;
        var sum = x;
        for (var n = 1u; n < 12u; n = n + 1u) {
            term = -term * x2 / f32(n);
            sum = sum + term / f32(2u * n + 1u);
        }
        return 1.1283791670955126 * sum;
    }
    let t = 1.0 / (1.0 + 0.3275911 * ax);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(x) * (1.0 - poly * exp(-ax * ax));
}

fn unary(op: u32, x: f32, alpha: f32) -> f32 {
    switch op {
        case 0u: { return exp(x); }
        case 1u: { return log(x); }
        case 2u: { return sqrt(x); }
        case 3u: { return inverseSqrt(x); }
        case 4u: { return 1.0 / x; }
        case 5u: { return abs(x); }
        case 6u: { return -x; }
        case 7u: { return 1.0 / (1.0 + exp(-x)); }
        case 8u: { return tanh(x); }
        case 9u: { return erf_f32(x); }
        case 10u: { return 0.5 * x * (1.0 + erf_f32(x * 0.70710678118654752)); }
        case 11u: { return cos(x); }
        case 12u: { return sin(x); }
        case 13u: { return x * x; }
        case 14u: { return floor(x); }
        case 15u: { return ceil(x); }
        case 16u: { return x / (1.0 + exp(-x)); }
        case 17u: { return select(alpha * x, x, x >= 0.0); }
        default: { return x; }
    }
}

fn binary(op: u32, x: f32, z: f32) -> f32 {
    switch op {
        case 0u: { return x + z; }
        case 1u: { return x - z; }
        case 2u: { return x * z; }
        case 3u: { return x / z; }
        case 4u: { return max(x, z); }
        case 5u: { return min(x, z); }
        case 6u: { return pow(x, z); }
        case 7u: { return select(0.0, 1.0, x < z); }
        case 8u: { return select(0.0, 1.0, x > z); }
        case 9u: { return select(0.0, 1.0, x <= z); }
        case 10u: { return select(0.0, 1.0, x >= z); }
        case 11u: { return select(0.0, 1.0, x == z); }
        case 12u: { return select(0.0, 1.0, x != z); }
        default: { return x; }
    }
}

@compute @workgroup_size(64)
fn unary_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p[0]) { return; }
    y[i] = unary(p[1], a[operand_offset(i, 0u, A_STRIDES)], param_f32(2u));
}

@compute @workgroup_size(64)
fn binary_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p[0]) { return; }
    y[i] = binary(p[1], a[operand_offset(i, 0u, A_STRIDES)], b[operand_offset(i, 1u, B_STRIDES)]);
}

@compute @workgroup_size(64)
fn select_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p[0]) { return; }
    let chosen = a[operand_offset(i, 0u, A_STRIDES)] != 0.0;
    y[i] = select(c[operand_offset(i, 2u, C_STRIDES)], b[operand_offset(i, 1u, B_STRIDES)], chosen);
}
