//! The fast path for whole JSON bodies: whether the exact path would find nothing at all.
//!
//! The exact path (Python: `formats/body.py` extracts every text of a body as segments, then each
//! local check runs on each segment) builds Python objects for every string and every path. Most
//! bodies are clean, and for them all that work only proves there is nothing to do. This module
//! visits the same texts in the same way, straight from the bytes, and asks the engine's checks
//! whether any of them finds anything: if none does, the body is clean and goes on as it came; if
//! one does (or the walk meets a shape it does not settle), the exact path runs and decides.
//!
//! So this walk may scan *more* than the exact path (a false alarm costs only time) but never less:
//! every text the exact path scans is scanned here, whole, with the same checks. It mirrors
//! `_Walker` rule for rule (structural values, opaque payloads, JSON inside strings, joined text
//! parts); the key lists come from Python (`WalkRules`), and `tests/test_fast_path.py` runs both
//! walkers side by side.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::json_check::{self, plain_run_end, unescape, JsonError};

/// A parsed JSON value; strings borrow from the body unless they hold escapes.
#[derive(Debug)]
pub enum Value<'a> {
    /// A string and where its literal (quotes included) sits in the document, in bytes.
    Str(Cow<'a, str>, (usize, usize)),
    Null,
    /// A number or a boolean (its text): never text to check.
    Scalar(&'a str),
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s, _) => Some(s),
            _ => None,
        }
    }
}

/// Parses a document that `json_check::check` accepted (None on anything else: the caller then takes
/// the exact path). Escapes are decoded as Python decodes them; a lone surrogate escape becomes
/// U+FFFD, which is what the engine scans in its place.
pub fn parse(raw: &str) -> Option<Value<'_>> {
    let mut p = Parser {
        b: raw.as_bytes(),
        s: raw,
        i: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    (p.i == p.b.len()).then_some(v)
}

struct Parser<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Option<Value<'a>> {
        match *self.b.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Some(Value::Object(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    (self.b.get(self.i) == Some(&b':')).then_some(())?;
                    self.i += 1;
                    self.ws();
                    members.push((key, self.value()?));
                    self.ws();
                    match *self.b.get(self.i)? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(Value::Object(members));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Some(Value::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value()?);
                    self.ws();
                    match *self.b.get(self.i)? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Value::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => {
                let start = self.i;
                let s = self.string()?;
                Some(Value::Str(s, (start, self.i)))
            }
            b'n' => {
                self.i += 4;
                Some(Value::Null)
            }
            _ => {
                // A number, true or false (the document was checked): skip to the delimiter.
                let start = self.i;
                while let Some(&c) = self.b.get(self.i) {
                    if matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                (self.i > start).then(|| Value::Scalar(&self.s[start..self.i]))
            }
        }
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        (self.b.get(self.i) == Some(&b'"')).then_some(())?;
        let start = self.i + 1;
        let mut i = plain_run_end(self.b, start);
        if self.b.get(i) == Some(&b'"') {
            self.i = i + 1;
            return self.s.get(start..i).map(Cow::Borrowed);
        }
        let mut out = String::from(self.s.get(start..i)?);
        loop {
            match *self.b.get(i)? {
                b'"' => break,
                b'\\' => {
                    let (c, len) = unescape(self.b, i)?;
                    out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                    i += len;
                }
                c if c < 0x20 => return None,
                _ => {
                    let end = plain_run_end(self.b, i);
                    out.push_str(self.s.get(i..end)?);
                    i = end;
                }
            }
        }
        self.i = i + 1;
        Some(Cow::Owned(out))
    }
}

/// The key lists of `formats/body.py`, handed over once (one source of truth).
#[derive(Debug, Clone, Default)]
pub struct WalkRules {
    /// Keys whose values are enums or identifiers when they look like one.
    pub structural: HashSet<String>,
    /// Keys whose base64-shaped string value is an opaque payload wherever it appears.
    pub opaque: HashSet<String>,
    /// Keys under which `data` is an audio payload.
    pub audio_holders: HashSet<String>,
    /// Keys whose whole subtree is JSON the model reads or writes.
    pub json_subtree: HashSet<String>,
    /// Keys whose string value is JSON text.
    pub json_string: HashSet<String>,
    /// Keys whose string value is JSON when it starts like a JSON object or array.
    pub maybe_json: HashSet<String>,
    /// `type` values of text parts (adjacent ones are joined).
    pub text_part_types: HashSet<String>,
    /// The format's own opaque keys (embedding vectors in answers).
    pub format_opaque: HashSet<String>,
}

/// A text was found (or a shape was met that only the exact path settles): stop walking.
#[derive(Debug, PartialEq, Eq)]
pub struct Dirty;

