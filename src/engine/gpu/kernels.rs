//! The WGSL kernels and their contract with the Rust that launches them, written once:
//!
//! - each kernel family's parameters are a `#[repr(C)]` struct of 32-bit words here, mirrored
//!   field by field (same names, order and types) by the WGSL `struct` of the same name in its
//!   shader file, which binds it as `p` at binding 0; every family's struct starts with `count`,
//!   the number of invocations that do work;
//! - op codes are Rust enums here; the WGSL constants that name them (`UNARY_EXP`, …) are
//!   generated from these enums and put before every kernel's source, never written by hand.
//!
//! The tests below read the WGSL and fail when the two sides disagree.

use std::marker::PhantomData;

use crate::engine::gpu::device::Kernel;

/// The prelude of every kernel (see [`wgsl`]).
const COMMON: &str = include_str!("shaders/common.wgsl");
const ELEMENTWISE: &str = include_str!("shaders/elementwise.wgsl");
const CONV: &str = include_str!("shaders/conv.wgsl");
const MATMUL: &str = include_str!("shaders/matmul.wgsl");
const POOL: &str = include_str!("shaders/pool.wgsl");
const REDUCE: &str = include_str!("shaders/reduce.wgsl");
const NORM: &str = include_str!("shaders/norm.wgsl");
const LAYOUT: &str = include_str!("shaders/layout.wgsl");

/// A struct shared with WGSL: its fields (all u32, i32, f32, arrays or such structs: 4-byte
/// aligned, no padding on either side) in declaration order.
pub(crate) trait WgslStruct: bytemuck::Pod {
    /// The WGSL that declares the struct of the same name.
    const SOURCE: &'static str;
    /// The struct's name.
    #[cfg(test)]
    const NAME: &'static str;
    /// Each field's name and Rust type.
    #[cfg(test)]
    const FIELDS: &'static [(&'static str, &'static str)];
}

