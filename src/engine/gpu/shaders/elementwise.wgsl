// Element-wise operations: unary maths and activations, broadcasting binary operations and
// comparisons (booleans are stored as 0.0 / 1.0), and select (Iff).
struct ElementwiseParams {
    count: u32,
    op: u32,
    alpha: f32,
    dims: array<u32, 6>,
    // Per operand (a, b, c): its stride along each output axis, 0 where it broadcasts.
    strides: array<array<u32, 6>, 3>,
    // Per operand: 1 when it is laid out like the output (then indexed directly).
    same_layout: array<u32, 3>,
}

@group(0) @binding(0) var<storage, read> p: ElementwiseParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> c: array<f32>;

// Where operand `k` holds output element `i`.
fn operand_offset(i: u32, k: u32) -> u32 {
    if (p.same_layout[k] != 0u) {
        return i;
    }
    return strided_offset(i, p.dims, p.strides[k]);
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
        case UNARY_EXP: { return exp(x); }
        case UNARY_LN: { return log(x); }
        case UNARY_SQRT: { return sqrt(x); }
        case UNARY_RSQRT: { return inverseSqrt(x); }
        case UNARY_RECIP: { return 1.0 / x; }
        case UNARY_ABS: { return abs(x); }
        case UNARY_NEG: { return -x; }
        case UNARY_SIGMOID: { return 1.0 / (1.0 + exp(-x)); }
        case UNARY_TANH: { return tanh(x); }
        case UNARY_ERF: { return erf_f32(x); }
        case UNARY_GELU_EXACT: { return 0.5 * x * (1.0 + erf_f32(x * 0.70710678118654752)); }
        case UNARY_COS: { return cos(x); }
        case UNARY_SIN: { return sin(x); }
        case UNARY_SQUARE: { return x * x; }
        case UNARY_FLOOR: { return floor(x); }
        case UNARY_CEIL: { return ceil(x); }
        case UNARY_SILU: { return x / (1.0 + exp(-x)); }
        case UNARY_LEAKY_RELU: { return select(alpha * x, x, x >= 0.0); }
        case UNARY_IDENTITY, default: { return x; }
    }
}

fn binary(op: u32, x: f32, z: f32) -> f32 {
    switch op {
        case BINARY_ADD: { return x + z; }
        case BINARY_SUB: { return x - z; }
        case BINARY_MUL: { return x * z; }
        case BINARY_DIV: { return x / z; }
        case BINARY_MAX: { return max(x, z); }
        case BINARY_MIN: { return min(x, z); }
        case BINARY_POW: { return pow(x, z); }
        case BINARY_LT: { return select(0.0, 1.0, x < z); }
        case BINARY_GT: { return select(0.0, 1.0, x > z); }
        case BINARY_LTE: { return select(0.0, 1.0, x <= z); }
        case BINARY_GTE: { return select(0.0, 1.0, x >= z); }
        case BINARY_EQ: { return select(0.0, 1.0, x == z); }
        case BINARY_NE: { return select(0.0, 1.0, x != z); }
        default: { return x; }
    }
}

@compute @workgroup_size(64)
fn unary_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    y[i] = unary(p.op, a[operand_offset(i, 0u)], p.alpha);
}

@compute @workgroup_size(64)
fn binary_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    y[i] = binary(p.op, a[operand_offset(i, 0u)], b[operand_offset(i, 1u)]);
}

@compute @workgroup_size(64)
fn select_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if (i >= p.count) { return; }
    let chosen = a[operand_offset(i, 0u)] != 0.0;
    y[i] = select(c[operand_offset(i, 2u)], b[operand_offset(i, 1u)], chosen);
}
