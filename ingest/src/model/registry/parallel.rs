//! A registry file parsed on several threads and handed over in file order (issue 14: a city's
//! devices file, 150 MB, was parsed and checked on one core). One thread reads the file in blocks
//! cut at record boundaries ([`records::cut`]), workers parse and check the blocks' rows, and the
//! calling thread takes each block's rows in file order. So the result, and the error reported
//! (the first by line: a bad row found by a worker is reported only once every earlier row has
//! been taken without error), are those of one pass in order.
//!
//! A fixed number of blocks circulate (read → parsed → taken → read again), so memory stays a few
//! megabytes whatever the file's size and a slow taker holds the readers back.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use super::records::{self, Records};
use super::RegistryError;

/// Bytes read into a block before it is cut at its last record end.
#[cfg(not(test))]
const BLOCK_BYTES: usize = 1 << 20;
/// Small blocks in tests, so that a file of a few thousand rows spans dozens of them.
#[cfg(test)]
const BLOCK_BYTES: usize = 4096;

/// Threads that parse blocks: one fewer than the machine's cores (the calling thread takes the
/// rows), at least one, at most 7.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).clamp(1, 7)
}

/// Where a file's rows start, found from its header.
pub(super) struct Start {
    /// Byte offset of the first row.
    pub(super) byte: u64,
    /// Line of that byte.
    pub(super) line: u64,
    /// Fields in the header (a row must have at least as many).
    pub(super) fields: usize,
}

/// Reads the header (the first record) of `file`: its fields, and where the rows start.
pub(super) fn header(file: &Path) -> Result<(Vec<String>, Start), RegistryError> {
    let io = |source| RegistryError::Io { file: file.to_owned(), source };
    let mut f = std::fs::File::open(file).map_err(io)?;
    let mut buf = Vec::new();
    loop {
        let n = fill(&mut f, &mut buf).map_err(io)?;
        if n == 0 || records::cut(&buf) > 0 {
            break;
        }
    }
    let mut records = Records::new(&buf, 1);
    let names = match records.next_record() {
        None => Vec::new(),
        Some(Err((line, message))) => return Err(row_err(file, line, format!("cannot read the header: {message}"))),
        Some(Ok(r)) => r.fields.iter().map(|&(s, e)| r.text.get(s..e).unwrap_or("").to_owned()).collect(),
    };
    let fields = names.len();
    let (byte, line) = records.position();
    Ok((names, Start { byte: byte as u64, line, fields }))
}

/// A block on its way round: read, parsed into `rows` (with `text` for what they keep), taken.
struct Block<T> {
    seq: u64,
    /// The last block of the file.
    last: bool,
    first_line: u64,
    raw: Vec<u8>,
    text: String,
    rows: Vec<(u64, T)>,
    /// What stopped the reading or parsing, after `rows`.
    error: Option<RegistryError>,
}

impl<T> Block<T> {
    fn empty() -> Block<T> {
        Block {
            seq: 0,
            last: false,
            first_line: 1,
            raw: Vec::new(),
            text: String::new(),
            rows: Vec::new(),
            error: None,
        }
    }
}

/// How one row of a file is turned into a value: `parse` on a worker, with its record's fields and
/// a text buffer the value may keep its strings in; then `take` on the calling thread, in file
/// order, with the same buffer and the row's line.
pub(super) struct Rows<'f, P, E> {
    pub(super) file: &'f Path,
    pub(super) start: Start,
    pub(super) parse: P,
    pub(super) take: E,
}

