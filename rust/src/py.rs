//! The Python surface (`guard_middleware._engine`; typed in `_engine.pyi`). Offsets cross this
//! boundary as Python `str` indices (code points); inside the engine they are UTF-8 byte offsets.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::blocklist::Literals as CoreLiterals;
use crate::normalize::{self as core_norm, OffsetMap as CoreOffsetMap};
use crate::pii::{PiiScanner as CorePii, PiiType};

/// Inputs at least this long are scanned with the GIL released, so other threads (the event loop,
/// when the caller scans in a worker thread) keep running.
const DETACH_BYTES: usize = 64 * 1024;

/// The text of a Python str as UTF-8. A str holding lone surrogates (valid in JSON strings, not
/// encodable as UTF-8) is copied with each surrogate replaced by U+FFFD: one code point for one, so
/// every str index stays where it was, and U+FFFD, like a surrogate, is in no class a rule matches.
fn utf8<'a>(s: &'a Bound<'_, PyString>) -> PyResult<std::borrow::Cow<'a, str>> {
    match s.to_str() {
        Ok(text) => Ok(std::borrow::Cow::Borrowed(text)),
        Err(_) => {
            let encoded = s.call_method1("encode", ("utf-16-le", "surrogatepass"))?;
            let bytes = encoded.cast::<PyBytes>()?.as_bytes();
            let units = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]));
            Ok(std::borrow::Cow::Owned(
                char::decode_utf16(units)
                    .map(|r| r.unwrap_or('\u{FFFD}'))
                    .collect(),
            ))
        }
    }
}

/// Byte offset of str index `index` (clamped to the end).
fn byte_of_char(text: &str, index: usize) -> usize {
    if text.is_ascii() {
        return index.min(text.len());
    }
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(b, _)| b)
}

/// Converts byte offsets to str indices in place, in one sweep over the text.
fn to_char_indices(text: &str, offsets: &mut [usize]) {
    if text.is_ascii() || offsets.is_empty() {
        return;
    }
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_unstable_by_key(|&i| offsets[i]);
    let bytes = text.as_bytes();
    let (mut byte, mut chars) = (0usize, 0usize);
    for i in order {
        let target = offsets[i];
        // Every byte that is not a UTF-8 continuation byte starts a code point.
        chars += bytes[byte..target]
            .iter()
            .filter(|&&b| (b as i8) >= -0x40)
            .count();
        byte = target;
        offsets[i] = chars;
    }
}

fn run<T: Send>(py: Python<'_>, len: usize, f: impl FnOnce() -> T + Send) -> T {
    if len >= DETACH_BYTES {
        py.detach(f)
    } else {
        f()
    }
}

/// A normalised text's map back to the original, in str indices.
#[pyclass(frozen, module = "guard_middleware._engine")]
struct OffsetMap {
    original: String,
    normalized: String,
    map: CoreOffsetMap,
}

#[pymethods]
impl OffsetMap {
    fn __len__(&self) -> usize {
        self.normalized.chars().count()
    }

    fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let (s, e) = (
            byte_of_char(&self.normalized, start),
            byte_of_char(&self.normalized, end),
        );
        let mut span = [0usize; 2];
        (span[0], span[1]) = self.map.original_span(s, e);
        to_char_indices(&self.original, &mut span);
        (span[0], span[1])
    }

    fn original_index(&self, index: usize) -> usize {
        let mut at = [self
            .map
            .original_index(byte_of_char(&self.normalized, index))];
        to_char_indices(&self.original, &mut at);
        at[0]
    }

    fn normalized_index(&self, orig_index: usize) -> usize {
        let mut at = [self
            .map
            .normalized_index(byte_of_char(&self.original, orig_index))];
        to_char_indices(&self.normalized, &mut at);
        at[0]
    }
}

/// NFKC, optional case folding and format characters removed; the map is None when every index is
/// unchanged.
#[pyfunction]
#[pyo3(signature = (text, *, casefold = true))]
fn normalize(text: &Bound<'_, PyString>, casefold: bool) -> PyResult<(String, Option<OffsetMap>)> {
    let original = utf8(text)?;
    let n = core_norm::normalize(&original, casefold);
    let normalized = n.text.into_owned();
    Ok(match n.map {
        None => (normalized, None),
        Some(map) => {
            let m = OffsetMap {
                original: original.into_owned(),
                normalized: normalized.clone(),
                map,
            };
            (normalized, Some(m))
        }
    })
}