type Step = Result<(), Dirty>;

/// Containers nest at most this deep inside a JSON string (`arguments`, JSON content); deeper, the
/// string is scanned as raw text (`body._too_deep`, the same limit as `body.MAX_DEPTH`).
const INNER_MAX_DEPTH: usize = 128;

/// Walks a checked body (`raw` passed `json_check::check`) and calls `scan` on every text the exact
/// path would check; `scan` returns true when a check finds something. Ok: nothing found anywhere.
pub fn walk_body(
    raw: &[u8],
    rules: &WalkRules,
    max_int_digits: usize,
    scan: &mut dyn FnMut(&str) -> bool,
) -> Step {
    let text = std::str::from_utf8(raw).map_err(|_| Dirty)?;
    let body = parse(text).ok_or(Dirty)?;
    Walker {
        rules,
        max_int_digits,
        scan,
    }
    .walk(&body, None)
}

struct Walker<'r, 's> {
    rules: &'r WalkRules,
    max_int_digits: usize,
    scan: &'s mut dyn FnMut(&str) -> bool,
}

/// `[a-z][a-z0-9_./+]{0,63}`, whole (`body._IDENTIFIER`).
pub fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_./+".contains(&c))
}

fn is_base64ish(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"+/=_-\r\n".contains(&c)
}

/// `_BASE64.fullmatch`: at least 32 characters of base64 (or base64url, line breaks allowed).
fn base64_whole(s: &str) -> bool {
    s.len() >= 32 && s.bytes().all(is_base64ish)
}

/// `_DATA_URL.match(value[:300])` then `_BASE64.fullmatch` of the payload: a `data:` URL with a
/// base64 payload. `\w` is read as ASCII here: a URL it refuses is scanned as text, which the exact
/// path may skip (a false alarm), never the reverse.
fn data_url_is_base64(value: &str) -> bool {
    let head_end = value
        .char_indices()
        .nth(300)
        .map_or(value.len(), |(b, _)| b);
    let head = &value.as_bytes()[..head_end];
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let Some(rest) = head.strip_prefix(b"data:") else {
        return false;
    };
    let mut i = rest
        .iter()
        .position(|&c| !(word(c) || b".+-/".contains(&c)))
        .unwrap_or(rest.len());
    let param = |c: u8| word(c) || b".+-".contains(&c);
    loop {
        if rest[i..].starts_with(b";base64,") {
            let payload = 5 + i + 8;
            return base64_whole(&value[payload..]);
        }
        if rest.get(i) != Some(&b';') {
            return false;
        }
        i += 1;
        let name = rest[i..].iter().take_while(|&&c| param(c)).count();
        if name == 0 || rest.get(i + name) != Some(&b'=') {
            return false;
        }
        i += name + 1;
        let val = rest[i..].iter().take_while(|&&c| param(c)).count();
        if val == 0 {
            return false;
        }
        i += val;
    }
}

impl Walker<'_, '_> {
    fn text(&mut self, s: &str) -> Step {
        if !s.is_empty() && (self.scan)(s) {
            return Err(Dirty);
        }
        Ok(())
    }

    /// `_Walker.walk`; `own_key` is the key this value sits under (None in a list or at the root).
    fn walk(&mut self, node: &Value<'_>, own_key: Option<&str>) -> Step {
        match node {
            Value::Str(s, _) => self.text(s),
            Value::Object(members) => self.walk_object(node, members, own_key, false),
            Value::Array(items) => self.walk_list(items),
            Value::Null | Value::Scalar(_) => Ok(()),
        }
    }

    /// `walk_object`; `skip_text`: a text part's other members (its `text` was checked in its run).
    fn walk_object(
        &mut self,
        node: &Value<'_>,
        members: &[(Cow<'_, str>, Value<'_>)],
        own_key: Option<&str>,
        skip_text: bool,
    ) -> Step {
        let rules = self.rules;
        for (key, value) in members {
            if skip_text && key == "text" {
                continue;
            }
            if !is_identifier(key) {
                self.text(key)?;
            }
            match value {
                Value::Str(s, _) => self.walk_string(node, own_key, key, s)?,
                _ if rules.json_subtree.contains(&**key)
                    || (key == "input" && matches!(value, Value::Object(_))) =>
                {
                    self.walk_all(value)?;
                }
                _ if rules.format_opaque.contains(&**key) => {}
                Value::Object(inner) => self.walk_object(value, inner, Some(key), false)?,
                Value::Array(items) => self.walk_list(items)?,
                Value::Null | Value::Scalar(_) => {}
            }
        }
        Ok(())
    }

