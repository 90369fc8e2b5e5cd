//! The CSV records of one block of a registry file, exactly as the `csv` crate reads them (RFC
//! 4180 quoting, `\n`, `\r\n` and `\r` line ends, empty lines skipped), found without it where
//! it is not needed: a record that quotes nothing is split with memchr, and only a record that
//! holds a `"` goes through the CSV state machine (`csv_core`). Issue 14: parsing a city's
//! devices file was the largest single cost of start-up.
//!
//! A file is read in blocks cut at record boundaries ([`cut`]), so that each block can be parsed
//! on a thread of its own ([`Records`]); a record's line number is the line its first byte is
//! on, whichever block it is in.

use csv_core::ReadRecordResult;

/// The length of the longest prefix of `buf` that ends at a record boundary, when `buf` starts at
/// one: after the last line end when no field of `buf` is quoted (then every line end is a record
/// end), else where the CSV state machine last ended a record (a quoted field may hold line ends).
/// 0 when no record ends in `buf`.
pub(super) fn cut(buf: &[u8]) -> usize {
    if memchr::memchr(b'"', buf).is_none() {
        return memchr::memrchr2(b'\n', b'\r', buf).map_or(0, |i| i + 1);
    }
    let mut core = csv_core::Reader::new();
    let (mut out, mut ends) = ([0u8; 1024], [0usize; 64]);
    let (mut pos, mut last) = (0, 0);
    // An empty input would tell the state machine the file ended: stop before it.
    while let Some(input) = buf.get(pos..).filter(|rest| !rest.is_empty()) {
        let (result, nin, _, _) = core.read_record(input, &mut out, &mut ends);
        pos += nin;
        match result {
            ReadRecordResult::Record => last = pos,
            ReadRecordResult::InputEmpty | ReadRecordResult::End => break,
            // What the fields hold does not matter here: the buffers are overwritten.
            ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
        }
    }
    last
}

/// A field's place in its record's text, as byte offsets.
pub(super) type Span = (usize, usize);

/// A record that could not be read: its line and what is wrong.
pub(super) type Bad = (u64, String);

/// The records of one block (see the module doc).
pub(super) struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The line of `buf[pos]`.
    line: u64,
    core: csv_core::Reader,
    /// A quoted record's fields, unescaped.
    out: Vec<u8>,
    /// Bytes of `out` the last quoted record filled.
    nout: usize,
    ends: Vec<usize>,
    spans: Vec<Span>,
}

/// One record: its line, its text and its fields' places in the text.
pub(super) struct Record<'r> {
    /// The line the record starts on (1-based, in the whole file).
    pub(super) line: u64,
    /// The fields' text, separators left out only for a quoted record.
    pub(super) text: &'r str,
    /// Each field's place in `text`.
    pub(super) fields: &'r [Span],
}

impl<'a> Records<'a> {
    /// The records of `buf`, a block whose first byte is on line `first_line` of its file.
    pub(super) fn new(buf: &'a [u8], first_line: u64) -> Records<'a> {
        Records {
            buf,
            pos: 0,
            line: first_line,
            core: csv_core::Reader::new(),
            out: vec![0; 1024],
            nout: 0,
            ends: vec![0; 32],
            spans: Vec::with_capacity(32),
        }
    }

    /// Where the next record is looked for: its byte offset in the block and its line.
    pub(super) fn position(&self) -> (usize, u64) {
        (self.pos, self.line)
    }

    /// The next record, or the line of one that is not valid UTF-8.
    pub(super) fn next_record(&mut self) -> Option<Result<Record<'_>, Bad>> {
        // Line ends between records (empty lines, the `\n` of a `\r\n`) are skipped, as the CSV
        // state machine skips them.
        while let Some(&b) = self.buf.get(self.pos).filter(|b| matches!(b, b'\n' | b'\r')) {
            self.line += u64::from(b == b'\n');
            self.pos += 1;
        }
        let rest = self.buf.get(self.pos..).filter(|rest| !rest.is_empty())?;
        let line = self.line;
        let len = memchr::memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
        let plain = rest.get(..len).filter(|text| memchr::memchr(b'"', text).is_none());
        let fields = match plain {
            Some(text) => {
                self.pos += len;
                self.plain(text).map(Some)
            }
            None => self.quoted(rest).map(|()| None),
        };
        let text = match fields {
            Ok(Some(text)) => text,
            Ok(None) => std::str::from_utf8(self.out.get(..self.nout).unwrap_or_default()).unwrap_or_default(),
            Err(()) => return Some(Err((line, "not valid UTF-8: registry files are UTF-8 text".to_owned()))),
        };
        Some(Ok(Record { line, text, fields: &self.spans }))
    }

