//! NRRD: reading attached `.nrrd` and detached `.nhdr` + data volumes as pynrrd 1.1.3 reads them
//! and as 3D Slicer places them in the world, and writing label maps as NRRD files that 3D Slicer
//! opens as a segmentation (`.seg.nrrd`).
//!
//! Every header field is checked before it is trusted, and memory grows with the data actually
//! present, never with what the header claims.

use std::collections::HashMap;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::error::ReadError;
use super::geometry::{Affine, AffineSource, Geometry};
use super::nifti_read::{within_budget, ReadLimits, Stream};
use super::scan::{ScanFormat, Volume};
use super::voxels::{Datatype, VoxelData, VoxelDecoder};

/// Most dims a [`Volume`] holds.
const MAX_DIMS: usize = 7;

/// Reads an attached NRRD (`.nrrd`: header, a blank line, then the data) from its bytes.
pub fn read_nrrd(bytes: &[u8], limits: ReadLimits) -> Result<Volume, ReadError> {
    if bytes.is_empty() {
        return Err(ReadError::Empty);
    }
    let header = Header::parse(bytes)?;
    if let Some(name) = header.data_file() {
        return Err(ReadError::WrongFileKind(format!(
            "this NRRD header keeps its data in a separate file (data file: {name}): open it as a detached header \
             (.nhdr) together with that file"
        )));
    }
    let Some(start) = header.data_start else {
        return Err(ReadError::InvalidField {
            field: "header".into(),
            problem: "has no blank line after it, expected an empty line between the header and the attached data"
                .into(),
        });
    };
    let checked = Checked::new(&header, limits)?;
    read_data(checked, &bytes[start..], "file")
}

/// Reads a detached NRRD: the header (`.nhdr`) bytes and the bytes of the one file its
/// `data file` field names (the caller finds and reads that file).
pub fn read_nrrd_detached(header: &[u8], data: &[u8], limits: ReadLimits) -> Result<Volume, ReadError> {
    if header.is_empty() {
        return Err(ReadError::Empty);
    }
    let parsed = Header::parse(header)?;
    let Some(name) = parsed.data_file() else {
        return Err(ReadError::WrongFileKind(
            "this NRRD header has no data file field: its data is attached, open it on its own as a .nrrd".into(),
        ));
    };
    let tokens: Vec<&str> = name.split_whitespace().collect();
    if tokens.first() == Some(&"LIST") || (tokens.len() >= 4 && tokens[0].contains('%')) {
        return Err(ReadError::InvalidField {
            field: "data file".into(),
            problem: format!(
                "is {name:?}: data split over several files (LIST or a format string) is not supported, expected \
                 one data file name"
            ),
        });
    }
    let checked = Checked::new(&parsed, limits)?;
    read_data(checked, data, "data file")
}

/// The header's lines, as pynrrd splits them.
struct Header {
    /// `field` → value, `field: value` and `key:=value` lines alike (as pynrrd).
    fields: HashMap<String, String>,
    /// Byte where attached data begins (after the blank line); `None` when the header has none.
    data_start: Option<usize>,
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Header, ReadError> {
        let mut lines = LineIter { bytes, position: 0 };
        let magic = lines.next().unwrap_or_default();
        let magic = String::from_utf8_lossy(magic);
        let magic = magic.trim_end();
        let version_ok = magic.strip_prefix("NRRD").and_then(|v| v.parse::<u32>().ok()).is_some_and(|v| v <= 5);
        if !version_ok {
            let shown: String = magic.chars().take(40).collect();
            return Err(ReadError::InvalidField {
                field: "magic line".into(),
                problem: format!("is {shown:?}, expected NRRD0001 to NRRD0005 (is this a NRRD file?)"),
            });
        }
        let mut fields = HashMap::new();
        let mut data_start = None;
        let mut number = 1;
        while let Some(raw) = lines.next() {
            number += 1;
            // pynrrd decodes as ASCII, dropping other bytes; trailing whitespace is ignored.
            let line: String = raw.iter().filter(|b| b.is_ascii()).map(|&b| b as char).collect();
            let line = line.trim_end();
            if line.starts_with('#') {
                continue;
            }
            if line.is_empty() {
                data_start = Some(lines.position);
                break;
            }
            let Some(colon) = line.find(':') else {
                let shown: String = line.chars().take(60).collect();
                return Err(ReadError::InvalidField {
                    field: format!("header line {number}"),
                    problem: format!(
                        "is {shown:?}, expected \"field: value\" or \"key:=value\" (or a blank line before the data)"
                    ),
                });
            };
            let field = line[..colon].trim().to_string();
            let rest = &line[colon + 1..];
            let value = rest.strip_prefix('=').unwrap_or(rest).trim().to_string();
            if fields.insert(field.clone(), value).is_some() {
                return Err(ReadError::InvalidField {
                    field,
                    problem: format!("appears twice (again on line {number}), expected each field once"),
                });
            }
        }
        Ok(Header { fields, data_start })
    }

    /// The value of the first of `names` present.
    fn get(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.fields.get(*n)).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str, ReadError> {
        self.get(&[name]).ok_or_else(|| ReadError::InvalidField {
            field: name.into(),
            problem: "is missing, expected it in every NRRD header (dimension, type, encoding, sizes)".into(),
        })
    }

    fn data_file(&self) -> Option<&str> {
        self.get(&["data file", "datafile"])
    }
}

/// Lines split at `\n` (the `\n` excluded), tracking where the next begins.
struct LineIter<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Iterator for LineIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.position >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.position..];
        let end = rest.iter().position(|&b| b == b'\n');
        let line = &rest[..end.unwrap_or(rest.len())];
        self.position += end.map_or(rest.len(), |e| e + 1);
        Some(line)
    }
}

/// How the data is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Raw,
    Gzip,
    Ascii,
}

/// Which world frame `space` names; all are converted to RAS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Ras,
    Las,
    Lps,
    /// scanner-xyz, 3D-right-handed, 3D-left-handed, or only `space dimension`: ITK (and so
    /// Slicer) applies no conversion, i.e. treats the coordinates as LPS.
    AsLps,
}

