//! The disk spool (DESIGN §8): batches the store cannot take right now are appended here, and
//! their MQTT messages are acknowledged only once the append is on disk. The spool is replayed
//! into the store, oldest first, when the store is back — also after a restart.
//!
//! Layout: `{dir}/seg-{id:016}.log` segments, append-only. A record is
//! `[len: u32 LE][crc32: u32 LE][body: len bytes]` where the CRC covers the body. With
//! `fsync` on, every append is followed by `fdatasync` before it returns, so a returned append
//! survives a power cut; with it off it survives a process crash (the page cache) but not a
//! power cut. A segment is deleted once every record in it has been replayed.
//!
//! Recovery at open scans each segment record by record (never the whole file in memory) and
//! truncates at the first torn or corrupt record: a torn tail is an append that never
//! returned, so its messages were never acknowledged and the broker redelivers them.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::config::SpoolSettings;

const HEADER: u64 = 8;
/// Largest record accepted (a batch body); a larger length in a header means corruption.
pub(crate) const MAX_RECORD_BYTES: u32 = 256 << 20;

/// Why an append, a replay or recovery failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool is at its size cap: the caller must stop acknowledging (backpressure).
    #[error("the spool is full ({bytes} of {max} bytes)")]
    Full {
        /// Bytes the spool holds on disk.
        bytes: u64,
        /// `spool.max_bytes`.
        max: u64,
    },
    /// A file operation failed.
    #[error("spool {}: {source}", path.display())]
    Io {
        /// The segment file or the spool directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.to_owned(), source }
}

/// What recovery found at open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segments found.
    pub segments: usize,
    /// Intact records waiting for replay.
    pub records: u64,
    /// Bytes cut from torn or corrupt tails.
    pub truncated_bytes: u64,
    /// Segments that had a torn or corrupt tail.
    pub damaged_segments: usize,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    path: PathBuf,
    len: u64,
}

#[derive(Debug)]
struct Cursor {
    id: u64,
    offset: u64,
    reader: BufReader<File>,
}

/// The spool. Not thread-safe by itself; the writer owns it behind a mutex.
#[derive(Debug)]
pub struct Spool {
    settings: SpoolSettings,
    segments: VecDeque<Segment>,
    head: Option<File>,
    cursor: Option<Cursor>,
    peeked: Option<u64>,
    bytes: u64,
    unread_records: u64,
}

