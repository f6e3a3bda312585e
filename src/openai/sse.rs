//! An incremental Server-Sent Events parser (the WHATWG event-stream format), fed the
//! body's bytes as they arrive in whatever pieces the network cuts them into.
//!
//! It never panics and never allocates without bound on its own: a line longer than
//! [`MAX_LINE`] is an error, so a server that streams garbage without newlines cannot
//! exhaust memory.

use std::borrow::Cow;

/// The longest line accepted (a chunk of JSON is far shorter).
pub const MAX_LINE: usize = 16 << 20;

/// One dispatched event, or a comment line (servers put timings in comments). Its text
/// borrows from the piece of the stream being parsed when it lies whole in that piece,
/// which is the usual case: the client parses every chunk without a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem<'a> {
    /// An event's `data` (its `data:` lines joined by `\n`) and its `event` type, if any.
    Event {
        event: Option<String>,
        data: Cow<'a, str>,
    },
    /// A comment line, without its leading `:` (and one optional space).
    Comment(Cow<'a, str>),
}

impl SseItem<'_> {
    /// The item with its text copied out of the stream.
    pub fn into_owned(self) -> SseItem<'static> {
        match self {
            SseItem::Event { event, data } => SseItem::Event {
                event,
                data: Cow::Owned(data.into_owned()),
            },
            SseItem::Comment(c) => SseItem::Comment(Cow::Owned(c.into_owned())),
        }
    }
}

/// Why a byte stream is not a well-formed event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an SSE line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("an SSE line is not UTF-8")]
    NotUtf8,
    #[error("an SSE event is longer than {MAX_LINE} bytes")]
    EventTooLong,
}

/// The parser's state between pieces of the stream.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous piece ended in `\r`: a `\n` starting the next piece belongs to it.
    after_cr: bool,
    /// The data of an event not yet dispatched, when it did not lie whole in one piece.
    data: Option<String>,
    event: Option<String>,
}

/// The fields a line can set, as far as a benchmark reads them.
enum Field {
    Blank,
    Comment,
    Data,
    Event,
    /// `id`, `retry` and unknown fields carry nothing a benchmark needs.
    Other,
}