/// A header whose fields have all been validated.
struct Checked {
    /// Sizes in file order.
    sizes: Vec<usize>,
    /// File axes in [`Volume`] order: spatial axes first, then the others.
    order: Vec<usize>,
    /// Volume dims (spatial padded to 3, then non-spatial).
    dims: Vec<usize>,
    datatype: Datatype,
    big_endian: bool,
    encoding: Encoding,
    data_bytes: u64,
    line_skip: u64,
    byte_skip: i64,
    geometry: Geometry,
    description: String,
    notes: Vec<String>,
}

fn parse_int(field: &str, value: &str, expected: &str) -> Result<i64, ReadError> {
    let bad = || ReadError::InvalidField { field: field.into(), problem: format!("is {value:?}, expected {expected}") };
    value.parse::<i64>().or_else(|_| {
        // pynrrd parses number lists as floats and truncates.
        value
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9e18)
            .map(|f| f as i64)
            .ok_or_else(bad)
    })
}

fn parse_f64(field: &str, token: &str) -> Result<f64, ReadError> {
    token.trim().parse::<f64>().map_err(|_| ReadError::InvalidField {
        field: field.into(),
        problem: format!("holds {token:?}, expected a number"),
    })
}

/// `(a,b,c)` → its numbers.
fn parse_vector(field: &str, text: &str) -> Result<Vec<f64>, ReadError> {
    let inner =
        text.trim().strip_prefix('(').and_then(|t| t.strip_suffix(')')).ok_or_else(|| ReadError::InvalidField {
            field: field.into(),
            problem: format!("holds {text:?}, expected a vector in parentheses such as (1,0,0)"),
        })?;
    inner.split(',').map(|t| parse_f64(field, t)).collect()
}

/// A list of vectors or `none`, e.g. `(1,0,0) none (0,1,0)`; spaces inside parentheses tolerated.
fn parse_vector_list(field: &str, text: &str) -> Result<Vec<Option<Vec<f64>>>, ReadError> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("none") {
            out.push(None);
            rest = after.trim_start();
        } else if rest.starts_with('(') {
            let end = rest.find(')').ok_or_else(|| ReadError::InvalidField {
                field: field.into(),
                problem: format!("is {text:?}: a vector has no closing parenthesis"),
            })?;
            out.push(Some(parse_vector(field, &rest[..=end])?));
            rest = rest[end + 1..].trim_start();
        } else {
            return Err(ReadError::InvalidField {
                field: field.into(),
                problem: format!("is {text:?}, expected one vector such as (1,0,0) or \"none\" per axis"),
            });
        }
    }
    Ok(out)
}

/// The NRRD type names pynrrd accepts.
fn datatype_of(name: &str) -> Result<Datatype, ReadError> {
    Ok(match name {
        "signed char" | "int8" | "int8_t" => Datatype::I8,
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => Datatype::U8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => Datatype::I16,
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => Datatype::U16,
        "int" | "signed int" | "int32" | "int32_t" => Datatype::I32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => Datatype::U32,
        "longlong"
        | "long long"
        | "long long int"
        | "signed long long"
        | "signed long long int"
        | "int64"
        | "int64_t" => Datatype::I64,
        "ulonglong" | "unsigned long long" | "unsigned long long int" | "uint64" | "uint64_t" => Datatype::U64,
        "float" => Datatype::F32,
        "double" => Datatype::F64,
        "block" => {
            return Err(ReadError::InvalidField {
                field: "type".into(),
                problem: "is \"block\" (opaque blocks of bytes), which is not supported; expected a number type".into(),
            })
        }
        other => {
            return Err(ReadError::InvalidField {
                field: "type".into(),
                problem: format!(
                    "is {other:?}, expected a NRRD number type: signed char, uchar, short, ushort, int, uint, \
                     longlong, ulonglong, float or double (or a spelling such as int16, uint8_t, unsigned short)"
                ),
            })
        }
    })
}

/// Kinds of axes that hold positions in space (the rest hold components, time, lists…).
fn is_spatial_kind(kind: &str) -> bool {
    matches!(kind.to_ascii_lowercase().as_str(), "domain" | "space" | "???" | "none")
}