    /// A record without a `"`: its fields are what lies between commas.
    fn plain(&mut self, text: &'a [u8]) -> Result<&'a str, ()> {
        let text = std::str::from_utf8(text).map_err(|_| ())?;
        self.spans.clear();
        let mut start = 0;
        for comma in memchr::memchr_iter(b',', text.as_bytes()) {
            self.spans.push((start, comma));
            start = comma + 1;
        }
        self.spans.push((start, text.len()));
        Ok(text)
    }

    /// A record holding a `"`, read by the CSV state machine (it may span lines) into `out`.
    fn quoted(&mut self, rest: &[u8]) -> Result<(), ()> {
        self.core.reset();
        let (mut nin, mut nout, mut nend) = (0, 0, 0);
        loop {
            let input = rest.get(nin..).unwrap_or_default();
            let out = self.out.get_mut(nout..).unwrap_or_default();
            let ends = self.ends.get_mut(nend..).unwrap_or_default();
            let (result, i, o, e) = self.core.read_record(input, out, ends);
            (nin, nout, nend) = (nin + i, nout + o, nend + e);
            match result {
                // The block ends inside the record only at the end of the file: an empty input
                // tells the state machine so, and it ends the record.
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record | ReadRecordResult::End => break,
            }
        }
        let consumed = rest.get(..nin).unwrap_or_default();
        self.line += memchr::memchr_iter(b'\n', consumed).count() as u64;
        self.pos += nin;
        std::str::from_utf8(self.out.get(..nout).unwrap_or_default()).map_err(|_| ())?;
        self.nout = nout;
        self.spans.clear();
        let mut start = 0;
        for &end in self.ends.get(..nend).unwrap_or_default() {
            self.spans.push((start, end));
            start = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every record of `text` read in one block: (line, fields).
    fn ours(text: &[u8]) -> Vec<(u64, Vec<String>)> {
        let mut records = Records::new(text, 1);
        let mut all = Vec::new();
        while let Some(r) = records.next_record() {
            let r = r.expect("valid UTF-8");
            all.push((r.line, r.fields.iter().map(|&(s, e)| r.text[s..e].to_owned()).collect()));
        }
        all
    }

    /// Every record of `text` as the `csv` crate reads it (fields only: its positions are those
    /// of the previous record's end).
    fn theirs(text: &[u8]) -> Vec<Vec<String>> {
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text);
        rdr.records().map(|r| r.expect("valid").iter().map(str::to_owned).collect()).collect()
    }

    /// The records of `text` read block by block, cut where [`cut`] says, `step` bytes at a time.
    fn in_blocks(text: &[u8], step: usize) -> Vec<(u64, Vec<String>)> {
        let (mut all, mut start, mut line) = (Vec::new(), 0, 1);
        while start < text.len() {
            let mut end = (start + step).min(text.len());
            let len = loop {
                let n = if end == text.len() { end - start } else { cut(&text[start..end]) };
                if n > 0 {
                    break n;
                }
                end = (end + step).min(text.len());
            };
            let block = &text[start..start + len];
            all.extend(ours(block).into_iter().map(|(l, f)| (l + line - 1, f)));
            line += memchr::memchr_iter(b'\n', block).count() as u64;
            start += len;
        }
        all
    }

    #[test]
    fn records_split_at_commas_and_quoted_fields_keep_their_commas_quotes_and_line_ends() {
        let text = b"sd-1,a,b\n\nsd-2,\"x, \"\"y\"\"\nz\",c\r\nsd-3,,\rsd-4,\"\"\n  \nsd-5";
        let records = ours(text);
        let fields: Vec<_> = records.iter().map(|(_, f)| f.clone()).collect();
        assert_eq!(fields, theirs(text));
        let lines: Vec<_> = records.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![1, 3, 5, 5, 6, 7], "the line each record starts on");
        assert_eq!(fields[1], vec!["sd-2", "x, \"y\"\nz", "c"]);
    }

    #[test]
    fn a_block_is_cut_after_the_last_record_that_ends_in_it_and_never_inside_quotes() {
        assert_eq!(cut(b"a,b\nc,d\ne,"), 8);
        assert_eq!(cut(b"a,b\r\nc"), 5);
        assert_eq!(cut(b"no line end"), 0);
        assert_eq!(cut(b"a,\"b\nc\nd\",e\nf,\"g\nh"), 12, "the line ends inside quotes are not record ends");
        assert_eq!(cut(b"\"open\nquote"), 0);
        assert_eq!(cut(b"a,b\nx\"y\nz"), 8, "a quote inside an unquoted field is text");
    }

    #[test]
    fn a_record_that_is_not_utf8_is_named_by_its_line() {
        let mut records = Records::new(b"a\nb\xff,c\n", 1);
        assert!(records.next_record().is_some_and(|r| r.is_ok()));
        let bad = records.next_record().and_then(|r| r.err()).map(|(line, _)| line);
        assert_eq!(bad, Some(2));
    }

    fn csv_text() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"a".to_vec()),
            Just(b"bc".to_vec()),
            Just(b",".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"\"\"".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(" 渝".as_bytes().to_vec()),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn any_text_cut_into_any_blocks_reads_as_the_csv_crate_reads_it_whole(text in csv_text(), step in 1usize..40) {
            let whole = ours(&text);
            prop_assert_eq!(whole.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(), theirs(&text));
            prop_assert_eq!(in_blocks(&text, step), whole);
        }
    }
}
