//! The Python surface (`guard_middleware._engine`; typed in `_engine.pyi`). Offsets cross this
//! boundary as Python `str` indices (code points); inside the engine they are UTF-8 byte offsets.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::blocklist::Literals as CoreLiterals;
use crate::fastpath::{self, CleanMemo, TextDigest, WalkRules};
use crate::json_check::{self, JsonError};
use crate::normalize::{self as core_norm, OffsetMap as CoreOffsetMap};
use crate::pii::{PiiOptions, PiiScanner as CorePii, PiiType};
use crate::stream_fast::{self, ChunkKind, EnvelopeRules, WindowCheck};
use crate::user_regex::{self as core_user_regex, UserRegexes as CoreUserRegexes};

/// Inputs at least this long are scanned with the GIL released, so other threads (the event loop,
/// when the caller scans in a worker thread) keep running.
const DETACH_BYTES: usize = 64 * 1024;

/// The text of a Python str as UTF-8. A str holding lone surrogates (valid in JSON strings, not
/// encodable as UTF-8) is copied with each surrogate replaced by U+FFFD: one code point for one, so
/// every str index stays where it was, and U+FFFD, like a surrogate, is in no class a rule matches.
/// (Decoded from UTF-32, not UTF-16: a high surrogate followed by a low one in a str are two code
/// points, say the halves of an emoji split across stream events, and must stay two.)
fn utf8<'a>(s: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, str>> {
    match s.to_str() {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(_) => {
            let encoded = s.call_method1("encode", ("utf-32-le", "surrogatepass"))?;
            let bytes = encoded.cast::<PyBytes>()?.as_bytes();
            Ok(Cow::Owned(
                bytes
                    .chunks_exact(4)
                    .map(|c| {
                        char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .unwrap_or('\u{FFFD}')
                    })
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

/// The byte offset where each character of a text starts, and the text's length last: str index to
/// byte offset is one lookup, byte offset to str index one binary search.
struct CharStarts(Vec<usize>);

impl CharStarts {
    fn new(text: &str) -> CharStarts {
        let mut starts: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        starts.push(text.len());
        CharStarts(starts)
    }

    fn chars(&self) -> usize {
        self.0.len() - 1
    }

    fn byte(&self, index: usize) -> usize {
        self.0[index.min(self.chars())]
    }

    fn index(&self, byte: usize) -> usize {
        self.0.partition_point(|&b| b < byte)
    }
}

/// A scan's matches, `(start, end, what)` in byte offsets, as str indices; `pos` is a str index.
fn spans<K: Send>(
    py: Python<'_>,
    text: &Bound<'_, PyString>,
    pos: usize,
    scan: impl FnOnce(&str, usize) -> Vec<(usize, usize, K)> + Send,
) -> PyResult<Vec<(usize, usize, K)>> {
    let t = utf8(text)?;
    let start = byte_of_char(&t, pos);
    // The offsets are converted with the GIL released too: a text can hold tens of thousands.
    let (found, offsets) = run(py, t.len(), || {
        let found = scan(&t, start);
        let mut offsets: Vec<usize> = found.iter().flat_map(|&(s, e, _)| [s, e]).collect();
        to_char_indices(&t, &mut offsets);
        (found, offsets)
    });
    Ok(found
        .into_iter()
        .zip(offsets.chunks_exact(2))
        .map(|((_, _, k), se)| (se[0], se[1], k))
        .collect())
}

/// A hold-back offset (bytes) as a str index; `pos` is a str index.
fn hold(
    py: Python<'_>,
    text: &Bound<'_, PyString>,
    pos: usize,
    scan: impl FnOnce(&str, usize) -> usize + Send,
) -> PyResult<usize> {
    let t = utf8(text)?;
    let start = byte_of_char(&t, pos);
    let mut at = [run(py, t.len(), || scan(&t, start))];
    to_char_indices(&t, &mut at);
    Ok(at[0])
}

fn run<T: Send>(py: Python<'_>, len: usize, f: impl FnOnce() -> T + Send) -> T {
    if len >= DETACH_BYTES {
        py.detach(f)
    } else {
        f()
    }
}

/// A normalised text's map back to the original, in str indices. Built once per normalisation
/// (the blocklist's user regexes map every match through it), so each lookup is a binary search.
#[pyclass(frozen, module = "guard_middleware._engine")]
struct OffsetMap {
    map: CoreOffsetMap,
    original: CharStarts,
    normalized: CharStarts,
}

#[pymethods]
impl OffsetMap {
    fn __len__(&self) -> usize {
        self.normalized.chars()
    }

    fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let (s, e) = self
            .map
            .original_span(self.normalized.byte(start), self.normalized.byte(end));
        (self.original.index(s), self.original.index(e))
    }

    fn original_index(&self, index: usize) -> usize {
        self.original
            .index(self.map.original_index(self.normalized.byte(index)))
    }

    fn normalized_index(&self, orig_index: usize) -> usize {
        self.normalized
            .index(self.map.normalized_index(self.original.byte(orig_index)))
    }
}

/// NFKC, optional case folding and format characters removed, and the fold `fold` names ("none",
/// "pii" or "blocklist", see `normalize::Fold`); the map is None when every index is unchanged. Lone
/// surrogates come back as themselves (the user's regexes may look for them), not as the U+FFFD the
/// engine scans (no fold changes U+FFFD).
#[pyfunction]
#[pyo3(signature = (text, *, casefold = true, fold = "none"))]
fn normalize<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyString>,
    casefold: bool,
    fold: &str,
) -> PyResult<(Bound<'py, PyString>, Option<OffsetMap>)> {
    let fold = match fold {
        "none" => core_norm::Fold::None,
        "pii" => core_norm::Fold::Pii,
        "blocklist" => core_norm::Fold::Blocklist,
        other => return Err(PyValueError::new_err(format!("unknown fold {other:?}"))),
    };
    let original = utf8(text)?;
    let n = core_norm::normalize_with(&original, core_norm::Options::new(casefold, fold));
    let Some(map) = n.map else {
        return Ok((PyString::new(py, &n.text), None));
    };
    let m = OffsetMap {
        original: CharStarts::new(&original),
        normalized: CharStarts::new(&n.text),
        map,
    };
    let out = match original {
        Cow::Borrowed(_) => PyString::new(py, &n.text),
        Cow::Owned(_) => with_surrogates(py, text, &n.text, &m)?,
    };
    Ok((out, Some(m)))
}

/// `normalized` with the lone surrogates of `original` back in place of the U+FFFD each became (each
/// is its own cluster, unchanged by normalisation: one normalised code point).
fn with_surrogates<'py>(
    py: Python<'py>,
    original: &Bound<'py, PyString>,
    normalized: &str,
    m: &OffsetMap,
) -> PyResult<Bound<'py, PyString>> {
    let encoded = original.call_method1("encode", ("utf-32-le", "surrogatepass"))?;
    let units: Vec<u32> = encoded
        .cast::<PyBytes>()?
        .as_bytes()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut out: Vec<u32> = normalized.chars().map(u32::from).collect();
    for (i, &u) in units.iter().enumerate() {
        if (0xD800..0xE000).contains(&u) {
            let k = m.normalized_index(i);
            if out.get(k) == Some(&0xFFFD) {
                out[k] = u;
            }
        }
    }
    let bytes: Vec<u8> = out.iter().flat_map(|u| u.to_le_bytes()).collect();
    PyBytes::new(py, &bytes)
        .call_method1("decode", ("utf-32-le", "surrogatepass"))?
        .cast_into::<PyString>()
        .map_err(Into::into)
}