impl Checked {
    fn new(h: &Header, limits: ReadLimits) -> Result<Checked, ReadError> {
        let mut notes = Vec::new();
        let dimension = parse_int("dimension", h.required("dimension")?, "a whole number of axes")?;
        let datatype = datatype_of(h.required("type")?)?;
        let encoding_text = h.required("encoding")?;
        let encoding = match encoding_text.to_ascii_lowercase().as_str() {
            "raw" => Encoding::Raw,
            "gzip" | "gz" => Encoding::Gzip,
            "ascii" | "text" | "txt" => Encoding::Ascii,
            "bzip2" | "bz2" => {
                return Err(ReadError::InvalidField {
                    field: "encoding".into(),
                    problem: format!(
                        "is {encoding_text:?}: bzip2-compressed NRRD is not supported, expected raw, gzip or ascii \
                         (re-save it with gzip, e.g. in 3D Slicer or with pynrrd)"
                    ),
                })
            }
            _ => {
                return Err(ReadError::InvalidField {
                    field: "encoding".into(),
                    problem: format!("is {encoding_text:?}, which is not supported; expected raw, gzip or ascii"),
                })
            }
        };
        let sizes_text = h.required("sizes")?;
        let sizes: Vec<usize> = sizes_text
            .split_whitespace()
            .map(|t| {
                let v = parse_int("sizes", t, "whole numbers ≥ 1")?;
                if v < 1 {
                    return Err(ReadError::InvalidField {
                        field: "sizes".into(),
                        problem: format!("holds {v}, expected sizes of at least 1"),
                    });
                }
                Ok(v as usize)
            })
            .collect::<Result<_, _>>()?;
        if dimension < 1 || sizes.len() as i64 != dimension {
            return Err(ReadError::InvalidField {
                field: "sizes".into(),
                problem: format!(
                    "holds {} sizes ({sizes_text:?}) while dimension is {dimension}, expected one size per axis",
                    sizes.len()
                ),
            });
        }
        let n = sizes.len();
        let big_endian = if datatype.bytes_per_voxel() > 1 && encoding != Encoding::Ascii {
            match h.get(&["endian"]) {
                Some("little") => false,
                Some("big") => true,
                Some(other) => {
                    return Err(ReadError::InvalidField {
                        field: "endian".into(),
                        problem: format!("is {other:?}, expected little or big"),
                    })
                }
                None => {
                    return Err(ReadError::InvalidField {
                        field: "endian".into(),
                        problem: format!(
                            "is missing, expected little or big for {}-byte voxels",
                            datatype.bytes_per_voxel()
                        ),
                    })
                }
            }
        } else {
            false
        };
        let line_skip = match h.get(&["line skip", "lineskip"]) {
            None => 0,
            Some(v) => {
                let skip = parse_int("line skip", v, "a number of lines ≥ 0")?;
                if skip < 0 {
                    return Err(ReadError::InvalidField {
                        field: "line skip".into(),
                        problem: format!("is {skip}, expected a number of lines ≥ 0"),
                    });
                }
                skip as u64
            }
        };
        let byte_skip = match h.get(&["byte skip", "byteskip"]) {
            None => 0,
            Some(v) => {
                let skip = parse_int("byte skip", v, "a number of bytes ≥ 0, or -1")?;
                if skip < -1 {
                    return Err(ReadError::InvalidField {
                        field: "byte skip".into(),
                        problem: format!("is {skip}, expected a number of bytes ≥ 0, or -1 (data at the end)"),
                    });
                }
                skip
            }
        };
        if byte_skip == -1 && encoding != Encoding::Raw {
            return Err(ReadError::InvalidField {
                field: "byte skip".into(),
                problem: format!(
                    "is -1 with {encoding_text} encoding, which is not supported; expected -1 only with raw"
                ),
            });
        }
        let kinds: Vec<String> = match h.get(&["kinds"]) {
            None => vec!["domain".into(); n],
            Some(text) => {
                let kinds: Vec<String> = text.split_whitespace().map(String::from).collect();
                if kinds.len() != n {
                    return Err(ReadError::InvalidField {
                        field: "kinds".into(),
                        problem: format!("holds {} kinds ({text:?}), expected one per axis ({n})", kinds.len()),
                    });
                }
                kinds
            }
        };
        let (columns, origin, spatial, source) = geometry_fields(h, n, &kinds, &mut notes)?;
        // Volume order: spatial axes, then the others.
        let mut order: Vec<usize> = spatial.clone();
        order.extend((0..n).filter(|a| !spatial.contains(a)));
        let mut dims: Vec<usize> = spatial.iter().map(|&a| sizes[a]).collect();
        dims.resize(3, 1);
        for &a in &order[spatial.len()..] {
            dims.push(sizes[a]);
            notes.push(format!(
                "NRRD axis {a} ({} of {}) is not spatial: its entries are the volumes (dim {})",
                kinds[a],
                sizes[a],
                dims.len()
            ));
        }
        if dims.len() > MAX_DIMS {
            return Err(ReadError::InvalidField {
                field: "sizes".into(),
                problem: format!(
                    "describes {} non-spatial axes besides the 3 spatial ones, expected at most {}",
                    dims.len() - 3,
                    MAX_DIMS - 3
                ),
            });
        }
        if order.iter().enumerate().any(|(i, &a)| i != a) {
            notes.push("non-spatial axes moved after the spatial ones (data transposed)".into());
        }
        let signed: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        let data_bytes = within_budget(&signed, datatype, limits)?;
        let mut affine: Affine = [[0.0; 4], [0.0; 4], [0.0; 4], [0.0, 0.0, 0.0, 1.0]];
        for r in 0..3 {
            for c in 0..3 {
                affine[r][c] = columns[c][r];
            }
            affine[r][3] = origin[r];
        }
        let geometry = Geometry::from_affine(affine, source);
        let description = h.get(&["content"]).unwrap_or_default().to_string();
        Ok(Checked {
            sizes,
            order,
            dims,
            datatype,
            big_endian,
            encoding,
            data_bytes,
            line_skip,
            byte_skip,
            geometry,
            description,
            notes,
        })
    }
}

/// The RAS affine's three columns and origin, the spatial axes (file order), and where the
/// affine came from.
type GeometryFields = ([[f64; 3]; 3], [f64; 3], Vec<usize>, AffineSource);

