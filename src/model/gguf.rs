//! GGUF reading: header, metadata and tensor infos, checked against the file's real size.
//!
//! candle's reader is what the engines use to load weights; this one exists so that a bad
//! file is reported as one typed error naming the file and the problem (truncation, wrong
//! magic, unsupported version, unknown tensor type) and so that inspection never has to
//! read tensor data.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Value;

use super::error::{ModelError, Result};

/// "GGUF" read as a little-endian u32.
pub const GGUF_MAGIC: u32 = 0x4655_4747;
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;
/// Arrays of arrays deeper than this are rejected rather than recursed into.
const MAX_ARRAY_DEPTH: usize = 3;

/// A ggml tensor type: its id in the file, its name, and its block geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType {
    /// The `ggml_type` enum value stored in the file.
    pub id: u32,
    /// ggml's name for it (`Q4_K`, `F32`, ...).
    pub name: &'static str,
    /// Elements per block.
    pub block_size: u64,
    /// Bytes per block.
    pub type_size: u64,
}

/// Every type ggml defines today (ids 4, 5 and 31..33, 36..38 were removed upstream).
const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
];

impl GgmlType {
    /// The type with this id, if ggml defines one.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        GGML_TYPES
            .iter()
            .find(|t| t.0 == id)
            .map(|&(id, name, block_size, type_size)| GgmlType {
                id,
                name,
                block_size,
                type_size,
            })
    }

    /// Bytes that `n_elements` elements take, or `None` if they do not fill whole blocks.
    pub fn bytes_for(&self, n_elements: u64) -> Option<u64> {
        if !n_elements.is_multiple_of(self.block_size) {
            return None;
        }
        (n_elements / self.block_size).checked_mul(self.type_size)
    }
}

/// One tensor's header entry.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` (ne0) is the contiguous one.
    pub dims: Vec<u64>,
    /// Storage type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Bytes of data (whole blocks).
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Shape in row-major order (outermost first), as candle and PyTorch print it.
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }
}

/// A GGUF file's header: everything but the tensor data.
#[derive(Debug, Clone)]
pub struct GgufFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// GGUF format version (2 or 3).
    pub version: u32,
    /// Metadata, keyed by name.
    pub metadata: BTreeMap<String, Value>,
    /// Tensor infos in file order.
    pub tensors: Vec<TensorInfo>,
    /// Alignment of the data section and of every tensor in it.
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    /// Size of the file in bytes.
    pub file_size: u64,
}

impl GgufFile {
    /// Reads and checks the header of the GGUF at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let file_size = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
        let mut r = Reader {
            inner: BufReader::with_capacity(1 << 20, file),
            pos: 0,
            size: file_size,
            path,
        };
        read_gguf(&mut r)
    }

    /// The metadata value for `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer value of any width, if it is non-negative.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        value_u64(self.get(key)?)
    }

    /// A floating-point (or integer) value.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::F32(v) => Some(f64::from(*v)),
            Value::F64(v) => Some(*v),
            other => value_u64(other).map(|v| v as f64),
        }
    }

    /// A boolean value.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// An array value.
    pub fn get_array(&self, key: &str) -> Option<&[Value]> {
        match self.get(key)? {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }

    /// A required string, or a `MissingKey` error naming the file.
    pub fn require_str(&self, key: &str) -> Result<&str> {
        self.get_str(key)
            .ok_or_else(|| self.missing(key, self.get(key), "a string"))
    }

    /// `general.architecture`, which every model GGUF must carry.
    pub fn architecture(&self) -> Result<&str> {
        self.require_str("general.architecture")
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    fn missing(&self, key: &str, found: Option<&Value>, want: &str) -> ModelError {
        let detail = match found {
            None => String::new(),
            Some(v) => format!(": expected {want}, found {:?}", v.value_type()),
        };
        ModelError::MissingKey {
            path: self.path.clone(),
            key: key.to_string(),
            detail,
        }
    }
}

/// llama.cpp's `llama_ftype` names (`general.file_type`), as llama-bench prints them.
pub fn file_type_name(t: u64) -> &'static str {
    match t {
        0 => "all F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => "?",
    }
}

