//! Typed voxel storage: the on-disk datatype, and the voxels kept in their own type.

use rayon::prelude::*;

use super::error::ReadError;

/// Values converted per rayon task at the least (a small volume stays on the calling thread).
const VALUES_PER_TASK: usize = 1 << 16;

/// A NIfTI-1 datatype as found in a file's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datatype {
    /// Code 2.
    U8,
    /// Code 256.
    I8,
    /// Code 4.
    I16,
    /// Code 512.
    U16,
    /// Code 8.
    I32,
    /// Code 768.
    U32,
    /// Code 1024.
    I64,
    /// Code 1280.
    U64,
    /// Code 16.
    F32,
    /// Code 64.
    F64,
    /// Code 128: three u8 per voxel; read as luminance.
    Rgb24,
    /// Code 2304: four u8 per voxel; read as luminance of RGB.
    Rgba32,
    /// Code 32: two f32 per voxel; read as magnitude.
    Complex64,
}

impl Datatype {
    /// Decodes a `datatype` header code.
    pub fn from_code(code: i16) -> Result<Datatype, ReadError> {
        Ok(match code {
            2 => Datatype::U8,
            256 => Datatype::I8,
            4 => Datatype::I16,
            512 => Datatype::U16,
            8 => Datatype::I32,
            768 => Datatype::U32,
            1024 => Datatype::I64,
            1280 => Datatype::U64,
            16 => Datatype::F32,
            64 => Datatype::F64,
            128 => Datatype::Rgb24,
            2304 => Datatype::Rgba32,
            32 => Datatype::Complex64,
            1 => return Err(ReadError::UnsupportedDatatype { code, name: "binary (1 bit)" }),
            1536 => return Err(ReadError::UnsupportedDatatype { code, name: "float128" }),
            1792 => return Err(ReadError::UnsupportedDatatype { code, name: "complex128" }),
            2048 => return Err(ReadError::UnsupportedDatatype { code, name: "complex256" }),
            other => return Err(ReadError::UnknownDatatype(other)),
        })
    }

    /// The header code.
    pub fn code(self) -> i16 {
        match self {
            Datatype::U8 => 2,
            Datatype::I8 => 256,
            Datatype::I16 => 4,
            Datatype::U16 => 512,
            Datatype::I32 => 8,
            Datatype::U32 => 768,
            Datatype::I64 => 1024,
            Datatype::U64 => 1280,
            Datatype::F32 => 16,
            Datatype::F64 => 64,
            Datatype::Rgb24 => 128,
            Datatype::Rgba32 => 2304,
            Datatype::Complex64 => 32,
        }
    }

    /// Bytes one voxel takes on disk.
    pub fn bytes_per_voxel(self) -> usize {
        match self {
            Datatype::U8 | Datatype::I8 => 1,
            Datatype::I16 | Datatype::U16 => 2,
            Datatype::Rgb24 => 3,
            Datatype::I32 | Datatype::U32 | Datatype::F32 | Datatype::Rgba32 => 4,
            Datatype::I64 | Datatype::U64 | Datatype::F64 | Datatype::Complex64 => 8,
        }
    }

    /// Name as numpy spells it ("uint8", "int16", "float32", "rgb24", "complex64", …).
    pub fn name(self) -> &'static str {
        match self {
            Datatype::U8 => "uint8",
            Datatype::I8 => "int8",
            Datatype::I16 => "int16",
            Datatype::U16 => "uint16",
            Datatype::I32 => "int32",
            Datatype::U32 => "uint32",
            Datatype::I64 => "int64",
            Datatype::U64 => "uint64",
            Datatype::F32 => "float32",
            Datatype::F64 => "float64",
            Datatype::Rgb24 => "rgb24",
            Datatype::Rgba32 => "rgba32",
            Datatype::Complex64 => "complex64",
        }
    }
}

/// Voxels in memory, native byte order, x fastest. Integer and real types stay as stored;
/// RGB and complex voxels become f32 luminance or magnitude.
#[derive(Clone, Debug, PartialEq)]
pub enum VoxelData {
    /// uint8.
    U8(Vec<u8>),
    /// int8.
    I8(Vec<i8>),
    /// int16.
    I16(Vec<i16>),
    /// uint16.
    U16(Vec<u16>),
    /// int32.
    I32(Vec<i32>),
    /// uint32.
    U32(Vec<u32>),
    /// int64.
    I64(Vec<i64>),
    /// uint64.
    U64(Vec<u64>),
    /// float32 (also luminance of RGB, magnitude of complex).
    F32(Vec<f32>),
    /// float64.
    F64(Vec<f64>),
}

/// Runs `$body` with `$v` bound to the typed vector inside a `VoxelData`.
macro_rules! with_voxels {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            VoxelData::U8($v) => $body,
            VoxelData::I8($v) => $body,
            VoxelData::I16($v) => $body,
            VoxelData::U16($v) => $body,
            VoxelData::I32($v) => $body,
            VoxelData::U32($v) => $body,
            VoxelData::I64($v) => $body,
            VoxelData::U64($v) => $body,
            VoxelData::F32($v) => $body,
            VoxelData::F64($v) => $body,
        }
    };
}