fn geometry_fields(
    h: &Header,
    n: usize,
    kinds: &[String],
    notes: &mut Vec<String>,
) -> Result<GeometryFields, ReadError> {
    let frame = match h.get(&["space"]) {
        Some(space) => match space.to_ascii_lowercase().as_str() {
            "right-anterior-superior" | "ras" => Frame::Ras,
            "left-anterior-superior" | "las" => Frame::Las,
            "left-posterior-superior" | "lps" => Frame::Lps,
            s @ ("scanner-xyz" | "3d-right-handed" | "3d-left-handed") => {
                notes.push(format!("NRRD space {s} has no anatomical directions; taken as LPS, as 3D Slicer does"));
                Frame::AsLps
            }
            s if s.ends_with("-time") || matches!(s, "rast" | "last" | "lpst") => {
                return Err(ReadError::InvalidField {
                    field: "space".into(),
                    problem: format!(
                        "is {space:?}: spaces with time as a fourth coordinate are not supported, expected a 3D \
                         space (RAS, LAS, LPS, scanner-xyz)"
                    ),
                })
            }
            _ => {
                return Err(ReadError::InvalidField {
                    field: "space".into(),
                    problem: format!(
                        "is {space:?}, expected right-anterior-superior (RAS), left-anterior-superior (LAS), \
                         left-posterior-superior (LPS), scanner-xyz, 3D-right-handed or 3D-left-handed"
                    ),
                })
            }
        },
        None => Frame::AsLps,
    };
    let space_dimension = match (h.get(&["space dimension"]), h.get(&["space"])) {
        (Some(v), _) => Some(parse_int("space dimension", v, "3")?),
        (None, Some(_)) => Some(3),
        (None, None) => None,
    };
    if let Some(d) = space_dimension {
        if d != 3 {
            return Err(ReadError::InvalidField {
                field: "space dimension".into(),
                problem: format!("is {d}, expected 3 (only 3D world spaces are supported)"),
            });
        }
    }
    // Converts a vector in the file's frame to RAS.
    let to_ras = |v: [f64; 3]| match frame {
        Frame::Ras => v,
        Frame::Las => [-v[0], v[1], v[2]],
        Frame::Lps | Frame::AsLps => [-v[0], -v[1], v[2]],
    };
    let Some(directions_text) = h.get(&["space directions"]) else {
        // No world placement: a diagonal affine from the spacings, in LPS as ITK/Slicer do.
        let spatial: Vec<usize> = (0..n).filter(|&a| is_spatial_kind(&kinds[a])).collect();
        if spatial.len() > 3 {
            return Err(ReadError::InvalidField {
                field: "kinds".into(),
                problem: format!("marks {} axes as spatial, expected at most 3", spatial.len()),
            });
        }
        let spacings: Vec<f64> = match h.get(&["spacings"]) {
            None => vec![f64::NAN; n],
            Some(text) => {
                let values: Vec<f64> = text
                    .split_whitespace()
                    .map(|t| if t.eq_ignore_ascii_case("nan") { Ok(f64::NAN) } else { parse_f64("spacings", t) })
                    .collect::<Result<_, _>>()?;
                if values.len() != n {
                    return Err(ReadError::InvalidField {
                        field: "spacings".into(),
                        problem: format!("holds {} values ({text:?}), expected one per axis ({n})", values.len()),
                    });
                }
                values
            }
        };
        let mut columns = [[0.0; 3]; 3];
        for (c, column) in columns.iter_mut().enumerate() {
            let s = spatial.get(c).map(|&a| spacings[a]).filter(|s| s.is_finite() && *s != 0.0).unwrap_or(1.0);
            let mut v = [0.0; 3];
            v[c] = s;
            *column = to_ras(v);
        }
        notes.push(
            "the NRRD header has no space directions: voxel axes taken along L, P, S with the spacings (1 where \
             absent), origin 0, as 3D Slicer does"
                .into(),
        );
        return Ok((columns, [0.0; 3], spatial, AffineSource::Format("NRRD spacings (no space directions)")));
    };
    if space_dimension.is_none() {
        notes.push("the NRRD header has space directions but no space: coordinates taken as LPS".into());
    }
    let directions = parse_vector_list("space directions", directions_text)?;
    if directions.len() != n {
        return Err(ReadError::InvalidField {
            field: "space directions".into(),
            problem: format!(
                "holds {} entries ({directions_text:?}), expected one vector or none per axis ({n})",
                directions.len()
            ),
        });
    }
    let mut spatial = Vec::new();
    let mut columns = Vec::new();
    for (a, d) in directions.iter().enumerate() {
        let Some(d) = d else { continue };
        if d.len() != 3 {
            return Err(ReadError::InvalidField {
                field: "space directions".into(),
                problem: format!("axis {a} has a vector of {} numbers, expected 3 (the space dimension)", d.len()),
            });
        }
        if d.iter().any(|v| !v.is_finite()) {
            return Err(ReadError::NonFinite { field: "space directions".into() });
        }
        spatial.push(a);
        columns.push(to_ras([d[0], d[1], d[2]]));
    }
    match columns.len() {
        3 => {}
        2 => {
            // A single slice: the missing axis is 1 mm along the normal.
            let (u, v) = (columns[0], columns[1]);
            let c = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
            let len = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
            if len == 0.0 {
                return Err(ReadError::InvalidField {
                    field: "space directions".into(),
                    problem: "the two spatial axes are parallel, expected independent directions".into(),
                });
            }
            columns.push(c.map(|x| x / len));
            notes.push("a 2D NRRD: the third voxel axis taken 1 mm along the slice normal".into());
        }
        k => {
            return Err(ReadError::InvalidField {
                field: "space directions".into(),
                problem: format!("gives {k} spatial axes, expected 3 (or 2 for a single slice); others are \"none\""),
            })
        }
    }
    let origin = match h.get(&["space origin"]) {
        None => [0.0; 3],
        Some(text) => {
            let o = parse_vector("space origin", text)?;
            if o.len() != 3 {
                return Err(ReadError::InvalidField {
                    field: "space origin".into(),
                    problem: format!("is {text:?}, expected 3 numbers (the space dimension)"),
                });
            }
            if o.iter().any(|v| !v.is_finite()) {
                return Err(ReadError::NonFinite { field: "space origin".into() });
            }
            to_ras([o[0], o[1], o[2]])
        }
    };
    Ok((
        [columns[0], columns[1], columns[2]],
        origin,
        spatial,
        AffineSource::Format("NRRD space directions and space origin"),
    ))
}

/// Skips `count` lines (through their `\n`) at the start of `data`.
fn skip_lines(data: &[u8], count: u64) -> Result<&[u8], ReadError> {
    let mut rest = data;
    for i in 0..count {
        match rest.iter().position(|&b| b == b'\n') {
            Some(p) => rest = &rest[p + 1..],
            None => {
                return Err(ReadError::InvalidField {
                    field: "line skip".into(),
                    problem: format!("is {count}, but the data holds only {i} complete line(s)"),
                })
            }
        }
    }
    Ok(rest)
}

fn too_short(c: &Checked, what: &str, got: u64) -> ReadError {
    let sizes: Vec<String> = c.sizes.iter().map(|s| s.to_string()).collect();
    ReadError::NrrdData(format!(
        "it is shorter than the header says: sizes {} of {} need {} bytes{what}, found {got} (the file is probably \
         truncated)",
        sizes.join(" "),
        c.datatype.name(),
        c.data_bytes
    ))
}