/// The str index where the last character cluster of `text` starts.
#[pyfunction]
fn last_cluster_start(text: &Bound<'_, PyString>) -> PyResult<usize> {
    let t = utf8(text)?;
    let mut at = [core_norm::last_cluster_start(&t)];
    to_char_indices(&t, &mut at);
    Ok(at[0])
}

pyo3::create_exception!(
    _engine,
    JsonRefused,
    PyValueError,
    "A body refused by `check_json`: args are (reason, start, end), byte offsets."
);

/// Checks a JSON body strictly (see `json_check`); returns whether it holds an integer beyond 64 bits.
#[pyfunction]
fn check_json(
    py: Python<'_>,
    raw: &Bound<'_, PyBytes>,
    max_int_digits: usize,
    max_depth: usize,
) -> PyResult<bool> {
    let bytes = raw.as_bytes();
    let result = run(py, bytes.len(), || {
        json_check::check(bytes, max_int_digits, max_depth)
    });
    let (reason, start, end) = match result {
        Ok(checked) => return Ok(checked.big_int),
        Err(JsonError::Encoding(at)) => ("encoding", at, at),
        Err(JsonError::Syntax(at)) => ("syntax", at, at),
        Err(JsonError::Constant(start, end)) => ("constant", start, end),
        Err(JsonError::IntDigits(at)) => ("int_digits", at, at),
        Err(JsonError::Duplicate(start, end)) => ("duplicate", start, end),
        Err(JsonError::Depth(at)) => ("depth", at, at),
        Err(JsonError::Surrogate(at)) => ("surrogate", at, at),
    };
    Err(JsonRefused::new_err((reason, start, end)))
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
        spans(py, text, pos, |t, start| self.core.find(t, start))
    }

    #[pyo3(signature = (text, pos = 0))]
    fn holdback(&self, py: Python<'_>, text: &Bound<'_, PyString>, pos: usize) -> PyResult<usize> {
        hold(py, text, pos, |t, start| self.core.holdback(t, start))
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
    #[pyo3(signature = (types, *, max_holdback_chars, ip_exclude_special = true, ip_exclude_versions = true))]
    fn new(
        types: Vec<String>,
        max_holdback_chars: usize,
        ip_exclude_special: bool,
        ip_exclude_versions: bool,
    ) -> PyResult<Self> {
        let parsed = types
            .iter()
            .map(|t| {
                PiiType::from_name(t)
                    .ok_or_else(|| PyValueError::new_err(format!("unknown PII type {t:?}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PiiScanner {
            core: CorePii::with_options(
                &parsed,
                max_holdback_chars,
                PiiOptions {
                    ip_exclude_special,
                    ip_exclude_versions,
                },
            ),
        })
    }

    #[pyo3(signature = (text, pos = 0))]
    fn find(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyString>,
        pos: usize,
    ) -> PyResult<Vec<(usize, usize, &'static str)>> {
        let found = spans(py, text, pos, |t, start| self.core.find(t, start))?;
        Ok(found
            .into_iter()
            .map(|(s, e, kind)| (s, e, kind.name()))
            .collect())
    }

    #[pyo3(signature = (text, pos = 0))]
    fn holdback(&self, py: Python<'_>, text: &Bound<'_, PyString>, pos: usize) -> PyResult<usize> {
        hold(py, text, pos, |t, start| self.core.holdback(t, start))
    }
}

/// Why a user regex cannot run natively (see `user_regex`), or None when it can. `casefold`: the
/// blocklist is case-insensitive.
#[pyfunction]
#[pyo3(signature = (pattern, *, casefold))]
fn classify_regex(pattern: &str, casefold: bool) -> Option<String> {
    core_user_regex::classify(pattern, casefold)
}

/// A blocklist's native user regexes: `find` gives (start, end, regex index) in str indices.
#[pyclass(frozen, module = "guard_middleware._engine")]
struct UserRegexes {
    core: CoreUserRegexes,
}

#[pymethods]
impl UserRegexes {
    #[new]
    #[pyo3(signature = (patterns, *, casefold, max_holdback_chars))]
    fn new(patterns: Vec<String>, casefold: bool, max_holdback_chars: usize) -> PyResult<Self> {
        let core = CoreUserRegexes::new(&patterns, casefold, max_holdback_chars)
            .map_err(PyValueError::new_err)?;
        Ok(UserRegexes { core })
    }

    #[pyo3(signature = (text, pos = 0))]
    fn find(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyString>,
        pos: usize,
    ) -> PyResult<Vec<(usize, usize, usize)>> {
        spans(py, text, pos, |t, start| self.core.find(t, start))
    }

    /// For each regex, whether `holdback` covers it (False: keep its hold-back on the `regex` package).
    #[getter]
    fn native_hold(&self) -> Vec<bool> {
        self.core.native_hold()
    }

    /// For tests: the matches in `text` taken as already normalised.
    #[pyo3(signature = (text, pos = 0))]
    fn find_normalized(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyString>,
        pos: usize,
    ) -> PyResult<Vec<(usize, usize, usize)>> {
        spans(py, text, pos, |t, start| {
            self.core.find_normalized(t, start)
        })
    }

    #[pyo3(signature = (text, pos = 0))]
    fn holdback(&self, py: Python<'_>, text: &Bound<'_, PyString>, pos: usize) -> PyResult<usize> {
        hold(py, text, pos, |t, start| self.core.holdback(t, start))
    }
}

/// Texts shorter than this are scanned each time: hashing one costs about what scanning it does.
const MEMO_MIN_BYTES: usize = 32;
/// Digests per memo generation (two generations: at most 2 x 65,536 x 16 bytes of digests).
const MEMO_CAP: usize = 65_536;

/// The fast path for whole JSON bodies (see `fastpath`): `clean(raw)` is True when none of the
/// checks would find anything in any text the exact path checks.
#[pyclass(frozen, module = "guard_middleware._engine")]
struct BodyScanner {
    checks: EngineChecks,
    rules: WalkRules,
    digest: TextDigest,
    memo: Mutex<CleanMemo>,
}

/// The engine checks of a set of guardrails, as the fast paths run them.
struct EngineChecks {
    literals: Vec<Py<Literals>>,
    pii: Vec<Py<PiiScanner>>,
}

impl EngineChecks {
    fn all(&self) -> Vec<&dyn WindowCheck> {
        let literals = self
            .literals
            .iter()
            .map(|l| &l.get().core as &dyn WindowCheck);
        let pii = self.pii.iter().map(|p| &p.get().core as &dyn WindowCheck);
        literals.chain(pii).collect()
    }
}

#[pymethods]
impl BodyScanner {
    #[new]
    #[pyo3(signature = (literals, pii, *, rules, format_opaque))]
    fn new(
        literals: Vec<Py<Literals>>,
        pii: Vec<Py<PiiScanner>>,
        mut rules: std::collections::HashMap<String, Vec<String>>,
        format_opaque: Vec<String>,
    ) -> PyResult<Self> {
        let mut take = |name: &str| -> PyResult<HashSet<String>> {
            rules
                .remove(name)
                .map(|v| v.into_iter().collect())
                .ok_or_else(|| PyValueError::new_err(format!("rules lack {name:?}")))
        };
        let walk = WalkRules {
            structural: take("structural")?,
            opaque: take("opaque")?,
            audio_holders: take("audio_holders")?,
            json_subtree: take("json_subtree")?,
            json_string: take("json_string")?,
            maybe_json: take("maybe_json")?,
            text_part_types: take("text_part_types")?,
            format_opaque: format_opaque.into_iter().collect(),
        };
        if let Some(extra) = rules.keys().next() {
            return Err(PyValueError::new_err(format!(
                "unknown rule list {extra:?}"
            )));
        }
        Ok(BodyScanner {
            checks: EngineChecks { literals, pii },
            rules: walk,
            digest: TextDigest::new(),
            memo: Mutex::new(CleanMemo::new(MEMO_CAP)),
        })
    }

    /// Every text the fast path scans in `raw`, in order, or None when the walk stops early (a shape
    /// only the exact path settles). For tests: the walk compared with `formats.body.extract`.
    fn texts(&self, raw: &Bound<'_, PyBytes>, max_int_digits: usize) -> Option<Vec<String>> {
        let mut seen = Vec::new();
        fastpath::walk_body(raw.as_bytes(), &self.rules, max_int_digits, &mut |t| {
            seen.push(t.to_owned());
            false
        })
        .ok()
        .map(|()| seen)
    }

    /// Whether the body (already accepted by `check_json`) is clean for every check;
    /// `max_int_digits` is Python's current integer limit (JSON inside strings is parsed with it).
    fn clean(&self, py: Python<'_>, raw: &Bound<'_, PyBytes>, max_int_digits: usize) -> bool {
        let bytes = raw.as_bytes();
        run(py, bytes.len(), || {
            let checks = self.checks.all();
            fastpath::walk_body(bytes, &self.rules, max_int_digits, &mut |t| {
                self.finds(&checks, t)
            })
            .is_ok()
        })
    }
}

impl BodyScanner {
    /// Whether any check finds anything in `text` (remembered when none does).
    fn finds(&self, checks: &[&dyn WindowCheck], text: &str) -> bool {
        let memo = || self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        let digest = (text.len() >= MEMO_MIN_BYTES).then(|| self.digest.of(text));
        if digest.is_some_and(|d| memo().contains(d)) {
            return false;
        }
        let found = checks.iter().any(|c| c.finds(text, 0));
        if let (false, Some(d)) = (found, digest) {
            memo().insert(d);
        }
        found
    }
}

/// The fast path for chat and completions streams (see `stream_fast`): `feed` settles the leading
/// events of a chunk that carry text for the one open channel and nothing else to decide, on that
/// channel's `TextWindow` state, and says how far it got; the Python stream guard does the rest.
#[pyclass(frozen, module = "guard_middleware._engine")]
struct StreamScanner {
    checks: EngineChecks,
    structural: HashSet<String>,
    special: HashSet<String>,
    kind: ChunkKind,
    max_event_bytes: usize,
}

#[pymethods]
impl StreamScanner {
    #[new]
    #[pyo3(signature = (literals, pii, *, structural, special, kind, max_event_bytes))]
    fn new(
        literals: Vec<Py<Literals>>,
        pii: Vec<Py<PiiScanner>>,
        structural: Vec<String>,
        special: Vec<String>,
        kind: &str,
        max_event_bytes: usize,
    ) -> PyResult<Self> {
        let kind = match kind {
            "chat" => ChunkKind::Chat,
            "completions" => ChunkKind::Completions,
            "anthropic" => ChunkKind::Anthropic,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown chunk kind {other:?}"
                )))
            }
        };
        Ok(StreamScanner {
            checks: EngineChecks { literals, pii },
            structural: structural.into_iter().collect(),
            special: special.into_iter().collect(),
            kind,
            max_event_bytes,
        })
    }

    /// Settles the leading events of `data` for choice `choice`, whose channel's window is `window`
    /// (a `streaming.TextWindow`, updated in place); `known` maps strings checked earlier in the
    /// stream to their checked text; `max_int_digits` is Python's current integer limit. Returns the
    /// bytes to send for them and how many bytes of `data` they were.
    fn feed<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyBytes>,
        choice: u64,
        window: &Bound<'py, PyAny>,
        known: &Bound<'py, PyDict>,
        max_int_digits: usize,
    ) -> PyResult<(Bound<'py, PyBytes>, usize, Option<Bound<'py, PyBytes>>)> {
        let buf = data.as_bytes();
        let none = || Ok((PyBytes::new(py, b""), 0, None));
        if !window.getattr("_blocked")?.is_none() || window.getattr("_done")?.is_truthy()? {
            return none();
        }
        let pending_obj = window.getattr("_pending")?;
        let context_obj = window.getattr("_context")?;
        let (Ok(pending), Ok(context)) = (
            pending_obj.cast::<PyString>()?.to_str(),
            context_obj.cast::<PyString>()?.to_str(),
        ) else {
            return none(); // lone surrogates held: the Python window handles them
        };
        let mut pending = pending.to_owned();
        let mut context = context.to_owned();
        let mut released_total: usize = window.getattr("_released_total")?.extract()?;
        let max_hold: usize = window.getattr("_max_hold")?.extract()?;
        let context_chars: usize = window.getattr("_context_chars")?.extract()?;
        let checks = self.checks.all();
        let structural = |k: &str| self.structural.contains(k);
        let special = |k: &str| self.special.contains(k);
        let rules = EnvelopeRules {
            structural: &structural,
            special: &special,
        };
        let mut out: Vec<u8> = Vec::new();
        let mut at = 0;
        let mut last = (0, 0);
        let name = self.kind.event_name();
        while let Some(event) = stream_fast::next_data_event(buf, at, self.max_event_bytes, name) {
            let Ok(payload) = std::str::from_utf8(&buf[event.payload.0..event.payload.1]) else {
                break;
            };
            let Some(chunk) = stream_fast::text_chunk(payload, self.kind, max_int_digits, &rules)
            else {
                break;
            };
            if chunk.choice != choice || !self.envelope_clean(known, &chunk.envelope, &checks)? {
                break;
            }
            let text = &*chunk.text;
            let joined = format!("{pending}{text}");
            let Some((hold, hold_chars)) =
                stream_fast::settle(&checks, &context, &joined, max_hold)
            else {
                break;
            };
            let released = &joined[..hold];
            if released == text {
                out.extend_from_slice(&buf[at..event.end]);
            } else if !released.is_empty() {
                out.extend_from_slice(&buf[at..event.payload.0]); // the event line and `data: `
                out.extend_from_slice(&payload.as_bytes()[..chunk.span.0]);
                stream_fast::json_string(released, &mut out);
                out.extend_from_slice(&payload.as_bytes()[chunk.span.1..]);
                out.extend_from_slice(b"\n\n");
            }
            if context_chars > 0 {
                context = stream_fast::tail_chars(&format!("{context}{released}"), context_chars)
                    .to_owned();
            }
            released_total += hold_chars;
            pending = joined[hold..].to_owned();
            at = event.end;
            last = event.payload;
        }
        if at > 0 {
            window.setattr("_pending", pending)?;
            window.setattr("_context", context)?;
            window.setattr("_released_total", released_total)?;
        }
        let last = (at > 0).then(|| PyBytes::new(py, &buf[last.0..last.1]));
        Ok((PyBytes::new(py, &out), at, last))
    }
}