impl<'f, T, P, E> Rows<'f, P, E>
where
    T: Send,
    P: Fn(&Record<'_>, &mut String) -> Result<T, String> + Sync,
    E: FnMut(&str, u64, T) -> Result<(), String>,
{
    /// Reads, parses and takes every row; the first error by line stops it.
    pub(super) fn run(mut self) -> Result<(), RegistryError> {
        let (file, start, parse) = (self.file, &self.start, &self.parse);
        let f = std::fs::File::open(file).map_err(|source| RegistryError::Io { file: file.to_owned(), source })?;
        let workers = workers();
        let (free_tx, free_rx) = channel::<Block<T>>();
        let (work_tx, work_rx) = channel::<Block<T>>();
        let (done_tx, done_rx) = channel::<Block<T>>();
        for _ in 0..2 * workers + 2 {
            let _ = free_tx.send(Block::empty());
        }
        let work_rx = Mutex::new(work_rx);
        let no_thread = |source| RegistryError::Io { file: file.to_owned(), source };
        std::thread::scope(|scope| {
            let named = |name: &str| std::thread::Builder::new().name(name.to_owned());
            named("registry-read")
                .spawn_scoped(scope, move || read(f, file, start, &free_rx, &work_tx))
                .map_err(no_thread)?;
            let (mut started, mut failed) = (0, None);
            for _ in 0..workers {
                let (work_rx, done_tx) = (&work_rx, done_tx.clone());
                let worker = move || parse_blocks(file, start.fields, parse, work_rx, &done_tx);
                match named("registry-parse").spawn_scoped(scope, worker) {
                    Ok(_) => started += 1,
                    Err(e) => failed = Some(e),
                }
            }
            // Without a worker nothing would be parsed (with fewer, the load is only slower).
            if let (0, Some(e)) = (started, failed) {
                return Err(no_thread(e));
            }
            drop(done_tx);
            // Returning drops `done_rx` and `free_tx`: the workers' and the reader's next hand-over
            // fails and they stop.
            take_in_order(file, done_rx, free_tx, &mut self.take)
        })
    }
}

/// The reading thread: blocks cut at record ends, numbered in file order; the last is marked.
fn read<T>(mut f: std::fs::File, file: &Path, start: &Start, free: &Receiver<Block<T>>, work: &Sender<Block<T>>) {
    use std::io::{Seek, SeekFrom};
    let (mut carry, mut line, mut seq) = (Vec::new(), start.line, 0);
    let mut failed = f.seek(SeekFrom::Start(start.byte)).err();
    while let Ok(mut block) = free.recv() {
        block.raw.clear();
        block.raw.append(&mut carry);
        let mut last = true;
        if let Some(e) = failed.take() {
            block.error = Some(RegistryError::Io { file: file.to_owned(), source: e });
        }
        while block.error.is_none() {
            match fill(&mut f, &mut block.raw) {
                Err(source) => block.error = Some(RegistryError::Io { file: file.to_owned(), source }),
                Ok(0) => break, // the end of the file: the rest is the last block
                Ok(_) if block.raw.len() < BLOCK_BYTES => {}
                Ok(_) => {
                    // Cut after the last record that ends in the block; none yet: read on.
                    let cut = records::cut(&block.raw);
                    if cut > 0 {
                        carry.extend_from_slice(block.raw.get(cut..).unwrap_or_default());
                        block.raw.truncate(cut);
                        last = false;
                        break;
                    }
                }
            }
        }
        (block.seq, block.last, block.first_line) = (seq, last, line);
        line += memchr::memchr_iter(b'\n', &block.raw).count() as u64;
        seq += 1;
        if work.send(block).is_err() || last {
            return;
        }
    }
}

/// Reads once more into `raw` (a block's worth at most): the bytes read, 0 at the end of the file.
fn fill(f: &mut std::fs::File, raw: &mut Vec<u8>) -> Result<usize, std::io::Error> {
    let filled = raw.len();
    raw.resize(filled + BLOCK_BYTES.saturating_sub(filled).max(BLOCK_BYTES / 4), 0);
    let read = loop {
        match f.read(raw.get_mut(filled..).unwrap_or_default()) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    raw.truncate(filled + *read.as_ref().unwrap_or(&0));
    read
}

/// A worker: parses blocks until there are none or the taker has stopped.
fn parse_blocks<T, P>(file: &Path, fields: usize, parse: &P, work: &Mutex<Receiver<Block<T>>>, done: &Sender<Block<T>>)
where
    P: Fn(&Record<'_>, &mut String) -> Result<T, String>,
{
    loop {
        let next = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(mut block) = next else { return };
        if block.error.is_none() {
            block.error = parse_block(file, fields, parse, &mut block).err();
        }
        if done.send(block).is_err() {
            return;
        }
    }
}

/// One record as a parser sees it: its fields, not yet trimmed.
pub(super) struct Record<'a> {
    text: &'a str,
    fields: &'a [records::Span],
}

impl<'a> Record<'a> {
    /// Field `i` (empty when the record has fewer).
    pub(super) fn field(&self, i: usize) -> &'a str {
        self.fields.get(i).and_then(|&(s, e)| self.text.get(s..e)).unwrap_or("")
    }

    /// Number of fields.
    pub(super) fn len(&self) -> usize {
        self.fields.len()
    }
}

/// Parses a block's rows into `block.rows` until the first bad one, whose error it returns.
fn parse_block<T, P>(file: &Path, fields: usize, parse: &P, block: &mut Block<T>) -> Result<(), RegistryError>
where
    P: Fn(&Record<'_>, &mut String) -> Result<T, String>,
{
    let Block { raw, text, rows, first_line, .. } = block;
    text.clear();
    rows.clear();
    let mut records = Records::new(raw, *first_line);
    while let Some(next) = records.next_record() {
        let r = next.map_err(|(line, message)| row_err(file, line, message))?;
        let record = Record { text: r.text, fields: r.fields };
        if (0..record.len()).all(|i| record.field(i).trim().is_empty()) {
            continue; // blank line
        }
        if record.len() < fields {
            return Err(row_err(file, r.line, format!("{} fields, the header has {}", record.len(), fields)));
        }
        rows.push((r.line, parse(&record, text).map_err(|m| row_err(file, r.line, m))?));
    }
    Ok(())
}

/// Takes the parsed blocks' rows in file order, handing each block back to the reader.
fn take_in_order<T>(
    file: &Path,
    done: Receiver<Block<T>>,
    free: Sender<Block<T>>,
    take: &mut impl FnMut(&str, u64, T) -> Result<(), String>,
) -> Result<(), RegistryError> {
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    for block in done {
        waiting.insert(block.seq, block);
        while let Some(mut block) = waiting.remove(&next) {
            for (line, row) in block.rows.drain(..) {
                take(&block.text, line, row).map_err(|m| row_err(file, line, m))?;
            }
            if let Some(e) = block.error.take() {
                return Err(e);
            }
            if block.last {
                return Ok(());
            }
            next += 1;
            let _ = free.send(block);
        }
    }
    Err(RegistryError::Io { file: file.to_owned(), source: std::io::Error::other("the reading stopped early") })
}

pub(super) fn row_err(file: &Path, line: u64, message: String) -> RegistryError {
    RegistryError::Row { file: file.to_owned(), line, message }
}