fn read_data(c: Checked, data: &[u8], what: &str) -> Result<Volume, ReadError> {
    let data = skip_lines(data, c.line_skip)?;
    let mut notes = Vec::new();
    let voxels = match c.encoding {
        Encoding::Raw => {
            let expected = c.data_bytes;
            let body = if c.byte_skip == -1 {
                if (data.len() as u64) < expected {
                    return Err(too_short(&c, " at the end of the data", data.len() as u64));
                }
                &data[data.len() - expected as usize..]
            } else {
                let skip = c.byte_skip as u64;
                if skip > data.len() as u64 {
                    return Err(ReadError::InvalidField {
                        field: "byte skip".into(),
                        problem: format!("is {skip}, but the {what} holds only {} bytes of data", data.len()),
                    });
                }
                &data[skip as usize..]
            };
            if (body.len() as u64) < expected {
                return Err(too_short(&c, &format!(" of raw data in the {what}"), body.len() as u64));
            }
            if body.len() as u64 > expected {
                notes.push(format!("{} bytes after the voxel data ignored", body.len() as u64 - expected));
            }
            decode_raw(&body[..expected as usize], c.datatype, c.big_endian)?
        }
        Encoding::Gzip => {
            if !data.starts_with(&[0x1f, 0x8b]) {
                return Err(ReadError::CorruptGzip(format!(
                    "the NRRD encoding is gzip but the {what}'s data does not start with the gzip bytes 1f 8b"
                )));
            }
            let mut stream = Stream::open(data)?;
            stream.skip_to(c.byte_skip as u64).map_err(|e| match e {
                ReadError::VoxOffsetPastEnd { len, .. } => ReadError::InvalidField {
                    field: "byte skip".into(),
                    problem: format!("is {}, but the decompressed data holds only {len} bytes", c.byte_skip),
                },
                other => other,
            })?;
            let voxels = stream.read_voxels(c.data_bytes, c.datatype, c.big_endian).map_err(|e| match e {
                ReadError::DataTooShort { got, .. } => too_short(&c, " of decompressed data", got),
                other => other,
            })?;
            stream.finish()?;
            voxels
        }
        Encoding::Ascii => {
            let skip = (c.byte_skip as u64).min(data.len() as u64) as usize;
            decode_ascii(&c, &data[skip..])?
        }
    };
    let voxels = permute(voxels, &c.sizes, &c.order)?;
    let mut all_notes = c.notes;
    all_notes.extend(notes);
    Ok(Volume {
        dims: c.dims,
        datatype: c.datatype,
        voxels,
        scaling: None,
        geometry: c.geometry,
        description: c.description,
        notes: all_notes,
        format: ScanFormat::Nrrd,
    })
}

fn decode_raw(raw: &[u8], datatype: Datatype, big_endian: bool) -> Result<VoxelData, ReadError> {
    let mut decoder = VoxelDecoder::new(datatype, big_endian, raw.len() / datatype.bytes_per_voxel());
    for chunk in raw.chunks(datatype.bytes_per_voxel() << 16) {
        decoder.push(chunk).map_err(|bytes| ReadError::OutOfMemory { bytes })?;
    }
    Ok(decoder.finish())
}

/// Whitespace-separated numbers, converted to the header's type (as numpy's `fromstring`).
fn decode_ascii(c: &Checked, text: &[u8]) -> Result<VoxelData, ReadError> {
    let step = c.datatype.bytes_per_voxel();
    let count = c.data_bytes / step as u64;
    // Each value takes at least two bytes of text (a digit and a separator), bar the last.
    let mut decoder = VoxelDecoder::new(c.datatype, false, count.min(text.len() as u64 / 2 + 1) as usize);
    let mut chunk = Vec::with_capacity(step << 12);
    let mut found = 0u64;
    for token in text.split(|b| b.is_ascii_whitespace()).filter(|t| !t.is_empty()) {
        if found == count {
            return Err(ReadError::NrrdData(format!(
                "the ascii data holds more than the {count} values the sizes describe (expected exactly {count})"
            )));
        }
        let token = String::from_utf8_lossy(token);
        let bad = || {
            ReadError::NrrdData(format!(
                "ascii value {} ({token:?}) is not a valid {}, expected whitespace-separated numbers",
                found + 1,
                c.datatype.name()
            ))
        };
        match c.datatype {
            Datatype::F32 => chunk.extend_from_slice(&(token.parse::<f64>().map_err(|_| bad())? as f32).to_le_bytes()),
            Datatype::F64 => chunk.extend_from_slice(&token.parse::<f64>().map_err(|_| bad())?.to_le_bytes()),
            _ => {
                let v: i128 = token
                    .parse::<i128>()
                    .ok()
                    .or_else(|| token.parse::<f64>().ok().filter(|f| f.fract() == 0.0).map(|f| f as i128))
                    .ok_or_else(bad)?;
                let bytes = v.to_le_bytes();
                let fits = match c.datatype {
                    Datatype::U8 => u8::try_from(v).is_ok(),
                    Datatype::I8 => i8::try_from(v).is_ok(),
                    Datatype::I16 => i16::try_from(v).is_ok(),
                    Datatype::U16 => u16::try_from(v).is_ok(),
                    Datatype::I32 => i32::try_from(v).is_ok(),
                    Datatype::U32 => u32::try_from(v).is_ok(),
                    Datatype::I64 => i64::try_from(v).is_ok(),
                    _ => u64::try_from(v).is_ok(),
                };
                if !fits {
                    return Err(bad());
                }
                chunk.extend_from_slice(&bytes[..step]);
            }
        }
        found += 1;
        if chunk.len() >= step << 12 {
            decoder.push(&chunk).map_err(|bytes| ReadError::OutOfMemory { bytes })?;
            chunk.clear();
        }
    }
    decoder.push(&chunk).map_err(|bytes| ReadError::OutOfMemory { bytes })?;
    if found < count {
        return Err(ReadError::NrrdData(format!(
            "it is shorter than the header says: the sizes describe {count} values, the ascii data holds {found} (the \
             file is probably truncated)"
        )));
    }
    Ok(decoder.finish())
}