/// The str index where the last character cluster of `text` starts.
#[pyfunction]
fn last_cluster_start(text: &Bound<'_, PyString>) -> PyResult<usize> {
    let t = utf8(text)?;
    let mut at = [core_norm::last_cluster_start(&t)];
    to_char_indices(&t, &mut at);
    Ok(at[0])
}

/// Blocklist literals: `find` gives (start, end, literal index) in str indices.
#[pyclass(frozen, module = "guard_middleware._engine")]
struct Literals {
    core: CoreLiterals,
}

#[pymethods]
impl Literals {
    #[new]
    #[pyo3(signature = (literals, *, word, casefold, max_holdback_chars))]
    fn new(
        literals: Vec<String>,
        word: bool,
        casefold: bool,
        max_holdback_chars: usize,
    ) -> PyResult<Self> {
        let core = CoreLiterals::new(&literals, word, casefold, max_holdback_chars)
            .map_err(PyValueError::new_err)?;
        Ok(Literals { core })
    }

    #[pyo3(signature = (text, pos = 0))]
    fn find(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyString>,
        pos: usize,
    ) -> PyResult<Vec<(usize, usize, usize)>> {
        let t = utf8(text)?;
        let start = byte_of_char(&t, pos);
        let found = run(py, t.len(), || self.core.find(&t, start));
        let mut offsets: Vec<usize> = found.iter().flat_map(|&(s, e, _)| [s, e]).collect();
        to_char_indices(&t, &mut offsets);
        Ok(found
            .iter()
            .enumerate()
            .map(|(i, &(_, _, k))| (offsets[2 * i], offsets[2 * i + 1], k))
            .collect())
    }

    #[pyo3(signature = (text, pos = 0))]
    fn holdback(&self, py: Python<'_>, text: &Bound<'_, PyString>, pos: usize) -> PyResult<usize> {
        let t = utf8(text)?;
        let start = byte_of_char(&t, pos);
        let mut at = [run(py, t.len(), || self.core.holdback(&t, start))];
        to_char_indices(&t, &mut at);
        Ok(at[0])
    }
}

/// PII detection: `find` gives (start, end, type name) in str indices.
#[pyclass(frozen, module = "guard_middleware._engine")]
struct PiiScanner {
    core: CorePii,
}

#[pymethods]
impl PiiScanner {
    #[new]
    #[pyo3(signature = (types, *, max_holdback_chars))]
    fn new(types: Vec<String>, max_holdback_chars: usize) -> PyResult<Self> {
        let parsed = types
            .iter()
            .map(|t| {
                PiiType::from_name(t)
                    .ok_or_else(|| PyValueError::new_err(format!("unknown PII type {t:?}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PiiScanner {
            core: CorePii::new(&parsed, max_holdback_chars),
        })
    }

    #[pyo3(signature = (text, pos = 0))]
    fn find(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyString>,
        pos: usize,
    ) -> PyResult<Vec<(usize, usize, &'static str)>> {
        let t = utf8(text)?;
        let start = byte_of_char(&t, pos);
        let found = run(py, t.len(), || self.core.find(&t, start));
        let mut offsets: Vec<usize> = found.iter().flat_map(|&(s, e, _)| [s, e]).collect();
        to_char_indices(&t, &mut offsets);
        Ok(found
            .iter()
            .enumerate()
            .map(|(i, &(_, _, kind))| (offsets[2 * i], offsets[2 * i + 1], kind.name()))
            .collect())
    }

    #[pyo3(signature = (text, pos = 0))]
    fn holdback(&self, py: Python<'_>, text: &Bound<'_, PyString>, pos: usize) -> PyResult<usize> {
        let t = utf8(text)?;
        let start = byte_of_char(&t, pos);
        let mut at = [run(py, t.len(), || self.core.holdback(&t, start))];
        to_char_indices(&t, &mut at);
        Ok(at[0])
    }
}

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(last_cluster_start, m)?)?;
    m.add_class::<OffsetMap>()?;
    m.add_class::<Literals>()?;
    m.add_class::<PiiScanner>()?;
    Ok(())
}
