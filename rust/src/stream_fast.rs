//! The fast path for streamed answers: the pure parts. Chat and completions streams are mostly events
//! that carry a few characters of one choice's text in the same envelope as the event before. For
//! those, the Python stream guard parses the event, plans it, feeds the text to the channel's hold-back
//! window, rebuilds the event and walks the rest of it, for every event. Here one call takes the bytes
//! of such events, feeds each text to the window state it is given, and returns what to send: the
//! original event when all its text is released, nothing when all of it is held, or the event with
//! the released text in place of the original.
//!
//! It settles an event only when nothing is to be decided: no check finds anything in the window and
//! every other string of the event is known clean. Anything else (another shape, a finding, a string
//! not seen before that a check flags, an event that is not one `data:` line) stops the call; the
//! Python stream guard takes the event from there with the same window state, so both paths together
//! behave as the Python path alone (`tests/test_stream_fast.py` compares them).

use std::borrow::Cow;

use crate::fastpath::{is_identifier, parse, Value};
use crate::json_check;
use crate::normalize::chars_from_end;

/// One `data:` line followed by a blank line, LF-framed, after an `event: <name>` line when `event` is
/// given: `payload` is the data, `end` where the next event starts. Anything else (other fields,
/// comments, CR, several data lines, no blank line yet, another event name) is left to the SSE parser.
#[derive(Debug, PartialEq, Eq)]
pub struct DataEvent {
    pub payload: (usize, usize),
    pub end: usize,
}

pub fn next_data_event(
    buf: &[u8],
    at: usize,
    max_bytes: usize,
    event: Option<&[u8]>,
) -> Option<DataEvent> {
    let mut from = at;
    if let Some(name) = event {
        let line = buf
            .get(at..)?
            .strip_prefix(b"event: ")?
            .strip_prefix(name)?;
        (line.first() == Some(&b'\n')).then_some(())?;
        from = at + 7 + name.len() + 1;
    }
    let rest = buf.get(from..)?.strip_prefix(b"data:")?;
    let skip = usize::from(rest.first() == Some(&b' '));
    let start = from + 5 + skip;
    let len = memchr::memchr(b'\n', &buf[start..])?;
    let end = start + len;
    // The SSE parser counts every line of an event against its limit (in characters, which bytes
    // never undercount).
    if len == 0 || end - at > max_bytes || memchr::memchr(b'\r', &buf[start..end]).is_some() {
        return None;
    }
    (buf.get(end + 1) == Some(&b'\n')).then_some(DataEvent {
        payload: (start, end),
        end: end + 2,
    })
}

/// The stream formats whose text events the fast path knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// `chat.completion.chunk`: the text in `choices[0].delta.content`
    Chat,
    /// `text_completion`: the text in `choices[0].text`
    Completions,
    /// Anthropic `content_block_delta` with a `text_delta` (its events have `event:` lines)
    Anthropic,
}

impl ChunkKind {
    /// The `event:` name its text events carry.
    pub fn event_name(self) -> Option<&'static [u8]> {
        match self {
            ChunkKind::Anthropic => Some(b"content_block_delta"),
            ChunkKind::Chat | ChunkKind::Completions => None,
        }
    }
}

/// A chunk that carries text for one choice and nothing else to decide.
#[derive(Debug)]
pub struct TextChunk<'a> {
    pub choice: u64,
    pub text: Cow<'a, str>,
    /// the text's JSON string literal in the payload, quotes included
    pub span: (usize, usize),
    /// the envelope's strings that need to be known clean: (key, value)
    pub envelope: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// Keys whose string values the walker treats specially (JSON inside, payloads, structural): an
/// envelope string under one of these is left to the Python path, which knows the rules.
pub struct EnvelopeRules<'r> {
    pub structural: &'r dyn Fn(&str) -> bool,
    pub special: &'r dyn Fn(&str) -> bool,
}