/// Reorders axes: `order` lists the file axes (sizes in file order, first fastest) as they are to
/// be, first fastest.
fn permute(data: VoxelData, sizes: &[usize], order: &[usize]) -> Result<VoxelData, ReadError> {
    if order.iter().enumerate().all(|(i, &a)| i == a) {
        return Ok(data);
    }
    fn go<T: Copy>(src: Vec<T>, sizes: &[usize], order: &[usize]) -> Result<Vec<T>, ReadError> {
        let mut strides = vec![1usize; sizes.len()];
        for a in 1..sizes.len() {
            strides[a] = strides[a - 1] * sizes[a - 1];
        }
        let mut out = Vec::new();
        out.try_reserve_exact(src.len())
            .map_err(|_| ReadError::OutOfMemory { bytes: (src.len() * std::mem::size_of::<T>()) as u64 })?;
        let mut counter = vec![0usize; order.len()];
        let mut offset = 0usize;
        for _ in 0..src.len() {
            out.push(src[offset]);
            for (i, &a) in order.iter().enumerate() {
                counter[i] += 1;
                offset += strides[a];
                if counter[i] < sizes[a] {
                    break;
                }
                offset -= strides[a] * sizes[a];
                counter[i] = 0;
            }
        }
        Ok(out)
    }
    Ok(match data {
        VoxelData::U8(v) => VoxelData::U8(go(v, sizes, order)?),
        VoxelData::I8(v) => VoxelData::I8(go(v, sizes, order)?),
        VoxelData::I16(v) => VoxelData::I16(go(v, sizes, order)?),
        VoxelData::U16(v) => VoxelData::U16(go(v, sizes, order)?),
        VoxelData::I32(v) => VoxelData::I32(go(v, sizes, order)?),
        VoxelData::U32(v) => VoxelData::U32(go(v, sizes, order)?),
        VoxelData::I64(v) => VoxelData::I64(go(v, sizes, order)?),
        VoxelData::U64(v) => VoxelData::U64(go(v, sizes, order)?),
        VoxelData::F32(v) => VoxelData::F32(go(v, sizes, order)?),
        VoxelData::F64(v) => VoxelData::F64(go(v, sizes, order)?),
    })
}

/// Writes a label map as an attached, gzipped NRRD that 3D Slicer opens as a segmentation
/// (`.seg.nrrd`): one segment per entry of `table` (label value, name, colour), plus one named
/// "Label N" (grey) for each value present in `labels` but absent from `table` (Slicer would
/// otherwise drop those voxels). Label 0 is background. `labels` is x fastest, `shape` long;
/// `affine` is voxel → RAS mm.
///
/// # Panics
/// When `labels.len()` is not the product of `shape`.
pub fn write_seg_nrrd(labels: &[u16], shape: [usize; 3], affine: &Affine, table: &[(u16, String, [u8; 3])]) -> Vec<u8> {
    assert_eq!(labels.len(), shape.iter().product::<usize>(), "labels must hold shape[0]×shape[1]×shape[2] values");
    // Extent (IJK bounding box) of each label value present.
    let mut extents: HashMap<u16, [usize; 6]> = HashMap::new();
    let mut index = 0;
    for k in 0..shape[2] {
        for j in 0..shape[1] {
            for i in 0..shape[0] {
                let v = labels[index];
                index += 1;
                if v == 0 {
                    continue;
                }
                let e = extents.entry(v).or_insert([i, i, j, j, k, k]);
                e[0] = e[0].min(i);
                e[1] = e[1].max(i);
                e[2] = e[2].min(j);
                e[3] = e[3].max(j);
                e[4] = e[4].min(k);
                e[5] = e[5].max(k);
            }
        }
    }
    let mut segments: Vec<(u16, String, [u8; 3])> = Vec::new();
    for (value, name, colour) in table {
        if *value != 0 && !segments.iter().any(|s| s.0 == *value) {
            segments.push((*value, name.clone(), *colour));
        }
    }
    let mut missing: Vec<u16> = extents.keys().copied().filter(|v| !segments.iter().any(|s| s.0 == *v)).collect();
    missing.sort_unstable();
    segments.extend(missing.into_iter().map(|v| (v, format!("Label {v}"), [128, 128, 128])));
    let max = labels.iter().copied().chain(segments.iter().map(|s| s.0)).max().unwrap_or(0);
    let wide = max > 255;
    let line = |text: String| text.replace(['\n', '\r'], " ");
    let mut h = header_lines(if wide { "unsigned short" } else { "unsigned char" }, &shape, affine);
    for (i, (value, name, colour)) in segments.iter().enumerate() {
        let extent = match extents.get(value) {
            Some(e) => e.map(|v| v.to_string()).join(" "),
            None => "0 -1 0 -1 0 -1".to_string(),
        };
        let rgb = colour.map(|c| format!("{:.6}", f64::from(c) / 255.0)).join(" ");
        h.push_str(&format!("Segment{i}_Color:={rgb}\n"));
        h.push_str(&format!("Segment{i}_ColorAutoGenerated:=0\n"));
        h.push_str(&format!("Segment{i}_Extent:={extent}\n"));
        h.push_str(&format!("Segment{i}_ID:=Segment_{value}\n"));
        h.push_str(&format!("Segment{i}_LabelValue:={value}\n"));
        h.push_str(&format!("Segment{i}_Layer:=0\n"));
        h.push_str(line(format!("Segment{i}_Name:={name}\n")).trim_end());
        h.push('\n');
        h.push_str(&format!("Segment{i}_NameAutoGenerated:=0\n"));
    }
    h.push_str("Segmentation_ContainedRepresentationNames:=Binary labelmap|\n");
    h.push_str("Segmentation_MasterRepresentation:=Binary labelmap\n");
    h.push_str("Segmentation_ReferenceImageExtentOffset:=0 0 0\n\n");
    let mut out = h.into_bytes();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
    let mut buffer = Vec::with_capacity(1 << 16);
    for chunk in labels.chunks(1 << 15) {
        buffer.clear();
        if wide {
            buffer.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
        } else {
            buffer.extend(chunk.iter().map(|&v| v as u8));
        }
        encoder.write_all(&buffer).expect("writing to memory cannot fail");
    }
    out.extend(encoder.finish().expect("writing to memory cannot fail"));
    out
}