/// A model's type as llama-bench labels it: architecture, size and weight type
/// (`llama 135M Q8_0`), so that every engine's bench rows name a model the same way.
pub fn type_label(arch: &str, n_params: u64, weights: &str) -> String {
    let p = n_params as f64;
    let size = if p >= 1e9 {
        format!("{:.1}B", p / 1e9)
    } else {
        format!("{:.0}M", p / 1e6)
    };
    format!("{arch} {size} {weights}")
}

/// An integer of any width as u64, if non-negative.
pub fn value_u64(v: &Value) -> Option<u64> {
    match *v {
        Value::U8(x) => Some(u64::from(x)),
        Value::U16(x) => Some(u64::from(x)),
        Value::U32(x) => Some(u64::from(x)),
        Value::U64(x) => Some(x),
        Value::I8(x) => u64::try_from(x).ok(),
        Value::I16(x) => u64::try_from(x).ok(),
        Value::I32(x) => u64::try_from(x).ok(),
        Value::I64(x) => u64::try_from(x).ok(),
        _ => None,
    }
}

/// A byte reader that knows how much of the file is left, so that every short read and
/// every implausible length becomes a `Truncated` error with context.
struct Reader<'a> {
    inner: BufReader<File>,
    pos: u64,
    size: u64,
    path: &'a Path,
}

