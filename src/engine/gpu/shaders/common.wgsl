// Prepended to every kernel, followed by the op-code constants (UNARY_EXP, …) generated from
// the Rust enums in kernels.rs. Each family's file declares its parameter struct, the twin of
// the Rust struct of the same name in kernels.rs (same fields, order and types; the tests in
// kernels.rs check it), binds it as `p` at binding 0, and its outputs and inputs after it.
// Every parameter struct starts with `count`, the number of invocations that do work.

const WORKGROUP: u32 = 64u;

// The invocation's linear index over a 2D grid of workgroups.
fn linear_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WORKGROUP;
}

// A convolution or pooling window over three spatial axes (fewer axes are lifted to three with
// leading axes of size 1, unpadded).
struct Window {
    in_dims: array<u32, 3>,
    out_dims: array<u32, 3>,
    kernel: array<u32, 3>,
    strides: array<u32, 3>,
    dilations: array<u32, 3>,
    pad_before: array<i32, 3>,
}

fn unsigned3(a: array<u32, 3>) -> vec3<u32> {
    return vec3<u32>(a[0], a[1], a[2]);
}

fn signed3(a: array<u32, 3>) -> vec3<i32> {
    return vec3<i32>(i32(a[0]), i32(a[1]), i32(a[2]));
}

fn offsets3(a: array<i32, 3>) -> vec3<i32> {
    return vec3<i32>(a[0], a[1], a[2]);
}

// Offset of element `i` of a rank-6 tensor of `dims` in an operand whose stride along each of
// its axes is `strides` (0 where the operand broadcasts).
fn strided_offset(i: u32, dims: array<u32, 6>, strides: array<u32, 6>) -> u32 {
    var rest = i;
    var offset = 0u;
    for (var k = 5i; k >= 0i; k = k - 1i) {
        let d = dims[k];
        offset = offset + (rest % d) * strides[k];
        rest = rest / d;
    }
    return offset;
}