/// A number type that voxels are stored in.
pub trait Voxel: Copy + Send + Sync {
    /// Bytes per value.
    const SIZE: usize;
    /// Decodes one value from `SIZE` bytes.
    fn from_bytes(bytes: &[u8], big_endian: bool) -> Self;
    /// Appends the value's little-endian bytes to `out`.
    fn write_le(self, out: &mut Vec<u8>);
    /// The value as f64 (exact for every type but 64-bit integers beyond 2⁵³).
    fn to_f64(self) -> f64;
}

macro_rules! impl_voxel {
    ($($t:ty),*) => {$(
        impl Voxel for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_bytes(bytes: &[u8], big_endian: bool) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$t>()];
                raw.copy_from_slice(bytes);
                if big_endian { <$t>::from_be_bytes(raw) } else { <$t>::from_le_bytes(raw) }
            }
            fn to_f64(self) -> f64 { self as f64 }
            fn write_le(self, out: &mut Vec<u8>) { out.extend_from_slice(&self.to_le_bytes()) }
        }
    )*};
}
impl_voxel!(u8, i8, i16, u16, i32, u32, i64, u64, f32, f64);

/// Decodes raw voxel bytes piece by piece into the vector their datatype is held in, growing it
/// only as bytes arrive and failing (instead of aborting) when memory cannot grow.
pub(crate) struct VoxelDecoder {
    data: VoxelData,
    datatype: Datatype,
    big_endian: bool,
}

impl VoxelDecoder {
    /// An empty decoder; room for `expected_voxels` is reserved when memory allows.
    pub(crate) fn new(datatype: Datatype, big_endian: bool, expected_voxels: usize) -> VoxelDecoder {
        let mut data = match datatype {
            Datatype::U8 => VoxelData::U8(Vec::new()),
            Datatype::I8 => VoxelData::I8(Vec::new()),
            Datatype::I16 => VoxelData::I16(Vec::new()),
            Datatype::U16 => VoxelData::U16(Vec::new()),
            Datatype::I32 => VoxelData::I32(Vec::new()),
            Datatype::U32 => VoxelData::U32(Vec::new()),
            Datatype::I64 => VoxelData::I64(Vec::new()),
            Datatype::U64 => VoxelData::U64(Vec::new()),
            Datatype::F32 | Datatype::Rgb24 | Datatype::Rgba32 | Datatype::Complex64 => VoxelData::F32(Vec::new()),
            Datatype::F64 => VoxelData::F64(Vec::new()),
        };
        // Only a hint: on failure the vector grows as data arrives.
        let _ = with_voxels!(&mut data, v => v.try_reserve_exact(expected_voxels));
        VoxelDecoder { data, datatype, big_endian }
    }

    /// Decodes `raw` (a whole number of voxels) and appends it; `Err` with the bytes wanted
    /// when memory cannot grow.
    pub(crate) fn push(&mut self, raw: &[u8]) -> Result<(), u64> {
        let step = self.datatype.bytes_per_voxel();
        let count = raw.len() / step;
        let wanted = (self.data.len() as u64 + count as u64) * self.data.held_datatype().bytes_per_voxel() as u64;
        let be = self.big_endian;
        with_voxels!(&mut self.data, v => v.try_reserve(count)).map_err(|_| wanted)?;
        match (&mut self.data, self.datatype) {
            (VoxelData::U8(v), _) => v.extend_from_slice(raw),
            (VoxelData::I8(v), _) => v.extend(raw.iter().map(|&b| b as i8)),
            (VoxelData::I16(v), _) => append(v, raw, be),
            (VoxelData::U16(v), _) => append(v, raw, be),
            (VoxelData::I32(v), _) => append(v, raw, be),
            (VoxelData::U32(v), _) => append(v, raw, be),
            (VoxelData::I64(v), _) => append(v, raw, be),
            (VoxelData::U64(v), _) => append(v, raw, be),
            (VoxelData::F64(v), _) => append(v, raw, be),
            (VoxelData::F32(v), Datatype::Rgb24 | Datatype::Rgba32) => {
                v.extend(raw.chunks_exact(step).map(|p| (0..3).map(|c| LUMA[c] * f32::from(p[c])).sum::<f32>()))
            }
            (VoxelData::F32(v), Datatype::Complex64) => v.extend(raw.chunks_exact(8).map(|p| {
                let re = f32::from_bytes(&p[..4], be);
                let im = f32::from_bytes(&p[4..], be);
                re.hypot(im)
            })),
            (VoxelData::F32(v), _) => append(v, raw, be),
        }
        Ok(())
    }

    /// The voxels decoded so far.
    pub(crate) fn finish(self) -> VoxelData {
        self.data
    }
}