    fn walk_string(
        &mut self,
        parent: &Value<'_>,
        parent_key: Option<&str>,
        key: &str,
        value: &str,
    ) -> Step {
        let rules = self.rules;
        if rules.structural.contains(key) && is_identifier(value) {
            return Ok(());
        }
        if self.is_opaque(key, value, parent, parent_key) {
            return Ok(());
        }
        if rules.json_string.contains(key)
            || (rules.maybe_json.contains(key) && value.starts_with(['{', '[']))
        {
            return self.walk_json_string(key, value);
        }
        self.text(value)
    }

    /// `_is_opaque` (with `walk_string`'s guard): a media payload or encrypted blob.
    fn is_opaque(
        &self,
        key: &str,
        value: &str,
        parent: &Value<'_>,
        parent_key: Option<&str>,
    ) -> bool {
        let rules = self.rules;
        if value.starts_with("data:") {
            return data_url_is_base64(value);
        }
        if rules.opaque.contains(key) || rules.format_opaque.contains(key) {
            // opaque wherever it appears
        } else if key == "data" {
            let base64_source = parent.get("type").and_then(Value::as_str) == Some("base64");
            let audio = parent_key.is_some_and(|k| rules.audio_holders.contains(k));
            if !(base64_source || audio) {
                return false;
            }
        } else if !(key == "result"
            && parent.get("type").and_then(Value::as_str) == Some("image_generation_call"))
        {
            return false;
        }
        base64_whole(value)
    }

    /// `walk_json_string`: JSON that parses is walked key by key; what Python's parser refuses is
    /// scanned as it stands.
    fn walk_json_string(&mut self, key: &str, raw: &str) -> Step {
        match json_check::check(raw.as_bytes(), self.max_int_digits, INNER_MAX_DEPTH) {
            Ok(_) => {}
            // Python parses lone surrogates inside a string: its walk decides those.
            Err(JsonError::Surrogate(_)) => return Err(Dirty),
            // Deeper than the limit, or not JSON as Python reads it: the raw text, as in Python.
            Err(_) => return self.text(raw),
        }
        let parsed = parse(raw).ok_or(Dirty)?;
        match parsed {
            Value::Object(_) | Value::Array(_) => self.walk_all(&parsed),
            Value::Null => self.text(raw),
            _ if self.rules.json_string.contains(key) => self.walk_all(&parsed),
            _ => self.text(raw),
        }
    }

    /// `walk_all`: every key and every string value, no name skipped.
    fn walk_all(&mut self, node: &Value<'_>) -> Step {
        match node {
            Value::Str(s, _) => self.text(s),
            Value::Object(members) => {
                for (key, value) in members {
                    self.text(key)?;
                    self.walk_all(value)?;
                }
                Ok(())
            }
            Value::Array(items) => items.iter().try_for_each(|v| self.walk_all(v)),
            Value::Null | Value::Scalar(_) => Ok(()),
        }
    }

    fn part_text<'v>(&self, node: &'v Value<'_>) -> Option<&'v str> {
        let kind = node.get("type")?.as_str()?;
        let text = node.get("text")?.as_str()?;
        (self.rules.text_part_types.contains(kind) && !text.starts_with(['{', '['])).then_some(text)
    }