/// The lines every NRRD medseg writes starts with: magic, `type`, the sizes (spatial axes, then
/// a `list` axis for the volumes of a 4D scan), LPS space directions and origin from `affine`
/// (voxel → RAS mm: the first two rows negated), little-endian gzip data.
fn header_lines(type_name: &str, dims: &[usize], affine: &Affine) -> String {
    let fmt = |v: f64| if v == 0.0 { "0".to_string() } else { format!("{v}") };
    let lps = |r: usize, c: usize| if r < 2 { -affine[r][c] } else { affine[r][c] };
    let spatial = dims.len().min(3);
    let volumes: usize = dims.iter().skip(3).product();
    let mut sizes: Vec<String> = dims[..spatial].iter().map(usize::to_string).collect();
    let mut dirs: Vec<String> =
        (0..spatial).map(|c| format!("({},{},{})", fmt(lps(0, c)), fmt(lps(1, c)), fmt(lps(2, c)))).collect();
    let mut kinds = vec!["domain"; spatial];
    if dims.len() > 3 {
        sizes.push(volumes.to_string());
        dirs.push("none".into());
        kinds.push("list");
    }
    let mut h = String::from(
        "NRRD0004\n# Complete NRRD file format specification at:\n# http://teem.sourceforge.net/nrrd/format.html\n",
    );
    h.push_str(&format!("type: {type_name}\ndimension: {}\nspace: left-posterior-superior\n", sizes.len()));
    h.push_str(&format!("sizes: {}\n", sizes.join(" ")));
    h.push_str(&format!("space directions: {}\n", dirs.join(" ")));
    h.push_str(&format!("kinds: {}\nendian: little\nencoding: gzip\n", kinds.join(" ")));
    h.push_str(&format!("space origin: ({},{},{})\n", fmt(lps(0, 3)), fmt(lps(1, 3)), fmt(lps(2, 3))));
    h
}