fn append<T: Voxel>(out: &mut Vec<T>, raw: &[u8], big_endian: bool) {
    out.extend(raw.chunks_exact(T::SIZE).map(|b| T::from_bytes(b, big_endian)));
}

/// ITU-R BT.601 luma weights, as used for RGB24 → grey.
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

impl VoxelData {
    /// Decodes raw on-disk bytes (exactly `n × bytes_per_voxel`) of the given datatype; `Err`
    /// with the bytes wanted when memory cannot hold the result.
    pub fn decode(raw: Vec<u8>, datatype: Datatype, big_endian: bool) -> Result<VoxelData, u64> {
        if datatype == Datatype::U8 {
            return Ok(VoxelData::U8(raw));
        }
        let mut decoder = VoxelDecoder::new(datatype, big_endian, raw.len() / datatype.bytes_per_voxel());
        decoder.push(&raw)?;
        Ok(decoder.finish())
    }

    /// The datatype the voxels are held in (RGB and complex files are held as float32).
    pub fn held_datatype(&self) -> Datatype {
        match self {
            VoxelData::U8(_) => Datatype::U8,
            VoxelData::I8(_) => Datatype::I8,
            VoxelData::I16(_) => Datatype::I16,
            VoxelData::U16(_) => Datatype::U16,
            VoxelData::I32(_) => Datatype::I32,
            VoxelData::U32(_) => Datatype::U32,
            VoxelData::I64(_) => Datatype::I64,
            VoxelData::U64(_) => Datatype::U64,
            VoxelData::F32(_) => Datatype::F32,
            VoxelData::F64(_) => Datatype::F64,
        }
    }

    /// Voxels of `range` as little-endian bytes of [`VoxelData::held_datatype`] (what
    /// [`VoxelData::decode`] reads back).
    pub fn le_bytes(&self, range: std::ops::Range<usize>) -> Vec<u8> {
        with_voxels!(self, v => {
            let v = &v[range];
            let mut out = Vec::with_capacity(std::mem::size_of_val(v));
            v.iter().for_each(|x| x.write_le(&mut out));
            out
        })
    }

    /// Number of voxels held.
    pub fn len(&self) -> usize {
        with_voxels!(self, v => v.len())
    }

    /// True when no voxels are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value of voxel `index` (storage order), unscaled.
    pub fn get_f64(&self, index: usize) -> f64 {
        with_voxels!(self, v => v[index].to_f64())
    }

    /// Smallest and largest value among `range`, ignoring NaN; `None` when all are NaN.
    pub fn min_max(&self, range: std::ops::Range<usize>) -> Option<(f64, f64)> {
        with_voxels!(self, v => min_max(&v[range]))
    }

    /// Voxels of `range` as f32, with `value × slope + inter` applied when scaling is given.
    pub fn to_f32(&self, range: std::ops::Range<usize>, scaling: Option<(f64, f64)>) -> Vec<f32> {
        with_voxels!(self, v => {
            let v = v[range].par_iter().with_min_len(VALUES_PER_TASK);
            match scaling {
                None => v.map(|x| x.to_f64() as f32).collect(),
                Some((slope, inter)) => v.map(|x| (x.to_f64() * slope + inter) as f32).collect(),
            }
        })
    }
}

fn min_max<T: Voxel>(values: &[T]) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values {
        let x = v.to_f64();
        if x < lo {
            lo = x;
        }
        if x > hi {
            hi = x;
        }
    }
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_byte_orders() {
        let le = VoxelData::decode(vec![0x01, 0x02, 0xff, 0xff], Datatype::I16, false).unwrap();
        assert_eq!(le, VoxelData::I16(vec![0x0201, -1]));
        let be = VoxelData::decode(vec![0x01, 0x02, 0xff, 0xfe], Datatype::I16, true).unwrap();
        assert_eq!(be, VoxelData::I16(vec![0x0102, -2]));
    }

    #[test]
    fn rgb_becomes_luminance_and_complex_magnitude() {
        let rgb = VoxelData::decode(vec![255, 255, 255, 0, 0, 0], Datatype::Rgb24, false).unwrap();
        let VoxelData::F32(grey) = rgb else { panic!("rgb should decode to f32") };
        assert!((grey[0] - 255.0).abs() < 1e-3 && grey[1] == 0.0);
        let mut raw = 3.0f32.to_le_bytes().to_vec();
        raw.extend(4.0f32.to_le_bytes());
        assert_eq!(VoxelData::decode(raw, Datatype::Complex64, false), Ok(VoxelData::F32(vec![5.0])));
    }

    #[test]
    fn min_max_skips_nan() {
        let data = VoxelData::F32(vec![f32::NAN, 2.0, -1.0]);
        assert_eq!(data.min_max(0..3), Some((-1.0, 2.0)));
        assert_eq!(VoxelData::F32(vec![f32::NAN]).min_max(0..1), None);
    }
}