impl StreamScanner {
    /// Every envelope string is known clean from earlier events, or no check finds anything in it.
    fn envelope_clean(
        &self,
        known: &Bound<'_, PyDict>,
        envelope: &[(Cow<'_, str>, Cow<'_, str>)],
        checks: &[&dyn WindowCheck],
    ) -> PyResult<bool> {
        for (_, value) in envelope {
            if let Some(checked) = known.get_item(&**value)? {
                if checked
                    .cast::<PyString>()
                    .is_ok_and(|c| c.to_str().is_ok_and(|c| c == value))
                {
                    continue;
                }
                return Ok(false); // known, but checked into something else: the Python walk rewrites it
            }
            if checks.iter().any(|c| c.finds(value, 0)) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(last_cluster_start, m)?)?;
    m.add_function(wrap_pyfunction!(check_json, m)?)?;
    m.add("JsonRefused", m.py().get_type::<JsonRefused>())?;
    m.add_class::<OffsetMap>()?;
    m.add_class::<Literals>()?;
    m.add_class::<PiiScanner>()?;
    m.add_class::<BodyScanner>()?;
    m.add_class::<StreamScanner>()?;
    m.add_class::<UserRegexes>()?;
    m.add_function(wrap_pyfunction!(classify_regex, m)?)?;
    Ok(())
}