/// Encodes a whole scan as an attached gzipped `.nrrd` (3D Slicer's own format): voxels in the type
/// they are held in, a 4D scan's volumes as a last `list` axis, LPS geometry; a scan with scaling
/// is written as float32 of the scaled values.
pub fn write_nrrd(volume: &Volume) -> Vec<u8> {
    let held = volume.voxels.held_datatype();
    // NRRD spells the floating types "float" and "double", the integer ones as numpy does.
    let type_name = match (volume.scaling, held) {
        (Some(_), _) | (None, Datatype::F32) => "float",
        (None, Datatype::F64) => "double",
        (None, integer) => integer.name(),
    };
    let mut h = header_lines(type_name, &volume.dims, &volume.geometry.affine_mm());
    h.push('\n');
    let mut out = h.into_bytes();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
    let n = volume.voxels.len();
    for start in (0..n).step_by(1 << 22) {
        let range = start..(start + (1 << 22)).min(n);
        let bytes = if volume.scaling.is_some() {
            volume.voxels.to_f32(range, volume.scaling).iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            volume.voxels.le_bytes(range)
        };
        encoder.write_all(&bytes).expect("writing to memory cannot fail");
    }
    out.extend(encoder.finish().expect("writing to memory cannot fail"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ReadLimits {
        ReadLimits { max_data_bytes: 1 << 30 }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = header.as_bytes().to_vec();
        out.extend_from_slice(data);
        out
    }

    const LPS_HEADER: &str = "NRRD0004\n# a comment\ntype: short\ndimension: 3\nspace: left-posterior-superior\n\
        sizes: 2 3 4\nspace directions: (1.5,0,0) (0,2,0) (0,0,3)\nkinds: domain domain domain\nendian: little\n\
        encoding: raw\nspace origin: (10,20,30)\nmy key:=my value\n\n";

    fn int16_data(n: usize) -> Vec<u8> {
        (0..n as i16).flat_map(|v| (v * 7 - 20).to_le_bytes()).collect()
    }

    #[test]
    fn reads_lps_header_and_converts_to_ras() {
        let v = read_nrrd(&file(LPS_HEADER, &int16_data(24)), limits()).unwrap();
        assert_eq!(v.dims, vec![2, 3, 4]);
        assert_eq!(v.datatype, Datatype::I16);
        let a = v.geometry.affine;
        assert_eq!(a[0], [-1.5, 0.0, 0.0, -10.0]);
        assert_eq!(a[1], [0.0, -2.0, 0.0, -20.0]);
        assert_eq!(a[2], [0.0, 0.0, 3.0, 30.0]);
        assert_eq!(v.voxels.get_f64(5), 15.0);
    }

    #[test]
    fn ras_and_gzip_and_big_endian() {
        let header = LPS_HEADER
            .replace("left-posterior-superior", "RAS")
            .replace("encoding: raw", "encoding: gzip")
            .replace("endian: little", "endian: big");
        let data: Vec<u8> = (0..24i16).flat_map(|v| v.to_be_bytes()).collect();
        let v = read_nrrd(&file(&header, &gzip(&data)), limits()).unwrap();
        assert_eq!(v.geometry.affine[0], [1.5, 0.0, 0.0, 10.0]);
        assert_eq!(v.voxels.get_f64(23), 23.0);
    }

    #[test]
    fn vector_axis_first_moves_to_the_end() {
        let header = "NRRD0005\ntype: uchar\ndimension: 4\nspace: RAS\nsizes: 2 3 1 1\n\
            space directions: none (1,0,0) (0,1,0) (0,0,1)\nkinds: vector domain domain domain\nencoding: ascii\n\n";
        // File order: component fastest.
        let v = read_nrrd(&file(header, b"0 10 1 11 2 12\n"), limits()).unwrap();
        assert_eq!(v.dims, vec![3, 1, 1, 2]);
        let values: Vec<f64> = (0..6).map(|i| v.voxels.get_f64(i)).collect();
        assert_eq!(values, vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
    }

    #[test]
    fn bad_type_and_encoding_and_sizes() {
        let e = read_nrrd(&file(&LPS_HEADER.replace("type: short", "type: quaternion"), &[]), limits()).unwrap_err();
        assert!(e.to_string().contains("type") && e.to_string().contains("quaternion"), "{e}");
        let e = read_nrrd(&file(&LPS_HEADER.replace("type: short", "type: block"), &[]), limits()).unwrap_err();
        assert!(e.to_string().contains("block"), "{e}");
        let e = read_nrrd(&file(&LPS_HEADER.replace("encoding: raw", "encoding: bzip2"), &[]), limits()).unwrap_err();
        assert!(e.to_string().contains("bzip2") && e.to_string().contains("not supported"), "{e}");
        let e = read_nrrd(&file(&LPS_HEADER.replace("encoding: raw", "encoding: hex"), &[]), limits()).unwrap_err();
        assert!(e.to_string().contains("encoding") && e.to_string().contains("hex"), "{e}");
        let e = read_nrrd(&file(&LPS_HEADER.replace("sizes: 2 3 4", "sizes: 2 3"), &[]), limits()).unwrap_err();
        assert!(e.to_string().contains("sizes") && e.to_string().contains("dimension is 3"), "{e}");
        let e = read_nrrd(b"P5\n2 2\n255\n", limits()).unwrap_err();
        assert!(e.to_string().contains("magic line"), "{e}");
        let e = read_nrrd(&file(&LPS_HEADER.replace("endian: little\n", ""), &int16_data(24)), limits()).unwrap_err();
        assert!(e.to_string().contains("endian"), "{e}");
    }

    #[test]
    fn claimed_data_beyond_what_is_present_errors_without_allocating() {
        // 2^40 int16 voxels claimed, a few bytes present: refused by the budget, or as too short.
        let header = LPS_HEADER.replace("sizes: 2 3 4", "sizes: 1024 1024 1048576");
        let e = read_nrrd(&file(&header, &int16_data(24)), limits()).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge(_)), "{e}");
        let e = read_nrrd(&file(&header, &int16_data(24)), ReadLimits { max_data_bytes: u64::MAX }).unwrap_err();
        assert!(e.to_string().contains("shorter than the header says"), "{e}");
        let e = read_nrrd(&file(LPS_HEADER, &int16_data(20)), limits()).unwrap_err();
        assert!(e.to_string().contains("need 48 bytes") && e.to_string().contains("found 40"), "{e}");
    }

    #[test]
    fn truncated_gzip_is_reported() {
        let header = LPS_HEADER.replace("encoding: raw", "encoding: gzip");
        let data = gzip(&int16_data(24));
        let e = read_nrrd(&file(&header, &data[..data.len() / 2]), limits()).unwrap_err();
        assert!(matches!(e, ReadError::TruncatedGzip | ReadError::NrrdData(_)), "{e}");
        let e = read_nrrd(&file(&header, &int16_data(24)), limits()).unwrap_err();
        assert!(e.to_string().contains("1f 8b"), "{e}");
    }

    #[test]
    fn detached_header_and_skips() {
        let header = LPS_HEADER.replace("\n\n", "\ndata file: x.raw\nline skip: 1\nbyte skip: 2\n");
        let mut data = b"text line\nXX".to_vec();
        data.extend(int16_data(24));
        let v = read_nrrd_detached(header.as_bytes(), &data, limits()).unwrap();
        assert_eq!(v.voxels.get_f64(0), -20.0);
        let e = read_nrrd(header.as_bytes(), limits()).unwrap_err();
        assert!(e.to_string().contains("data file"), "{e}");
        let list = LPS_HEADER.replace("\n\n", "\ndata file: LIST\n");
        let e = read_nrrd_detached(list.as_bytes(), &data, limits()).unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = read_nrrd_detached(LPS_HEADER.as_bytes(), &data, limits()).unwrap_err();
        assert!(e.to_string().contains("no data file"), "{e}");
    }

    #[test]
    fn spacings_only_gives_lps_diagonal() {
        let header = "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 1 1 1\nspacings: 2 3 4\nencoding: raw\n\n";
        let v = read_nrrd(&file(header, &[7]), limits()).unwrap();
        let a = v.geometry.affine;
        assert_eq!([a[0][0], a[1][1], a[2][2]], [-2.0, -3.0, 4.0]);
    }

    #[test]
    fn duplicate_field_is_refused() {
        let header = LPS_HEADER.replace("encoding: raw\n", "encoding: raw\nencoding: raw\n");
        let e = read_nrrd(&file(&header, &int16_data(24)), limits()).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn seg_round_trip() {
        let affine: Affine = [[-1.0, 0.0, 0.0, 5.0], [0.0, 2.0, 0.0, -3.0], [0.0, 0.0, 1.5, 7.0], [0.0, 0.0, 0.0, 1.0]];
        let labels: Vec<u16> = (0..24).map(|i| (i % 3) as u16).collect();
        let bytes = write_seg_nrrd(&labels, [2, 3, 4], &affine, &[(1, "liver".into(), [255, 0, 0])]);
        let end = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
        let text = String::from_utf8_lossy(&bytes[..end]);
        assert!(text.contains("Segment0_Name:=liver") && text.contains("Segment1_Name:=Label 2"), "{text}");
        assert!(text.contains("Segment0_Color:=1.000000 0.000000 0.000000"), "{text}");
        let v = read_nrrd(&bytes, limits()).unwrap();
        assert_eq!(v.geometry.affine, affine);
        assert_eq!(v.datatype, Datatype::U8);
        assert!((0..24).all(|i| v.voxels.get_f64(i) == f64::from(labels[i])));
        let wide: Vec<u16> = (0..24).map(|i| i * 300).collect();
        let v = read_nrrd(&write_seg_nrrd(&wide, [2, 3, 4], &affine, &[]), limits()).unwrap();
        assert_eq!(v.datatype, Datatype::U16);
        assert_eq!(v.voxels.get_f64(23), 6900.0);
    }
}