impl Spool {
    /// Opens (creating the directory) and recovers the segments.
    pub fn open(settings: SpoolSettings) -> Result<(Spool, Recovery), SpoolError> {
        fs::create_dir_all(&settings.dir).map_err(io_err(&settings.dir))?;
        let mut ids = Vec::new();
        for entry in fs::read_dir(&settings.dir).map_err(io_err(&settings.dir))? {
            let entry = entry.map_err(io_err(&settings.dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) =
                name.strip_prefix("seg-").and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut rec = Recovery { segments: ids.len(), ..Recovery::default() };
        let mut segments = VecDeque::new();
        let mut bytes = 0;
        for id in ids {
            let path = segment_path(&settings.dir, id);
            let (records, valid_len, file_len) = scan(&path)?;
            if valid_len < file_len {
                rec.truncated_bytes += file_len - valid_len;
                rec.damaged_segments += 1;
                let f = OpenOptions::new().write(true).open(&path).map_err(io_err(&path))?;
                f.set_len(valid_len).map_err(io_err(&path))?;
                f.sync_all().map_err(io_err(&path))?;
            }
            if records == 0 {
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            rec.records += records;
            bytes += valid_len;
            segments.push_back(Segment { id, path, len: valid_len });
        }
        let spool =
            Spool { settings, segments, head: None, cursor: None, peeked: None, bytes, unread_records: rec.records };
        Ok((spool, rec))
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Segment files on disk.
    pub(crate) fn segments(&self) -> usize {
        self.segments.len()
    }

    /// True when nothing waits for replay.
    pub(crate) fn is_empty(&self) -> bool {
        self.unread_records == 0
    }

    /// Appends one record; returns once it is written (and synced, with `fsync`).
    pub(crate) fn append(&mut self, body: &[u8]) -> Result<(), SpoolError> {
        let len = u32::try_from(body.len()).ok().filter(|l| *l <= MAX_RECORD_BYTES).ok_or_else(|| SpoolError::Io {
            path: self.settings.dir.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "record larger than 256 MiB"),
        })?;
        let size = HEADER + u64::from(len);
        if self.bytes + size > self.settings.max_bytes {
            return Err(SpoolError::Full { bytes: self.bytes, max: self.settings.max_bytes });
        }
        let roll = match self.segments.back() {
            None => true,
            Some(s) => self.head.is_none() || s.len + size > self.settings.segment_bytes,
        };
        if roll {
            self.roll()?;
        }
        let seg = self.segments.back_mut().ok_or_else(|| SpoolError::Io {
            path: self.settings.dir.clone(),
            source: io::Error::other("no head segment after roll"),
        })?;
        let head = self.head.as_mut().ok_or_else(|| SpoolError::Io {
            path: seg.path.clone(),
            source: io::Error::other("head segment not open"),
        })?;
        let mut buf = Vec::with_capacity(size as usize);
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        buf.extend_from_slice(body);
        let result = head.write_all(&buf).and_then(|()| if self.settings.fsync { head.sync_data() } else { Ok(()) });
        if let Err(source) = result {
            // Leave no half record behind: cut back to the last good length.
            let _ = head.set_len(seg.len);
            return Err(SpoolError::Io { path: seg.path.clone(), source });
        }
        seg.len += size;
        self.bytes += size;
        self.unread_records += 1;
        Ok(())
    }

    fn roll(&mut self) -> Result<(), SpoolError> {
        let id = self.segments.back().map_or(1, |s| s.id + 1);
        let path = segment_path(&self.settings.dir, id);
        let f = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
        if self.settings.fsync {
            // Make the new file's directory entry durable too.
            File::open(&self.settings.dir).and_then(|d| d.sync_all()).map_err(io_err(&self.settings.dir))?;
        }
        self.head = Some(f);
        self.segments.push_back(Segment { id, path, len: 0 });
        Ok(())
    }

    /// The oldest record not yet replayed, read from disk (one record in memory at a time).
    /// Call [`Spool::commit`] once it is in the store; until then `peek` returns it again.
    pub(crate) fn peek(&mut self) -> Result<Option<Vec<u8>>, SpoolError> {
        loop {
            if self.unread_records == 0 {
                return Ok(None);
            }
            if self.cursor.is_none() {
                let Some(first) = self.segments.front() else { return Ok(None) };
                let f = File::open(&first.path).map_err(io_err(&first.path))?;
                self.cursor = Some(Cursor { id: first.id, offset: 0, reader: BufReader::with_capacity(1 << 16, f) });
            }
            let Some(cur) = self.cursor.as_mut() else { return Ok(None) };
            let seg_len = self.segments.iter().find(|s| s.id == cur.id).map_or(0, |s| s.len);
            if cur.offset >= seg_len {
                // This segment is exhausted; if it is not the head, move to the next.
                let is_head = self.segments.back().is_some_and(|s| s.id == cur.id);
                if is_head {
                    return Ok(None);
                }
                self.drop_front()?;
                continue;
            }
            cur.reader
                .seek(SeekFrom::Start(cur.offset))
                .map_err(|source| SpoolError::Io { path: self.settings.dir.clone(), source })?;
            let mut header = [0u8; 8];
            let path = segment_path(&self.settings.dir, cur.id);
            cur.reader.read_exact(&mut header).map_err(io_err(&path))?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let mut body = vec![0u8; len as usize];
            cur.reader.read_exact(&mut body).map_err(io_err(&path))?;
            self.peeked = Some(HEADER + u64::from(len));
            return Ok(Some(body));
        }
    }

    /// Marks the record returned by the last [`Spool::peek`] as replayed.
    pub(crate) fn commit(&mut self) -> Result<(), SpoolError> {
        let Some(size) = self.peeked.take() else { return Ok(()) };
        if let Some(cur) = self.cursor.as_mut() {
            cur.offset += size;
        }
        self.unread_records = self.unread_records.saturating_sub(1);
        if self.unread_records == 0 {
            // Everything replayed: start over with no files at all.
            self.head = None;
            self.cursor = None;
            while !self.segments.is_empty() {
                self.drop_front()?;
            }
        }
        Ok(())
    }

    fn drop_front(&mut self) -> Result<(), SpoolError> {
        if let Some(seg) = self.segments.pop_front() {
            if self.cursor.as_ref().is_some_and(|c| c.id == seg.id) {
                self.cursor = None;
            }
            if self.segments.is_empty() {
                self.head = None;
            }
            self.bytes = self.bytes.saturating_sub(seg.len);
            match fs::remove_file(&seg.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(SpoolError::Io { path: seg.path, source }),
            }
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("seg-{id:016}.log"))
}

/// Counts the intact records of a segment: (records, length of the intact prefix, file length).
fn scan(path: &Path) -> Result<(u64, u64, u64), SpoolError> {
    let f = File::open(path).map_err(io_err(path))?;
    let file_len = f.metadata().map_err(io_err(path))?.len();
    let mut r = BufReader::with_capacity(1 << 16, f);
    let (mut records, mut offset) = (0u64, 0u64);
    let mut body = Vec::new();
    loop {
        if file_len - offset < HEADER {
            break;
        }
        let mut header = [0u8; 8];
        if r.read_exact(&mut header).is_err() {
            break;
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD_BYTES || u64::from(len) > file_len - offset - HEADER {
            break;
        }
        body.resize(len as usize, 0);
        if r.read_exact(&mut body).is_err() || crc32fast::hash(&body) != crc {
            break;
        }
        records += 1;
        offset += HEADER + u64::from(len);
    }
    Ok((records, offset, file_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> SpoolSettings {
        SpoolSettings { dir: dir.to_owned(), max_bytes: 1 << 20, segment_bytes: 100, fsync: true }
    }

    fn drain(s: &mut Spool) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(b) = s.peek().expect("peek") {
            out.push(String::from_utf8(b).expect("utf8"));
            s.commit().expect("commit");
        }
        out
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut s, rec) = Spool::open(settings(dir.path())).expect("open");
        assert_eq!(rec, Recovery::default());
        for i in 0..10 {
            s.append(format!("line {i} with some padding to roll segments").as_bytes()).expect("append");
        }
        assert!(s.segments() > 3, "small segments roll");
        assert_eq!(s.peek().expect("peek").as_deref(), Some(&b"line 0 with some padding to roll segments"[..]));
        assert_eq!(s.peek().expect("peek again").as_deref(), Some(&b"line 0 with some padding to roll segments"[..]));
        s.commit().expect("commit");
        drop(s);
        let (mut s, rec) = Spool::open(settings(dir.path())).expect("reopen");
        // The committed record's segment may still exist: replay is at least once.
        assert!(rec.records >= 9);
        let got = drain(&mut s);
        assert!(
            got.ends_with(&(1..10).map(|i| format!("line {i} with some padding to roll segments")).collect::<Vec<_>>())
        );
        assert!(s.is_empty());
        assert_eq!((s.bytes(), s.segments()), (0, 0));
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 0, "replayed segments are deleted");
        s.append(b"after").expect("append after empty");
        assert_eq!(drain(&mut s), vec!["after"]);
    }

    #[test]
    fn a_full_spool_refuses_appends_until_replay_frees_room() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut s, _) = Spool::open(SpoolSettings { max_bytes: 40, ..settings(dir.path()) }).expect("open");
        s.append(&[b'a'; 20]).expect("fits");
        assert!(matches!(s.append(&[b'b'; 20]), Err(SpoolError::Full { .. })));
        s.peek().expect("peek");
        s.commit().expect("commit");
        s.append(&[b'b'; 20]).expect("room again");
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_intact_records_are_recovered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = SpoolSettings { segment_bytes: 1 << 20, ..settings(dir.path()) };
        let (mut s, _) = Spool::open(cfg.clone()).expect("open");
        for i in 0..5 {
            s.append(format!("record {i}").as_bytes()).expect("append");
        }
        drop(s);
        let seg = segment_path(dir.path(), 1);
        let full = fs::metadata(&seg).expect("meta").len();
        // A crash in the middle of the last append.
        OpenOptions::new().write(true).open(&seg).expect("open").set_len(full - 3).expect("truncate");
        let (mut s, rec) = Spool::open(cfg).expect("recovers");
        assert_eq!((rec.records, rec.damaged_segments), (4, 1));
        assert_eq!(rec.truncated_bytes, HEADER + 8 - 3);
        assert_eq!(drain(&mut s), (0..4).map(|i| format!("record {i}")).collect::<Vec<_>>());
    }

    #[test]
    fn a_corrupt_record_stops_recovery_at_the_last_good_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = SpoolSettings { segment_bytes: 1 << 20, ..settings(dir.path()) };
        let (mut s, _) = Spool::open(cfg.clone()).expect("open");
        for i in 0..3 {
            s.append(format!("record {i}").as_bytes()).expect("append");
        }
        drop(s);
        let seg = segment_path(dir.path(), 1);
        let mut bytes = fs::read(&seg).expect("read");
        let third_body = 2 * (HEADER as usize + 8) + HEADER as usize;
        bytes[third_body] ^= 0xff;
        fs::write(&seg, &bytes).expect("write");
        let (mut s, rec) = Spool::open(cfg.clone()).expect("recovers");
        assert_eq!((rec.records, rec.damaged_segments), (2, 1));
        assert_eq!(drain(&mut s), vec!["record 0", "record 1"]);
        // Garbage lengths are not trusted either.
        fs::write(&seg, [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1, 2, 3]).expect("write");
        let (_, rec) = Spool::open(cfg).expect("recovers");
        assert_eq!(rec.records, 0);
    }
}