/// The chunk in `payload` when it carries non-empty text for one choice (or content block) and
/// nothing else to decide. Chat: `{..envelope.., "choices": [{"index": n, "delta": {"content": "..."},
/// "logprobs": null, "finish_reason": null}]}`; completions: the same with `"text": "..."` in the
/// choice and no `delta`; the envelope only strings, numbers and nulls under identifier keys.
/// Anthropic: exactly `{"type": "content_block_delta", "index": n, "delta": {"type": "text_delta",
/// "text": "..."}}`.
pub fn text_chunk<'a>(
    payload: &'a str,
    kind: ChunkKind,
    max_int_digits: usize,
    rules: &EnvelopeRules<'_>,
) -> Option<TextChunk<'a>> {
    json_check::check(payload.as_bytes(), max_int_digits, 8).ok()?;
    let Value::Object(members) = parse(payload)? else {
        return None;
    };
    if kind == ChunkKind::Anthropic {
        return anthropic_chunk(members);
    }
    let mut envelope = Vec::new();
    let mut found: Option<(u64, Cow<'a, str>, (usize, usize))> = None;
    for (key, value) in members {
        if !is_identifier(&key) {
            return None;
        }
        match value {
            Value::Array(choices) if key == "choices" => {
                let [choice] = <[Value<'a>; 1]>::try_from(choices).ok()?;
                found = Some(text_choice(choice, kind == ChunkKind::Chat)?);
            }
            // A chunk with usage is never dropped when its text is held: the Python path decides.
            _ if key == "usage" && !matches!(value, Value::Null) => return None,
            Value::Str(s, _) => {
                if (rules.special)(&key) {
                    return None;
                }
                if !((rules.structural)(&key) && is_identifier(&s)) {
                    envelope.push((key, s));
                }
            }
            // Numbers beyond the double range: Python reads them as infinities and writes them back
            // differently; the Python path decides.
            Value::Scalar(n) if n.parse::<f64>().is_ok_and(f64::is_infinite) => return None,
            Value::Scalar(_) | Value::Null => {}
            _ => return None,
        }
    }
    let (choice, text, span) = found?;
    Some(TextChunk {
        choice,
        text,
        span,
        envelope,
    })
}

fn index_of(value: &Value<'_>) -> Option<u64> {
    match value {
        Value::Scalar(n) if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
        _ => None,
    }
}

fn anthropic_chunk<'a>(members: Vec<(Cow<'a, str>, Value<'a>)>) -> Option<TextChunk<'a>> {
    let mut index = None;
    let mut text = None;
    let mut typed = false;
    for (key, value) in members {
        match (&*key, value) {
            ("type", Value::Str(t, _)) if t == "content_block_delta" => typed = true,
            ("index", v) => index = Some(index_of(&v)?),
            ("delta", Value::Object(delta)) => {
                let mut text_delta = false;
                for (k, v) in delta {
                    match (&*k, v) {
                        ("type", Value::Str(t, _)) if t == "text_delta" => text_delta = true,
                        ("text", Value::Str(s, span)) => text = Some((s, span)),
                        _ => return None,
                    }
                }
                text_delta.then_some(())?;
            }
            _ => return None,
        }
    }
    let (text, span) = text?;
    (typed && !text.is_empty()).then_some(TextChunk {
        choice: index?,
        text,
        span,
        envelope: Vec::new(),
    })
}

fn text_choice(choice: Value<'_>, chat: bool) -> Option<(u64, Cow<'_, str>, (usize, usize))> {
    let Value::Object(members) = choice else {
        return None;
    };
    let mut index = None;
    let mut text = None;
    for (key, value) in members {
        match (&*key, value) {
            ("index", v) => index = Some(index_of(&v)?),
            ("logprobs" | "finish_reason", Value::Null) => {}
            ("delta", Value::Object(delta)) if chat => {
                let [(k, Value::Str(s, span))] = <[_; 1]>::try_from(delta).ok()? else {
                    return None;
                };
                if k != "content" {
                    return None;
                }
                text = Some((s, span));
            }
            ("text", Value::Str(s, span)) if !chat => text = Some((s, span)),
            _ => return None,
        }
    }
    let (text, span) = text?;
    (!text.is_empty()).then_some((index?, text, span))
}

/// What a window check answers (the engine's blocklist literals and PII types).
pub trait WindowCheck {
    /// Whether anything matches starting at or after `pos` (bytes).
    fn finds(&self, text: &str, pos: usize) -> bool;
    /// The hold-back offset (bytes) of `text` from `pos`.
    fn holdback(&self, text: &str, pos: usize) -> usize;
}

impl WindowCheck for crate::blocklist::Literals {
    fn finds(&self, text: &str, pos: usize) -> bool {
        !self.find(text, pos).is_empty()
    }
    fn holdback(&self, text: &str, pos: usize) -> usize {
        crate::blocklist::Literals::holdback(self, text, pos)
    }
}

impl WindowCheck for crate::pii::PiiScanner {
    fn finds(&self, text: &str, pos: usize) -> bool {
        !self.find(text, pos).is_empty()
    }
    fn holdback(&self, text: &str, pos: usize) -> usize {
        crate::pii::PiiScanner::holdback(self, text, pos)
    }
}

/// One window step with nothing found (`streaming.TextWindow._step`, not final): how much of
/// `pending` is settled and released, in bytes and characters. None when a check finds something in
/// `context + pending` after the context: the Python window decides that step.
pub fn settle(
    checks: &[&dyn WindowCheck],
    context: &str,
    pending: &str,
    max_hold_chars: usize,
) -> Option<(usize, usize)> {
    let scan = format!("{context}{pending}");
    let base = context.len();
    let mut hold = pending.len();
    for check in checks {
        hold = hold.min(check.holdback(&scan, base).max(base) - base);
        if check.finds(&scan, base) {
            return None;
        }
    }
    let mut hold_chars = pending[..hold].chars().count();
    let pending_chars = hold_chars + pending[hold..].chars().count();
    if pending_chars > max_hold_chars {
        // Forced release of the oldest text (nothing was found, so no match can be cut).
        let forced = pending_chars - max_hold_chars;
        if forced > hold_chars {
            hold = pending
                .char_indices()
                .nth(forced)
                .map_or(pending.len(), |(b, _)| b);
            hold_chars = forced;
        }
    }
    Some((hold, hold_chars))
}

/// The last `chars` characters of `text`.
pub fn tail_chars(text: &str, chars: usize) -> &str {
    &text[chars_from_end(text, chars)..]
}

/// `text` as a JSON string literal the way Python's `json.dumps(..., ensure_ascii=False)` writes it.
pub fn json_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0C}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> (impl Fn(&str) -> bool, impl Fn(&str) -> bool) {
        (
            |k: &str| k == "object" || k == "service_tier",
            |k: &str| k == "content" || k == "data",
        )
    }

    #[test]
    fn frames_only_single_data_lines() {
        let buf = b"data: {\"a\":1}\n\ndata:{}\n\nevent: x\ndata: {}\n\n";
        let e = next_data_event(buf, 0, 100, None).unwrap();
        assert_eq!((e.payload, e.end), ((6, 13), 15));
        let e2 = next_data_event(buf, 15, 100, None).unwrap();
        assert_eq!((e2.payload, e2.end), ((20, 22), 24));
        assert_eq!(next_data_event(buf, 24, 100, None), None);
        let e3 = next_data_event(buf, 24, 100, Some(b"x")).unwrap();
        assert_eq!((e3.payload, e3.end), ((39, 41), 43));
        assert_eq!(next_data_event(buf, 24, 100, Some(b"y")), None);
        assert_eq!(next_data_event(buf, 0, 100, Some(b"x")), None);
        assert_eq!(next_data_event(b"data: {}\r\n\r\n", 0, 100, None), None);
        assert_eq!(next_data_event(b"data: {}\n", 0, 100, None), None);
        assert_eq!(
            next_data_event(b"data: {}\ndata: {}\n\n", 0, 100, None),
            None
        );
    }

    #[test]
    fn recognises_text_chunks_only() {
        let (structural, special) = rules();
        let r = EnvelopeRules {
            structural: &structural,
            special: &special,
        };
        let chat = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel\nlo"},"logprobs":null,"finish_reason":null}]}"#;
        let c = text_chunk(chat, ChunkKind::Chat, 4300, &r).unwrap();
        assert_eq!((c.choice, &*c.text), (0, "Hel\nlo"));
        assert_eq!(&chat[c.span.0..c.span.1], r#""Hel\nlo""#);
        let keys: Vec<&str> = c.envelope.iter().map(|(k, _)| &**k).collect();
        assert_eq!(keys, ["id", "model"]);
        for other in [
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"x"}}]}"#,
            r#"{"usage":{"a":1},"choices":[{"index":0,"delta":{"content":"x"}}]}"#,
            r#"{"content":"x","choices":[{"index":0,"delta":{"content":"x"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"}},{"index":1,"delta":{"content":"y"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"}}],"choices":[]}"#,
            r#"{"usage":1,"choices":[{"index":0,"delta":{"content":"x"}}]}"#,
            r#"{"created":1e999,"choices":[{"index":0,"delta":{"content":"x"}}]}"#,
        ] {
            assert!(
                text_chunk(other, ChunkKind::Chat, 4300, &r).is_none(),
                "{other}"
            );
        }
        let completion =
            r#"{"choices":[{"text":"abc","index":2,"logprobs":null,"finish_reason":null}]}"#;
        assert_eq!(
            text_chunk(completion, ChunkKind::Completions, 4300, &r)
                .unwrap()
                .choice,
            2
        );
        assert!(text_chunk(completion, ChunkKind::Chat, 4300, &r).is_none());
        let anthropic =
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}"#;
        let a = text_chunk(anthropic, ChunkKind::Anthropic, 4300, &r).unwrap();
        assert_eq!((a.choice, &*a.text), (1, "Hi"));
        assert_eq!(&anthropic[a.span.0..a.span.1], "\"Hi\"");
        for other in [
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","text":"Hi"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":""}}"#,
            r#"{"type":"content_block_start","index":1,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"content_block_delta","index":1,"x":2,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"index":1,"delta":{"type":"text_delta","text":"Hi"}}"#,
        ] {
            assert!(
                text_chunk(other, ChunkKind::Anthropic, 4300, &r).is_none(),
                "{other}"
            );
        }
    }

    struct Hold(usize);
    impl WindowCheck for Hold {
        fn finds(&self, text: &str, _pos: usize) -> bool {
            text.contains('!')
        }
        fn holdback(&self, text: &str, pos: usize) -> usize {
            text.len().saturating_sub(self.0).max(pos)
        }
    }

    #[test]
    fn settles_like_the_python_window() {
        let two = Hold(2);
        assert_eq!(settle(&[&two], "ctx", "abcdef", 100), Some((4, 4)));
        assert_eq!(settle(&[&two], "ctx", "a!", 100), None);
        assert_eq!(settle(&[&two], "", "é", 100), Some((0, 0)));
        let all = Hold(100);
        assert_eq!(settle(&[&all], "", "abcdef", 4), Some((2, 2)));
        assert_eq!(settle(&[&all], "", "ééé", 1), Some((4, 2)));
        assert_eq!(tail_chars("abcé", 2), "cé");
        assert_eq!(tail_chars("ab", 5), "ab");
    }

    #[test]
    fn escapes_like_python_json() {
        let mut out = Vec::new();
        json_string("a\"b\\c\nd\u{1}é\u{2028}", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001é\u{2028}\""
        );
    }
}