/// Declares a `#[repr(C)]` struct shared with WGSL (see [`WgslStruct`]).
macro_rules! wgsl_struct {
    ($(#[$meta:meta])* struct $name:ident in $source:ident {
        $($(#[$field_meta:meta])* $field:ident: $ty:ty,)*
    }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub(crate) struct $name {
            $($(#[$field_meta])* pub(crate) $field: $ty,)*
        }

        // SAFETY: `repr(C)`, every field is Pod (checked below) and 4-byte aligned, and the
        // fields fill the struct (checked below), so there are no padding bytes.
        unsafe impl bytemuck::Zeroable for $name {}
        unsafe impl bytemuck::Pod for $name {}
        const _: () = {
            fn fields_are_pod() {
                fn pod<T: bytemuck::Pod>() {}
                $(pod::<$ty>();)*
            }
            let _ = fields_are_pod;
            assert!(std::mem::size_of::<$name>() == 0 $(+ std::mem::size_of::<$ty>())*);
            assert!(std::mem::align_of::<$name>() == 4);
        };

        impl WgslStruct for $name {
            const SOURCE: &'static str = $source;
            #[cfg(test)]
            const NAME: &'static str = stringify!($name);
            #[cfg(test)]
            const FIELDS: &'static [(&'static str, &'static str)] = &[$((stringify!($field), stringify!($ty))),*];
        }
    };
}

/// Declares op codes shared with WGSL (see [`OpCodes`]).
macro_rules! op_codes {
    ($(#[$meta:meta])* enum $name:ident as $prefix:literal in $source:ident {
        $($(#[$variant_meta:meta])* $variant:ident = $value:literal,)*
    }) => {
        $(#[$meta])*
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $name {
            $($(#[$variant_meta])* $variant = $value,)*
        }

        impl OpCodes for $name {
            const PREFIX: &'static str = $prefix;
            #[cfg(test)]
            const SOURCE: &'static str = $source;
            const ALL: &'static [(&'static str, u32)] = &[$((stringify!($variant), $value)),*];
        }
    };
}

/// The op codes one kernel family switches on; in WGSL each is the constant `PREFIX_NAME`
/// (`UnaryOp::GeluExact` is `UNARY_GELU_EXACT`).
pub(crate) trait OpCodes {
    const PREFIX: &'static str;
    /// The family's WGSL, which must handle every code.
    #[cfg(test)]
    const SOURCE: &'static str;
    /// Each variant's name and code.
    const ALL: &'static [(&'static str, u32)];
}

/// The op-code constants of every family, as WGSL.
fn op_code_constants() -> String {
    let families = [
        (UnaryOp::PREFIX, UnaryOp::ALL),
        (BinaryOp::PREFIX, BinaryOp::ALL),
        (ReduceOp::PREFIX, ReduceOp::ALL),
        (NormOp::PREFIX, NormOp::ALL),
    ];
    let mut wgsl = String::from("// Generated from the op-code enums in kernels.rs.\n");
    for (prefix, codes) in families {
        for (name, code) in codes {
            wgsl.push_str(&format!("const {}: u32 = {code}u;\n", wgsl_constant(prefix, name)));
        }
    }
    wgsl
}

/// `UNARY` and `GeluExact` → `UNARY_GELU_EXACT`.
fn wgsl_constant(prefix: &str, variant: &str) -> String {
    let mut name = String::from(prefix);
    for c in variant.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The whole WGSL module of `kernel`: the shared prelude, the op-code constants, its family's
/// source.
pub(crate) fn wgsl(kernel: Kernel) -> String {
    format!("{COMMON}\n{}\n{}", op_code_constants(), kernel.source)
}

/// An entry point whose parameters are `P`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<P> {
    pub(crate) kernel: Kernel,
    params: PhantomData<P>,
}

impl<P: WgslStruct> Entry<P> {
    const fn new(entry: &'static str) -> Entry<P> {
        Entry { kernel: Kernel { source: P::SOURCE, entry }, params: PhantomData }
    }
}

/// `params` as the words bound at binding 0.
pub(crate) fn words<P: WgslStruct>(params: &P) -> Vec<u32> {
    bytemuck::cast_slice(std::slice::from_ref(params)).to_vec()
}

// Element-wise operations (elementwise.wgsl).

wgsl_struct! {
    /// Unary, binary and select kernels over a rank-6 output, operands broadcast to it.
    struct ElementwiseParams in ELEMENTWISE {
        count: u32,
        /// A [`UnaryOp`] or [`BinaryOp`] (unused by select).
        op: u32,
        /// The leaky ReLU's slope.
        alpha: f32,
        dims: [u32; 6],
        /// Per operand (a, b, c): its stride along each output axis, 0 where it broadcasts.
        strides: [[u32; 6]; 3],
        /// Per operand: 1 when it is laid out like the output (then indexed directly).
        same_layout: [u32; 3],
    }
}

op_codes! {
    /// The unary kernel's operations.
    enum UnaryOp as "UNARY" in ELEMENTWISE {
        Exp = 0,
        Ln = 1,
        Sqrt = 2,
        Rsqrt = 3,
        Recip = 4,
        Abs = 5,
        Neg = 6,
        Sigmoid = 7,
        Tanh = 8,
        Erf = 9,
        GeluExact = 10,
        Cos = 11,
        Sin = 12,
        Square = 13,
        Floor = 14,
        Ceil = 15,
        Silu = 16,
        /// x, or alpha·x below 0.
        LeakyRelu = 17,
        /// Broadcasting a tensor (`MultiBroadcastTo`).
        Identity = 99,
    }
}

op_codes! {
    /// The binary kernel's operations; comparisons give 0.0 or 1.0.
    enum BinaryOp as "BINARY" in ELEMENTWISE {
        Add = 0,
        Sub = 1,
        Mul = 2,
        Div = 3,
        Max = 4,
        Min = 5,
        Pow = 6,
        Lt = 7,
        Gt = 8,
        Lte = 9,
        Gte = 10,
        Eq = 11,
        Ne = 12,
    }
}

pub(crate) const UNARY: Entry<ElementwiseParams> = Entry::new("unary_main");
pub(crate) const BINARY: Entry<ElementwiseParams> = Entry::new("binary_main");
pub(crate) const SELECT: Entry<ElementwiseParams> = Entry::new("select_main");

// Convolutions and pooling (conv.wgsl, pool.wgsl).

wgsl_struct! {
    /// A convolution or pooling window over three spatial axes (fewer are lifted to three with
    /// leading axes of size 1, unpadded); declared in common.wgsl.
    struct Window in COMMON {
        in_dims: [u32; 3],
        out_dims: [u32; 3],
        kernel: [u32; 3],
        strides: [u32; 3],
        dilations: [u32; 3],
        pad_before: [i32; 3],
    }
}

wgsl_struct! {
    /// Convolutions and transposed convolutions of a channel-first batch.
    struct ConvParams in CONV {
        count: u32,
        batch: u32,
        c_in: u32,
        c_out: u32,
        groups: u32,
        /// Output channels per invocation (at most `LANES` in conv.wgsl).
        lanes: u32,
        window: Window,
    }
}

pub(crate) const CONVOLUTION: Entry<ConvParams> = Entry::new("conv_main");
pub(crate) const DECONVOLUTION: Entry<ConvParams> = Entry::new("deconv_main");

wgsl_struct! {
    /// Max pooling of `planes` (batch × channels) planes.
    struct PoolParams in POOL {
        count: u32,
        planes: u32,
        window: Window,
    }
}

pub(crate) const MAX_POOL: Entry<PoolParams> = Entry::new("max_pool_main");

// Matrix products (matmul.wgsl).

wgsl_struct! {
    /// Batched matrix products: each output element of a rank-6 output is a dot product over
    /// `depth` elements of A and B.
    struct MatmulParams in MATMUL {
        count: u32,
        depth: u32,
        a_depth_stride: u32,
        b_depth_stride: u32,
        dims: [u32; 6],
        a_strides: [u32; 6],
        b_strides: [u32; 6],
    }
}

pub(crate) const MATRIX_PRODUCT: Entry<MatmulParams> = Entry::new("matmul_main");
pub(crate) const TILED_MATRIX_PRODUCT: Entry<MatmulParams> = Entry::new("matmul_tiled_main");

// Reductions (reduce.wgsl).

wgsl_struct! {
    /// Reductions over any set of axes of a rank-6 input; reduced axes stay with size 1.
    struct ReduceParams in REDUCE {
        count: u32,
        /// A [`ReduceOp`].
        op: u32,
        /// Input elements per output element.
        reduced_count: u32,
        /// The output's dims (reduced axes 1).
        dims: [u32; 6],
        /// The reduced axes' dims (1 where not reduced).
        reduced_dims: [u32; 6],
        /// The input's strides.
        strides: [u32; 6],
    }
}

op_codes! {
    /// The reduction kernel's operations.
    enum ReduceOp as "REDUCE" in REDUCE {
        Sum = 0,
        Max = 1,
        Min = 2,
        Prod = 3,
        MeanOfSquares = 4,
    }
}

pub(crate) const REDUCTION: Entry<ReduceParams> = Entry::new("reduce_main");

// Normalisations (norm.wgsl).

wgsl_struct! {
    /// Normalisations along one axis of an input seen as [outer, length, inner].
    struct NormParams in NORM {
        /// outer · inner.
        count: u32,
        /// A [`NormOp`].
        op: u32,
        length: u32,
        inner: u32,
        /// RMS normalisation's epsilon.
        eps: f32,
    }
}

op_codes! {
    /// The normalisation kernel's operations.
    enum NormOp as "NORM" in NORM {
        Softmax = 0,
        LogSoftmax = 1,
        /// x / sqrt(mean(x²) + eps).
        RmsNorm = 2,
    }
}

pub(crate) const NORMALISATION: Entry<NormParams> = Entry::new("norm_main");

// Data movement (layout.wgsl).

wgsl_struct! {
    /// A strided copy: output coordinate c (over `dims`, written at `dst_offset` + c · dst
    /// strides) reads source coordinate c · step + shift, or `pad` outside `src_dims`.
    struct CopyParams in LAYOUT {
        count: u32,
        pad: f32,
        dst_offset: u32,
        src_offset: u32,
        dims: [u32; 6],
        dst_strides: [u32; 6],
        src_strides: [u32; 6],
        step: [i32; 6],
        shift: [i32; 6],
        src_dims: [u32; 6],
    }
}

pub(crate) const COPY: Entry<CopyParams> = Entry::new("copy_main");

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    /// A struct shared with WGSL: name, source, Rust fields (name, type), Rust size.
    type Shared = (&'static str, &'static str, &'static [(&'static str, &'static str)], usize);
    /// An op-code family: prefix, source, codes.
    type Family = (&'static str, &'static str, &'static [(&'static str, u32)]);

    /// Every struct shared with WGSL.
    fn structs() -> Vec<Shared> {
        fn of<P: WgslStruct>() -> Shared {
            (P::NAME, P::SOURCE, P::FIELDS, std::mem::size_of::<P>())
        }
        vec![
            of::<ElementwiseParams>(),
            of::<Window>(),
            of::<ConvParams>(),
            of::<PoolParams>(),
            of::<MatmulParams>(),
            of::<ReduceParams>(),
            of::<NormParams>(),
            of::<CopyParams>(),
        ]
    }

    /// Every op-code family.
    fn op_families() -> Vec<Family> {
        fn of<O: OpCodes>() -> Family {
            (O::PREFIX, O::SOURCE, O::ALL)
        }
        vec![of::<UnaryOp>(), of::<BinaryOp>(), of::<ReduceOp>(), of::<NormOp>()]
    }

    fn without_comments(wgsl: &str) -> String {
        wgsl.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
    }

    /// Every `struct Name { field: type, … }` of `wgsl`, types in Rust spelling
    /// (`array<u32, 6>` → `[u32;6]`, spaces removed).
    fn wgsl_structs(wgsl: &str) -> HashMap<String, Vec<(String, String)>> {
        let wgsl = without_comments(wgsl);
        let mut structs = HashMap::new();
        let mut rest = wgsl.as_str();
        while let Some(at) = rest.find("struct ") {
            let after = &rest[at + "struct ".len()..];
            let open = after.find('{').expect("struct body");
            let close = after.find('}').expect("struct end");
            let name = after[..open].trim().to_string();
            let fields = top_level_split(&after[open + 1..close])
                .into_iter()
                .filter(|field| !field.trim().is_empty())
                .map(|field| {
                    let (name, ty) = field.split_once(':').unwrap_or_else(|| panic!("field {field:?}"));
                    (name.trim().to_string(), rust_type(ty))
                })
                .collect();
            structs.insert(name, fields);
            rest = &after[close..];
        }
        structs
    }

    /// `s` split at the commas outside `<…>`.
    fn top_level_split(s: &str) -> Vec<&str> {
        let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
        for (i, c) in s.char_indices() {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&s[start..]);
        parts
    }

    /// A WGSL type in Rust spelling, without spaces.
    fn rust_type(wgsl: &str) -> String {
        let wgsl: String = wgsl.chars().filter(|c| !c.is_whitespace()).collect();
        match wgsl.strip_prefix("array<").and_then(|inner| inner.strip_suffix('>')) {
            Some(inner) => {
                let (element, count) = inner.rsplit_once(',').expect("a fixed-size array");
                format!("[{};{}]", rust_type(element), count.trim_end_matches('u'))
            }
            None => wgsl,
        }
    }

    /// Bytes of a type in Rust spelling; only 4-byte scalars, arrays and structs of them (no
    /// vectors: their alignment would add padding on the WGSL side only).
    fn size(ty: &str, structs: &HashMap<String, Vec<(String, String)>>) -> usize {
        match ty {
            "u32" | "i32" | "f32" => 4,
            _ => match ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                Some(inner) => {
                    let (element, count) = inner.rsplit_once(';').expect("[T;N]");
                    size(element, structs) * count.parse::<usize>().expect("array length")
                }
                None => {
                    let fields =
                        structs.get(ty).unwrap_or_else(|| panic!("{ty} is not a u32, i32, f32, array or struct"));
                    fields.iter().map(|(_, t)| size(t, structs)).sum()
                }
            },
        }
    }

    #[test]
    fn every_parameter_struct_matches_its_wgsl_struct() {
        for (name, source, fields, bytes) in structs() {
            let wgsl = wgsl_structs(&format!("{COMMON}\n{source}"));
            let declared = wgsl.get(name).unwrap_or_else(|| panic!("no `struct {name}` in its WGSL"));
            let rust: Vec<(String, String)> = fields
                .iter()
                .map(|(f, t)| (f.to_string(), t.chars().filter(|c| !c.is_whitespace()).collect()))
                .collect();
            assert_eq!(declared, &rust, "{name}: WGSL fields (left) differ from Rust's (right)");
            assert_eq!(size(name, &wgsl), bytes, "{name}: WGSL size differs from Rust's");
            if name.ends_with("Params") {
                assert_eq!(fields.first(), Some(&("count", "u32")), "{name}: the first field must be `count: u32`");
                let binding = format!("@group(0) @binding(0) var<storage, read> p: {name};");
                assert!(source.contains(&binding), "{name}: its WGSL lacks `{binding}`");
            }
        }
    }

    #[test]
    fn every_kernel_family_declares_its_own_parameters_once() {
        let sources = [ELEMENTWISE, CONV, MATMUL, POOL, REDUCE, NORM, LAYOUT];
        let all: BTreeSet<&str> = structs().iter().map(|s| s.0).collect();
        for source in sources {
            let declared = wgsl_structs(source);
            let bindings = source.matches("@binding(0)").count();
            assert_eq!(bindings, 1, "each family binds its parameters once:\n{source}");
            for name in declared.keys().filter(|n| n.ends_with("Params")) {
                assert!(all.contains(name.as_str()), "WGSL struct {name} has no Rust twin in kernels.rs");
            }
        }
        assert!(wgsl_structs(COMMON).keys().all(|name| all.contains(name.as_str())));
    }

    #[test]
    fn op_codes_are_named_once_and_every_code_is_handled() {
        let generated = op_code_constants();
        let defined: BTreeSet<String> = generated
            .lines()
            .filter_map(|line| line.strip_prefix("const "))
            .map(|line| line.split(':').next().unwrap_or("").to_string())
            .collect();
        assert!(generated.contains("const UNARY_GELU_EXACT: u32 = 10u;\n"), "{generated}");
        assert!(generated.contains("const REDUCE_MEAN_OF_SQUARES: u32 = 4u;\n"), "{generated}");
        let prefixes: Vec<String> = op_families().iter().map(|(prefix, ..)| format!("{prefix}_")).collect();
        for source in [COMMON, ELEMENTWISE, CONV, MATMUL, POOL, REDUCE, NORM, LAYOUT] {
            let code = without_comments(source);
            // No hand-written op codes: every op-code name is a generated one, none is defined here.
            for word in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if prefixes.iter().any(|p| word.starts_with(p.as_str())) {
                    assert!(defined.contains(word), "{word} is not an op code generated from kernels.rs");
                }
            }
            let by_number = |pattern: &str| {
                code.match_indices(pattern)
                    .any(|(at, _)| code[at + pattern.len()..].starts_with(|c: char| c.is_ascii_digit()))
            };
            assert!(!by_number("case ") && !by_number("op == "), "an op code by number in:\n{source}");
        }
        for (prefix, source, codes) in op_families() {
            let code = without_comments(source);
            for (variant, _) in codes {
                let constant = wgsl_constant(prefix, variant);
                assert!(
                    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|w| w == constant),
                    "{constant} is never used by its kernel family"
                );
            }
        }
    }

    #[test]
    fn parameters_are_bound_as_their_words_in_field_order() {
        let params = NormParams { count: 6, op: NormOp::RmsNorm as u32, length: 7, inner: 8, eps: 0.5 };
        assert_eq!(words(&params), vec![6, 2, 7, 8, 0.5f32.to_bits()]);
        let window = Window {
            in_dims: [1, 2, 3],
            out_dims: [4, 5, 6],
            kernel: [7, 8, 9],
            strides: [10, 11, 12],
            dilations: [13, 14, 15],
            pad_before: [-1, 0, 1],
        };
        let conv = words(&ConvParams { count: 1, batch: 2, c_in: 3, c_out: 4, groups: 5, lanes: 6, window });
        assert_eq!(conv.len(), 24);
        assert_eq!(conv[6..9], [1, 2, 3]);
        assert_eq!(conv[21], -1i32 as u32);
        assert_eq!(UNARY.kernel.source, ELEMENTWISE);
        assert_eq!(MAX_POOL.kernel.entry, "max_pool_main");
    }
}
