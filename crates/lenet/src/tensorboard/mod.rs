//! TensorBoard's event files: a run's curves and settings as `tensorboard --logdir` reads them.
//!
//! An event file (`events.out.tfevents.<seconds>.<nanoseconds>.<host>.<pid>.lenet`) is a
//! sequence of records, each an [`proto::Event`] framed as TensorFlow's TFRecord: its length
//! (u64, little-endian), the masked CRC-32C of those 8 bytes, the event, the masked CRC-32C of
//! the event. The
//! framing is written here ([`record`]): it is a dozen lines, and the crates that write event
//! files (tensorboard-rs and its forks) are unmaintained and bring their own protobuf runtime;
//! `prost` (already in the build for ONNX) encodes the messages and `crc32c` computes the
//! checksums.
//!
//! [`EventWriter`] appends scalars (the Scalars tab), the HParams plugin's session start and end
//! (the HParams tab: a run's settings beside its final metrics), and a restart marker for a
//! resumed run, after which TensorBoard drops the points a killed run had logged past its
//! checkpoint.

pub mod proto;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use proto::{
    Event, HParamsData, HParamsPluginData, PluginData, SessionEndInfo, SessionLog,
    SessionStartInfo, SessionStatus, Summary, SummaryMetadata, SummaryValue, TensorProto,
    TensorShapeProto, ValueKind, What,
};

/// The start of every event file's name; TensorBoard finds a run's files by it.
pub const FILE_PREFIX: &str = "events.out.tfevents.";

/// The HParams plugin's name and the tags of its two summaries.
const HPARAMS_PLUGIN: &str = "hparams";
const SESSION_START_TAG: &str = "_hparams_/session_start_info";
const SESSION_END_TAG: &str = "_hparams_/session_end_info";

/// A setting's value as the HParams tab shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum HParam {
    /// A number (sortable and filterable as such).
    Number(f64),
    /// Text (an enumeration's value, a path).
    Text(String),
    /// A switch.
    Bool(bool),
}

/// How a run ended, for the HParams tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Every epoch ran.
    Success,
    /// It stopped early on a failure or a request.
    Failure,
}

/// `bytes` framed as one TFRecord: length, masked CRC-32C of the length, data, masked CRC-32C
/// of the data.
pub fn record(bytes: &[u8]) -> Vec<u8> {
    let length = (bytes.len() as u64).to_le_bytes();
    let mut framed = Vec::with_capacity(bytes.len() + 16);
    framed.extend_from_slice(&length);
    framed.extend_from_slice(&masked_crc32c(&length).to_le_bytes());
    framed.extend_from_slice(bytes);
    framed.extend_from_slice(&masked_crc32c(bytes).to_le_bytes());
    framed
}

/// TFRecord's checksum: CRC-32C rotated right by 15 bits plus a constant (so that a CRC of data
/// holding CRCs is not trivially zero).
fn masked_crc32c(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Seconds since the Unix epoch, as TensorBoard stamps events.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Appends events to a new event file of a run folder.
#[derive(Debug)]
pub struct EventWriter {
    file: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// A new event file in `dir` (created if missing), its first record the file version.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        // TensorBoard reads a folder's files in name order: the nanoseconds after TensorFlow's
        // seconds keep a resumed run's file after the first one's within the same second.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{FILE_PREFIX}{}.{:09}.{}.{}.lenet",
            since.as_secs(),
            since.subsec_nanos(),
            hostname(),
            std::process::id()
        );
        let path = dir.join(name);
        let file = File::options().create_new(true).write(true).open(&path)?;
        let mut writer = Self {
            file: BufWriter::new(file),
            path,
        };
        writer.write(0, What::FileVersion("brain.Event:2".into()))?;
        writer.flush()?;
        Ok(writer)
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, step: i64, what: What) -> std::io::Result<()> {
        let event = Event {
            wall_time: now(),
            step,
            what: Some(what),
        };
        self.file.write_all(&record(&event.encode_to_vec()))
    }

    /// Scalars at `step`, one event for all of them.
    pub fn scalars(&mut self, step: i64, values: &[(&str, f64)]) -> std::io::Result<()> {
        let value = values
            .iter()
            .map(|&(tag, value)| SummaryValue {
                tag: tag.to_string(),
                metadata: None,
                value: Some(ValueKind::SimpleValue(value as f32)),
            })
            .collect();
        self.write(step, What::Summary(Summary { value }))
    }

    /// Marks a restart at `step`: TensorBoard discards the points at or after `step` that
    /// earlier records (of this run's other files) hold, so that a resumed run's curves have
    /// no duplicate points.
    pub fn restart_at(&mut self, step: i64) -> std::io::Result<()> {
        self.write(
            step,
            What::SessionLog(SessionLog {
                status: SessionStatus::Start as i32,
                checkpoint_path: String::new(),
                msg: String::new(),
            }),
        )
    }

    /// The HParams tab's record of the run's settings.
    pub fn session_start(&mut self, hparams: &[(String, HParam)]) -> std::io::Result<()> {
        let hparams = hparams
            .iter()
            .map(|(name, value)| {
                let kind = match value {
                    HParam::Number(n) => proto::Kind::NumberValue(*n),
                    HParam::Text(t) => proto::Kind::StringValue(t.clone()),
                    HParam::Bool(b) => proto::Kind::BoolValue(*b),
                };
                (name.clone(), proto::Value { kind: Some(kind) })
            })
            .collect();
        let start = SessionStartInfo {
            hparams,
            model_uri: String::new(),
            monitor_url: String::new(),
            group_name: String::new(),
            start_time_secs: now(),
        };
        self.hparams(SESSION_START_TAG, HParamsData::SessionStartInfo(start))
    }

    /// The HParams tab's record of how the run ended.
    pub fn session_end(&mut self, status: RunStatus) -> std::io::Result<()> {
        let status = match status {
            RunStatus::Success => proto::Status::Success,
            RunStatus::Failure => proto::Status::Failure,
        };
        let end = SessionEndInfo {
            status: status as i32,
            end_time_secs: now(),
        };
        self.hparams(SESSION_END_TAG, HParamsData::SessionEndInfo(end))
    }

    /// A summary of the HParams plugin: its data in the metadata, and the empty float tensor
    /// TensorBoard's data provider needs to list it.
    fn hparams(&mut self, tag: &str, data: HParamsData) -> std::io::Result<()> {
        let content = HParamsPluginData {
            version: 0,
            data: Some(data),
        }
        .encode_to_vec();
        let value = SummaryValue {
            tag: tag.to_string(),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: HPARAMS_PLUGIN.into(),
                    content,
                }),
            }),
            value: Some(ValueKind::Tensor(TensorProto {
                dtype: 1,
                tensor_shape: Some(TensorShapeProto {}),
                float_val: vec![0.0],
            })),
        };
        self.write(0, What::Summary(Summary { value: vec![value] }))
    }

    /// Writes what is buffered, so that a TensorBoard watching the folder sees it.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// This machine's name for the file name (as TensorFlow's writers name their files), `localhost`
