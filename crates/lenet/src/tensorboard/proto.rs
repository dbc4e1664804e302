#![allow(missing_docs)] // Each field is named and numbered as in the .proto files named below.

//! The messages of TensorBoard's event files that a run's scalars and HParams need, declared
//! for `prost`'s derive (as `crate::onnx::proto` is, and for the same reasons: no `protoc`, no
//! build script, a small part of the schemas). Field numbers, types and names are those of:
//! - `tensorboard/compat/proto/event.proto` (`Event`, `SessionLog`),
//! - `tensorboard/compat/proto/summary.proto` (`Summary`, `Summary.Value`, `SummaryMetadata`),
//! - `tensorboard/compat/proto/tensor.proto` and `tensor_shape.proto` (`TensorProto`),
//! - `tensorboard/plugins/hparams/plugin_data.proto` (`HParamsPluginData`, `SessionStartInfo`,
//!   `SessionEndInfo`) and `api.proto` (`Status`),
//! - `google/protobuf/struct.proto` (`Value`),
//!
//! of TensorBoard 2.21 (proto3: fields without presence are plain values).

use std::collections::HashMap;

/// `Event`: one record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    pub what: Option<What>,
}

/// `Event.what`: what the event holds.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// The file's format, in its first event (`brain.Event:2`).
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

/// `SessionLog`: a run (re)started, stopped or checkpointed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionLog {
    #[prost(enumeration = "SessionStatus", tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub checkpoint_path: String,
    #[prost(string, tag = "3")]
    pub msg: String,
}

/// `SessionLog.SessionStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum SessionStatus {
    Unspecified = 0,
    /// TensorBoard drops the points of every tag at or after this event's step that earlier
    /// records hold: what a run resumed from a checkpoint needs.
    Start = 1,
    Stop = 2,
    Checkpoint = 3,
}

/// `Summary`: values of one step.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `Summary.Value`: one tagged value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
    #[prost(oneof = "ValueKind", tags = "2, 8")]
    pub value: Option<ValueKind>,
}

/// `Summary.Value.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ValueKind {
    /// A scalar, shown by the Scalars tab.
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "8")]
    Tensor(TensorProto),
}

/// `SummaryMetadata`: which plugin a value is for.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

/// `SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `TensorProto`, only what an empty float tensor needs (the HParams summaries carry one).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `DataType`: 1 is `DT_FLOAT`.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
}

/// `TensorShapeProto` of a scalar: no dimensions.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {}

/// `HParamsPluginData`: the HParams plugin's summaries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParamsPluginData {
    #[prost(int32, tag = "1")]
    pub version: i32,
    #[prost(oneof = "HParamsData", tags = "3, 4")]
    pub data: Option<HParamsData>,
}

/// `HParamsPluginData.data`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum HParamsData {
    #[prost(message, tag = "3")]
    SessionStartInfo(SessionStartInfo),
    #[prost(message, tag = "4")]
    SessionEndInfo(SessionEndInfo),
}

/// `SessionStartInfo`: a run's hyperparameters.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStartInfo {
    #[prost(map = "string, message", tag = "1")]
    pub hparams: HashMap<String, Value>,
    #[prost(string, tag = "2")]
    pub model_uri: String,
    #[prost(string, tag = "3")]
    pub monitor_url: String,
    #[prost(string, tag = "4")]
    pub group_name: String,
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// `SessionEndInfo`: how a run ended.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionEndInfo {
    #[prost(enumeration = "Status", tag = "1")]
    pub status: i32,
    #[prost(double, tag = "2")]
    pub end_time_secs: f64,
}

/// `Status` of `api.proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Status {
    Unknown = 0,
    Success = 1,
    Failure = 2,
    Running = 3,
}

/// `google.protobuf.Value`, the kinds a setting takes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Value {
    #[prost(oneof = "Kind", tags = "2, 3, 4")]
    pub kind: Option<Kind>,
}

/// `google.protobuf.Value.kind`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(double, tag = "2")]
    NumberValue(f64),
    #[prost(string, tag = "3")]
    StringValue(String),
    #[prost(bool, tag = "4")]
    BoolValue(bool),
}