impl Reader<'_> {
    fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    fn truncated(&self, what: impl std::fmt::Display) -> ModelError {
        ModelError::Truncated {
            path: self.path.to_path_buf(),
            what: format!("{what} (file ends at byte {})", self.size),
        }
    }

    fn malformed(&self, message: impl Into<String>) -> ModelError {
        ModelError::Malformed {
            path: self.path.to_path_buf(),
            message: message.into(),
        }
    }

    fn bytes<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        if self.remaining() < N as u64 {
            return Err(self.truncated(format!("{} at byte {}", what(), self.pos)));
        }
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| ModelError::io(self.path, e))?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        self.bytes::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64> {
        self.bytes::<8>(what).map(u64::from_le_bytes)
    }

    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String> {
        let len = self.u64(what)?;
        if len > self.remaining() {
            return Err(self.truncated(format!(
                "{} at byte {} claims {len} bytes, {} remain",
                what(),
                self.pos,
                self.remaining()
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| ModelError::io(self.path, e))?;
        self.pos += len;
        // Some vocabularies hold byte sequences that are not UTF-8; keep them readable.
        Ok(match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    fn value(&mut self, type_id: u32, depth: usize, what: &dyn Fn() -> String) -> Result<Value> {
        Ok(match type_id {
            0 => Value::U8(self.bytes::<1>(what)?[0]),
            1 => Value::I8(i8::from_le_bytes(self.bytes::<1>(what)?)),
            2 => Value::U16(u16::from_le_bytes(self.bytes::<2>(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.bytes::<2>(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.bytes::<4>(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.bytes::<4>(what)?)),
            7 => match self.bytes::<1>(what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(self.malformed(format!("{}: bool byte {b}", what()))),
            },
            8 => Value::String(self.string(what)?),
            9 => self.array(depth, what)?,
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.bytes::<8>(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.bytes::<8>(what)?)),
            t => return Err(self.malformed(format!("{}: unknown value type {t}", what()))),
        })
    }

    fn array(&mut self, depth: usize, what: &dyn Fn() -> String) -> Result<Value> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(self.malformed(format!("{}: arrays nested too deep", what())));
        }
        let elem_type = self.u32(what)?;
        let len = self.u64(what)?;
        let min_size = match elem_type {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            t => return Err(self.malformed(format!("{}: unknown array type {t}", what()))),
        };
        if len.saturating_mul(min_size) > self.remaining() {
            return Err(self.truncated(format!(
                "{}: array of {len} items needs at least {} bytes, {} remain",
                what(),
                len.saturating_mul(min_size),
                self.remaining()
            )));
        }
        // The claim was checked against the bytes left; the first allocation is bounded too,
        // since each item takes more memory than its smallest encoding.
        let mut items = Vec::with_capacity((len as usize).min(1 << 16));
        for _ in 0..len {
            items.push(self.value(elem_type, depth + 1, what)?);
        }
        Ok(Value::Array(items))
    }
}

fn read_gguf(r: &mut Reader<'_>) -> Result<GgufFile> {
    let magic = r.u32(&|| "magic".to_string())?;
    if magic != GGUF_MAGIC {
        return Err(ModelError::BadMagic {
            path: r.path.to_path_buf(),
            found: magic,
        });
    }
    let version = r.u32(&|| "version".to_string())?;
    if !(2..=3).contains(&version) {
        return Err(ModelError::UnsupportedVersion {
            path: r.path.to_path_buf(),
            version,
        });
    }
    let n_tensors = r.u64(&|| "tensor count".to_string())?;
    let n_kv = r.u64(&|| "metadata count".to_string())?;
    // Each metadata entry takes at least 12 bytes and each tensor info at least 28.
    if n_kv
        .saturating_mul(12)
        .saturating_add(n_tensors.saturating_mul(28))
        > r.remaining()
    {
        return Err(r.truncated(format!(
            "header declares {n_kv} metadata entries and {n_tensors} tensors"
        )));
    }

    let mut metadata = BTreeMap::new();
    for i in 0..n_kv {
        let key = r.string(&|| format!("metadata key {i}"))?;
        let what = || format!("metadata value '{key}'");
        let type_id = r.u32(&what)?;
        let value = r.value(type_id, 0, &what)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(r.malformed(format!("duplicate metadata key '{key}'")));
        }
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match value_u64(v) {
            Some(a) if a > 0 && a.is_power_of_two() => a,
            _ => return Err(r.malformed(format!("general.alignment {v:?} is not a power of two"))),
        },
    };

    let mut tensors: Vec<TensorInfo> = Vec::with_capacity((n_tensors as usize).min(1 << 16));
    let mut names = std::collections::HashSet::new();
    for i in 0..n_tensors {
        let name = r.string(&|| format!("tensor info {i}"))?;
        let what = || format!("tensor info '{name}'");
        let n_dims = r.u32(&what)?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(r.malformed(format!("tensor '{name}' has {n_dims} dimensions")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64(&what)?);
        }
        let type_id = r.u32(&what)?;
        let offset = r.u64(&what)?;
        let ggml_type =
            GgmlType::from_id(type_id).ok_or_else(|| ModelError::UnknownTensorType {
                path: r.path.to_path_buf(),
                tensor: name.clone(),
                type_id,
            })?;
        let n_bytes = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|n| {
                if !dims[0].is_multiple_of(ggml_type.block_size) {
                    return None;
                }
                ggml_type.bytes_for(n)
            })
            .ok_or_else(|| {
                r.malformed(format!(
                    "tensor '{name}' of type {} has dimensions {dims:?} that do not fill whole blocks of {}",
                    ggml_type.name, ggml_type.block_size
                ))
            })?;
        if !offset.is_multiple_of(alignment) {
            return Err(r.malformed(format!(
                "tensor '{name}' offset {offset} is not aligned to {alignment}"
            )));
        }
        if !names.insert(name.clone()) {
            return Err(r.malformed(format!("duplicate tensor '{name}'")));
        }
        tensors.push(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            n_bytes,
        });
    }

    let data_offset = r.pos.div_ceil(alignment) * alignment;
    for t in &tensors {
        let end = data_offset
            .checked_add(t.offset)
            .and_then(|o| o.checked_add(t.n_bytes));
        match end {
            Some(end) if end <= r.size => {}
            _ => {
                return Err(r.truncated(format!(
                    "tensor '{}' ({} bytes at data offset {}) extends past the end",
                    t.name, t.n_bytes, t.offset
                )))
            }
        }
    }

    Ok(GgufFile {
        path: r.path.to_path_buf(),
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
        file_size: r.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_geometry_matches_ggml() {
        let q4k = GgmlType::from_id(12).expect("Q4_K");
        assert_eq!(
            (q4k.name, q4k.block_size, q4k.type_size),
            ("Q4_K", 256, 144)
        );
        assert_eq!(q4k.bytes_for(512), Some(288));
        assert_eq!(q4k.bytes_for(100), None);
        let q8 = GgmlType::from_id(8).expect("Q8_0");
        assert_eq!(q8.bytes_for(64), Some(68));
        assert!(GgmlType::from_id(4).is_none(), "Q4_2 was removed from ggml");
        assert!(GgmlType::from_id(99).is_none());
    }
}