/// What one line is, and its value.
fn classify(line: &[u8]) -> Result<(Field, &str), SseError> {
    if line.is_empty() {
        return Ok((Field::Blank, ""));
    }
    let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
    if let Some(comment) = line.strip_prefix(':') {
        return Ok((Field::Comment, comment.strip_prefix(' ').unwrap_or(comment)));
    }
    let (field, value) = match line.split_once(':') {
        Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
        None => (line, ""),
    };
    let field = match field {
        "data" => Field::Data,
        "event" => Field::Event,
        _ => Field::Other,
    };
    Ok((field, value))
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the body; each complete item goes to `on_item`.
    pub fn push<'a>(
        &mut self,
        bytes: &'a [u8],
        on_item: &mut impl FnMut(SseItem<'a>),
    ) -> Result<(), SseError> {
        // A data line of this piece whose event is not dispatched yet, still borrowed.
        let mut pending: Option<Cow<'a, str>> = None;
        let result = self.lines(bytes, &mut pending, on_item);
        if let Some(p) = pending {
            self.data = Some(p.into_owned()); // the event goes on in the next piece
        }
        result
    }

    fn lines<'a>(
        &mut self,
        bytes: &'a [u8],
        pending: &mut Option<Cow<'a, str>>,
        on_item: &mut impl FnMut(SseItem<'a>),
    ) -> Result<(), SseError> {
        let mut rest = bytes;
        // An empty piece says nothing about the byte after a `\r`: keep waiting for it.
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            let (piece, after) = rest.split_at(i);
            if self.line.is_empty() {
                // The whole line is in this piece (the usual case): no copy.
                let (field, value) = classify(piece)?;
                self.field(field, Cow::Borrowed(value), pending, on_item)?;
            } else {
                self.extend_line(piece)?;
                let line = std::mem::take(&mut self.line);
                let done = classify(&line).and_then(|(field, value)| {
                    self.field(field, Cow::Owned(value.to_owned()), pending, on_item)
                });
                self.line = line; // keep the buffer's capacity for the next split line
                self.line.clear();
                done?;
            }
            rest = &after[1..];
            if after[0] == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.extend_line(rest)
    }

    /// True when the stream stopped inside an event or a line: bytes were received that
    /// never became an item.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.data.is_some() || self.event.is_some()
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > MAX_LINE {
            return Err(SseError::LineTooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn field<'a>(
        &mut self,
        field: Field,
        value: Cow<'a, str>,
        pending: &mut Option<Cow<'a, str>>,
        on_item: &mut impl FnMut(SseItem<'a>),
    ) -> Result<(), SseError> {
        match field {
            Field::Blank => {
                // A blank line dispatches the event; an event without data is dropped,
                // as the specification says.
                let event = self.event.take();
                if let Some(data) = pending.take().or_else(|| self.data.take().map(Cow::Owned)) {
                    on_item(SseItem::Event { event, data });
                }
            }
            Field::Comment => on_item(SseItem::Comment(value)),
            Field::Data => match (pending.take(), &mut self.data) {
                (None, None) => *pending = Some(value),
                // A second data line: the event's data is joined, so it is copied.
                (first, data) => {
                    let d =
                        data.get_or_insert_with(|| first.map(Cow::into_owned).unwrap_or_default());
                    if d.len() + value.len() >= MAX_LINE {
                        return Err(SseError::EventTooLong);
                    }
                    d.push('\n');
                    d.push_str(&value);
                }
            },
            Field::Event => self.event = Some(value.into_owned()),
            Field::Other => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn parse_all(pieces: &[&[u8]]) -> Result<Vec<SseItem<'static>>, SseError> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for piece in pieces {
            p.push(piece, &mut |item| out.push(item.into_owned()))?;
        }
        Ok(out)
    }

    fn data(s: &str) -> SseItem<'static> {
        SseItem::Event {
            event: None,
            data: Cow::Owned(s.to_owned()),
        }
    }

    #[test]
    fn an_empty_piece_after_a_cr_keeps_the_crlf_whole() {
        // Found by fuzzing (tests/integration/fuzz.rs): the empty piece used to forget
        // the `\r`, so the `\n` after it read as a blank line and dispatched an event.
        let whole = parse_all(&[b"data: x\r\nda"]).unwrap();
        let split = parse_all(&[b"data: x\r", b"", b"\nda"]).unwrap();
        assert_eq!(whole, split);
        assert!(split.is_empty(), "{split:?}");
    }

    #[test]
    fn events_comments_and_multiline_data() {
        let text = b": queue_ms=1.5\n\ndata: {\"a\":1}\n\nevent: error\ndata: x\ndata: y\n\ndata:[DONE]\n\n";
        let items = parse_all(&[text]).unwrap();
        assert_eq!(
            items,
            vec![
                SseItem::Comment("queue_ms=1.5".into()),
                data("{\"a\":1}"),
                SseItem::Event {
                    event: Some("error".into()),
                    data: "x\ny".into()
                },
                data("[DONE]"),
            ]
        );
    }

    #[test]
    fn an_item_whole_in_one_piece_is_not_copied() {
        let mut p = SseParser::new();
        let mut borrowed = Vec::new();
        let mut on = |i: SseItem<'_>| {
            borrowed.push(matches!(
                i,
                SseItem::Event {
                    data: Cow::Borrowed(_),
                    ..
                } | SseItem::Comment(Cow::Borrowed(_))
            ))
        };
        p.push(b"data: {\"a\":1}\n\n: c\ndata: x\n", &mut on)
            .unwrap();
        // The last event's blank line comes in the next piece: its data was kept.
        p.push(b"\n", &mut on).unwrap();
        assert_eq!(borrowed, [true, true, false]);
    }

    #[test]
    fn crlf_and_cr_line_endings_split_anywhere() {
        let items = parse_all(&[b"data: a\r", b"\n\r", b"\ndata: b\r\r"]).unwrap();
        assert_eq!(items, vec![data("a"), data("b")]);
    }

    #[test]
    fn a_cut_stream_leaves_a_partial_event() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.push(b"data: {\"choices\":[{\"del", &mut |i| {
            out.push(i.into_owned())
        })
        .unwrap();
        assert!(out.is_empty());
        assert!(p.has_partial());
        p.push(b"ta\":1}]}\n\n", &mut |i| out.push(i.into_owned()))
            .unwrap();
        assert!(!p.has_partial());
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        assert_eq!(parse_all(&[b"data: \xff\xfe\n\n"]), Err(SseError::NotUtf8));
    }

    /// Property: however a valid stream is cut into pieces, the items are the same as
    /// when it arrives whole.
    #[test]
    fn splitting_never_changes_the_items() {
        let mut rng = StdRng::seed_from_u64(7);
        for case in 0..300 {
            let mut text = Vec::new();
            let mut expected = Vec::new();
            for i in 0..rng.random_range(0..12) {
                let nl: &[u8] = [b"\n".as_slice(), b"\r\n", b"\r"][rng.random_range(0..3)];
                if rng.random_bool(0.2) {
                    let c = format!("c{case}-{i}");
                    text.extend_from_slice(format!(":{c}").as_bytes());
                    text.extend_from_slice(nl);
                    expected.push(SseItem::Comment(c.into()));
                } else {
                    let d = format!("{{\"i\":{i},\"s\":\"é ü\"}}");
                    text.extend_from_slice(format!("data: {d}").as_bytes());
                    text.extend_from_slice(nl);
                    text.extend_from_slice(nl);
                    expected.push(data(&d));
                }
            }
            let mut pieces = Vec::new();
            let mut rest = text.as_slice();
            while !rest.is_empty() {
                let n = rng.random_range(1..=rest.len().min(9));
                pieces.push(&rest[..n]);
                rest = &rest[n..];
            }
            assert_eq!(parse_all(&pieces).unwrap(), expected, "case {case}");
        }
    }

    /// The specification's parser, written the slow and obvious way for the property
    /// below: the whole stream split into lines (CRLF, CR or LF; an unterminated last line
    /// is dropped), each line a field, a blank line dispatching the event.
    fn reference(bytes: &[u8]) -> Result<Vec<SseItem<'static>>, SseError> {
        let mut lines = Vec::new();
        let (mut start, mut i) = (0, 0);
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    lines.push(&bytes[start..i]);
                    start = i + 1;
                }
                b'\r' => {
                    lines.push(&bytes[start..i]);
                    if bytes.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        let (mut items, mut data, mut event) = (Vec::new(), None::<String>, None);
        for line in lines {
            let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
            if line.is_empty() {
                let event = event.take();
                if let Some(d) = data.take() {
                    items.push(SseItem::Event {
                        event,
                        data: d.into(),
                    });
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
            match field {
                "" => items.push(SseItem::Comment(value.into())),
                "data" => match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(&value);
                    }
                    None => data = Some(value),
                },
                "event" => event = Some(value),
                _ => {}
            }
        }
        Ok(items)
    }

    /// Property: arbitrary bytes, whole, cut once at random or fed one byte at a time,
    /// give exactly the items (or the error) of the reference parser above, and never a
    /// panic. An event whose data held a `\n` from a split line, an event dispatched
    /// early or late, or a line end lost between pieces would differ.
    #[test]
    fn random_bytes_in_any_pieces_parse_as_the_reference_does() {
        let mut rng = StdRng::seed_from_u64(11);
        // Pieces of field names, values and line ends, in any order.
        let tokens: [&[u8]; 14] = [
            b"data",
            b"data:",
            b"data: ",
            b"event: ",
            b":",
            b" ",
            b"id: 7",
            b"x",
            b"{\"a\":1}",
            b"[DONE]",
            b"\r",
            b"\n",
            b"\r\n",
            b"\n\n",
        ];
        let (mut events, mut errors) = (0, 0);
        for case in 0..2000 {
            let len = rng.random_range(0..60);
            let mut bytes: Vec<u8> = (0..len)
                .flat_map(|_| tokens[rng.random_range(0..tokens.len())].iter().copied())
                .collect();
            // Now and then a byte that is never UTF-8, somewhere.
            if rng.random_bool(0.2) {
                bytes.insert(rng.random_range(0..=bytes.len()), 0xff);
            }
            let want = reference(&bytes);
            let cut = rng.random_range(0..=bytes.len());
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            for (how, pieces) in [
                ("whole", vec![bytes.as_slice()]),
                ("cut", vec![&bytes[..cut], &bytes[cut..]]),
                ("byte by byte", bytewise),
            ] {
                assert_eq!(
                    parse_all(&pieces),
                    want,
                    "case {case}, {how}: {:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            match want {
                Ok(items) => {
                    events += items
                        .iter()
                        .filter(|i| matches!(i, SseItem::Event { .. }))
                        .count()
                }
                Err(_) => errors += 1,
            }
        }
        // The alphabet makes both outcomes common: the property was not checked on
        // empty streams alone.
        assert!(
            events > 1000 && errors > 100,
            "{events} events, {errors} errors"
        );
    }
}