/// when it cannot be read.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The events of an event file, decoded (for tests and tools; TensorBoard has its own reader).
/// A record whose length or checksum does not match ends the reading with an error.
pub fn read_events(path: &Path) -> std::io::Result<Vec<Event>> {
    let bytes = std::fs::read(path)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut events = Vec::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        if rest.len() < 12 {
            return Err(bad("a truncated record header"));
        }
        let (length, tail) = rest.split_at(8);
        let crc = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes"));
        if crc != masked_crc32c(length) {
            return Err(bad("a record length's checksum differs"));
        }
        let length = u64::from_le_bytes(length.try_into().expect("8 bytes")) as usize;
        let tail = &tail[4..];
        if tail.len() < length + 4 {
            return Err(bad("a truncated record"));
        }
        let (data, tail) = tail.split_at(length);
        let crc = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes"));
        if crc != masked_crc32c(data) {
            return Err(bad("a record's checksum differs"));
        }
        events.push(Event::decode(data).map_err(|e| bad(&e.to_string()))?);
        rest = &tail[4..];
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_framed_as_tfrecord_with_masked_crc32c() {
        // CRC-32C of "123456789" is 0xE3069283 (RFC 3720's check value); masked as TFRecord
        // masks it: rotated right by 15, plus 0xa282ead8.
        let crc: u32 = 0xe306_9283;
        assert_eq!(crc32c::crc32c(b"123456789"), crc);
        assert_eq!(
            masked_crc32c(b"123456789"),
            crc.rotate_right(15).wrapping_add(0xa282_ead8)
        );
        let framed = record(b"abc");
        assert_eq!(framed.len(), 8 + 4 + 3 + 4);
        assert_eq!(&framed[..8], &3u64.to_le_bytes());
        assert_eq!(&framed[12..15], b"abc");
    }

    #[test]
    fn a_file_reads_back_as_written_and_a_torn_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        writer
            .scalars(120, &[("loss/train", 0.25), ("error/train", 7.5)])
            .unwrap();
        writer.restart_at(60).unwrap();
        writer
            .session_start(&[("lr".into(), HParam::Number(0.5))])
            .unwrap();
        writer.session_end(RunStatus::Success).unwrap();
        writer.flush().unwrap();
        let path = writer.path().to_path_buf();
        assert!(
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(FILE_PREFIX)
        );
        let events = read_events(&path).unwrap();
        assert_eq!(events.len(), 5);
        assert_eq!(
            events[0].what,
            Some(What::FileVersion("brain.Event:2".into()))
        );
        let Some(What::Summary(summary)) = &events[1].what else {
            panic!("{:?}", events[1]);
        };
        assert_eq!(events[1].step, 120);
        assert_eq!(summary.value[1].tag, "error/train");
        assert_eq!(summary.value[1].value, Some(ValueKind::SimpleValue(7.5)));
        assert!(matches!(&events[2].what, Some(What::SessionLog(log)) if log.status == 1));
        let Some(What::Summary(start)) = &events[3].what else {
            panic!("{:?}", events[3]);
        };
        let metadata = start.value[0].metadata.as_ref().unwrap();
        let plugin = metadata.plugin_data.as_ref().unwrap();
        assert_eq!(plugin.plugin_name, "hparams");
        let data = HParamsPluginData::decode(plugin.content.as_slice()).unwrap();
        let Some(HParamsData::SessionStartInfo(info)) = data.data else {
            panic!("{data:?}");
        };
        assert_eq!(info.hparams["lr"].kind, Some(proto::Kind::NumberValue(0.5)));

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read_events(&path).is_err());
    }
}