    /// `walk_list`: runs of adjacent text parts are checked joined (and part by part).
    fn walk_list(&mut self, items: &[Value<'_>]) -> Step {
        let mut run: Vec<&str> = Vec::new();
        let mut run_start = 0;
        for (i, value) in items.iter().enumerate() {
            if let Some(text) = self.part_text(value) {
                if run.is_empty() {
                    run_start = i;
                }
                run.push(text);
                continue;
            }
            self.flush_run(&items[run_start..run_start + run.len()], &mut run)?;
            self.walk(value, None)?;
        }
        self.flush_run(&items[run_start..run_start + run.len()], &mut run)
    }

    fn flush_run(&mut self, parts: &[Value<'_>], run: &mut Vec<&str>) -> Step {
        if run.len() > 1 {
            for text in run.iter() {
                self.text(text)?;
            }
            self.text(&run.concat())?;
        } else if let Some(text) = run.first() {
            self.text(text)?;
        }
        run.clear();
        for part in parts {
            if let Value::Object(members) = part {
                // Python walks the part without its `text` only when something besides `type` is left.
                if members.iter().filter(|(k, _)| k != "text").count() > 1 {
                    self.walk_object(part, members, None, true)?;
                }
            }
        }
        Ok(())
    }
}

/// Digests of texts every check of one scanner found clean: agents and chat UIs re-send the whole
/// conversation each turn, and a re-sent message then costs one hash instead of a scan. A keyed
/// 128-bit SipHash (the key is random per process), so no one can craft a text that collides with a
/// clean one. Two generations of at most `cap` digests each: when the current one fills, the older
/// is dropped, so memory is bounded and recently seen texts stay.
pub struct CleanMemo {
    current: HashSet<u128>,
    previous: HashSet<u128>,
    cap: usize,
}

/// The memo's keyed digest of a text (the key is random per instance; computing it takes no lock).
pub struct TextDigest {
    keys: (u64, u64),
}

impl TextDigest {
    pub fn new() -> TextDigest {
        use std::hash::BuildHasher;
        let random = std::collections::hash_map::RandomState::new();
        TextDigest {
            keys: (random.hash_one(0x5eed_u64), random.hash_one(0xfeed_u64)),
        }
    }

    pub fn of(&self, text: &str) -> u128 {
        siphasher::sip128::SipHasher13::new_with_keys(self.keys.0, self.keys.1)
            .hash(text.as_bytes())
            .as_u128()
    }
}

impl Default for TextDigest {
    fn default() -> TextDigest {
        TextDigest::new()
    }
}

impl CleanMemo {
    pub fn new(cap: usize) -> CleanMemo {
        CleanMemo {
            current: HashSet::new(),
            previous: HashSet::new(),
            cap,
        }
    }

    pub fn contains(&mut self, digest: u128) -> bool {
        if self.current.contains(&digest) {
            return true;
        }
        if self.previous.remove(&digest) {
            self.insert(digest);
            return true;
        }
        false
    }

    pub fn insert(&mut self, digest: u128) {
        if self.current.len() >= self.cap {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> WalkRules {
        let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        WalkRules {
            structural: set(&["role", "type"]),
            opaque: set(&["file_data", "signature"]),
            audio_holders: set(&["input_audio", "audio"]),
            json_subtree: set(&["parameters"]),
            json_string: set(&["arguments"]),
            maybe_json: set(&["content", "text"]),
            text_part_types: set(&["text", "input_text"]),
            format_opaque: set(&[]),
        }
    }

    fn texts(body: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let r = rules();
        walk_body(body.as_bytes(), &r, 4300, &mut |t| {
            seen.push(t.to_string());
            false
        })
        .unwrap();
        seen
    }

    #[test]
    fn memo_remembers_two_generations() {
        let mut memo = CleanMemo::new(2);
        let digest = TextDigest::new();
        let d: Vec<u128> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|t| digest.of(t))
            .collect();
        assert_ne!(d[0], d[1]);
        for &x in &d[..3] {
            memo.insert(x);
        }
        assert!(memo.contains(d[0]) && memo.contains(d[2]));
        memo.insert(d[3]);
        memo.insert(d[4]);
        assert!(!memo.contains(d[1]));
    }

    #[test]
    fn parses_escapes_as_python() {
        let v = parse(r#"{"a":"x\u00e9\ud83d\ude00\ud800\n"}"#).unwrap();
        assert_eq!(v.get("a").and_then(Value::as_str), Some("xé😀\u{FFFD}\n"));
    }

    #[test]
    fn walks_like_the_python_walker() {
        assert_eq!(
            texts(r#"{"role":"user","content":"hi","Odd Key":1,"type":"Not an id"}"#),
            ["hi", "Odd Key", "Not an id"]
        );
        assert_eq!(
            texts(r#"{"content":[{"type":"text","text":"a"},{"type":"text","text":"b","x":"c"}]}"#),
            ["a", "b", "ab", "c"]
        );
        assert_eq!(
            texts(r#"{"arguments":"{\"type\":\"k\",\"n\":1}","parameters":{"type":"object"}}"#),
            ["type", "k", "n", "type", "object"]
        );
        assert_eq!(
            texts(r#"{"arguments":"null","content":"{bad"}"#),
            ["null", "{bad"]
        );
        let b64 = "QUFB".repeat(10);
        let body = format!(
            r#"{{"file_data":"{b64}","u":"data:image/png;base64,{b64}","audio":{{"data":"{b64}"}},"data":"{b64}"}}"#
        );
        assert_eq!(texts(&body), [b64]);
    }

    #[test]
    fn inner_surrogates_go_to_the_exact_path_and_deep_json_is_raw_text() {
        let r = rules();
        let mut never = |_: &str| false;
        let lone = r#"{"arguments":"{\"a\":\"\\ud800\"}"}"#;
        assert_eq!(walk_body(lone.as_bytes(), &r, 4300, &mut never), Err(Dirty));
        let deep = format!(
            r#"{{"arguments":"{}{}"}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(
            texts(&deep),
            [format!("{}{}", "[".repeat(200), "]".repeat(200))]
        );
    }
}
