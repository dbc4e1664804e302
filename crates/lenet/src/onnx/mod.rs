//! A trained model as a self-contained ONNX graph: its preprocessing (deskewing, when it was
//! trained with it) and its network, in standard operators of opset [`OPSET`], so that any ONNX
//! runtime (onnxruntime, onnxruntime-web, OpenCV's dnn, tract) gives `trainer predict`'s
//! answers from raw MNIST-form images; and such a file read back and described (`inspect`).
//!
//! - [`proto`]: the messages of `onnx.proto`, encoded and decoded by `prost`;
//! - `builder`: a graph built node by node;
//! - `network`: the deskewing and the network as operators.
//!
//! Written here rather than with burn-onnx's exporter: that exporter traces burn's tensor
//! operations (it needs burn's `capture`, `extension` and `ir` features, which every crate of
//! the build would then compile with), and the deskewing is host code on grey levels that no
//! tensor operation records.

mod builder;
mod network;
pub mod proto;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use prost::Message;

use self::builder::{Dim, GraphBuilder, float_value};
use self::proto::{ModelProto, OperatorSetIdProto, StringStringEntryProto};
use crate::error::{LenetError, Result};
use crate::eval::{ConfigSource, TrainedModel};
use crate::mnist::{IMAGE_SIZE, NUM_CLASSES};

/// The ONNX operator set the graph uses (ONNX 1.12, 2022: every current runtime reads it).
pub const OPSET: i64 = 17;
/// The ONNX IR version of opset 17.
pub const IR_VERSION: i64 = 8;
/// The graph's input.
pub const INPUT: &str = "image";
/// The graph's output.
pub const OUTPUT: &str = "outputs";
/// The name of the input's and output's first dimension, the number of images.
const BATCH: &str = "N";
/// What the input holds, as written into the model's metadata (`input`).
pub const INPUT_CONVENTION: &str = "image: float32 [N, 1, 28, 28], N any; MNIST-form images \
     (a white digit on black, centred by its centre of mass in 28x28), grey levels divided by 255 \
     (0 background, 1 ink)";
/// What the output holds, as written into the model's metadata (`output`).
pub const OUTPUT_CONVENTION: &str = "outputs: float32 [N, 10], the network's ten sigmoid outputs \
     in (0, 1), one per digit 0-9; the largest is the prediction";

/// `model` as an ONNX model: deskewing (when its configuration says so) then the network.
pub fn to_onnx(model: &TrainedModel) -> ModelProto {
    let mut b = GraphBuilder::default();
    let images = if model.config.deskew {
        network::deskew(&mut b, INPUT)
    } else {
        INPUT.to_string()
    };
    network::lenet(&mut b, &model.net, &images, OUTPUT);
    let input = float_value(
        INPUT,
        &[
            Dim::Named(BATCH),
            Dim::Fixed(1),
            Dim::Fixed(IMAGE_SIZE),
            Dim::Fixed(IMAGE_SIZE),
        ],
        INPUT_CONVENTION,
    );
    let output = float_value(
        OUTPUT,
        &[Dim::Named(BATCH), Dim::Fixed(NUM_CLASSES)],
        OUTPUT_CONVENTION,
    );
    let preprocessing = if model.config.deskew {
        "deskew: a horizontal shear by the image moments' slant μ11/μ02 about the centre of \
         mass, bilinear along the rows, rounded to grey levels (in the graph)"
    } else {
        "none"
    };
    let mut metadata = vec![
        ("input", INPUT_CONVENTION.to_string()),
        ("output", OUTPUT_CONVENTION.to_string()),
        ("preprocessing", preprocessing.to_string()),
        ("network", model.describe()),
        ("source", model.path.display().to_string()),
    ];
    // The training configuration only when the run saved it: another program's model has none
    // (its network was read from its tensors' shapes), and defaults would misstate it.
    let training_config = match &model.source {
        ConfigSource::Saved(_) => serde_json::to_string(&model.config).unwrap_or_default(),
        ConfigSource::Inferred(reason) => {
            format!("unknown ({reason}; the network was read from its tensors' shapes)")
        }
    };
    metadata.push(("training_config", training_config));
    if let Some(evaluation) = &model.evaluation {
        metadata.push(("test_error_percent", format!("{}", evaluation.test_error)));
    }
    ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("lenet-burn".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(format!(
            "The paper's improved LeNet-5 ({}), trained by lenet-burn; preprocessing: {preprocessing}.",
            model.describe()
        )),
        graph: Some(b.finish("lenet", vec![input], vec![output])),
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: Some(key.into()),
                value: Some(value),
            })
            .collect(),
        ..Default::default()
    }
}

/// Writes `model` as an ONNX file at `path`, crash-safe (the previous file stays whole until
/// the new one is complete).
pub fn export(model: &TrainedModel, path: &Path) -> Result<()> {
    crate::atomic::write_bytes_atomically(path, &encode(model)).map_err(|source| {
        LenetError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// `model` as the bytes of an ONNX file.
pub fn encode(model: &TrainedModel) -> Vec<u8> {
    to_onnx(model).encode_to_vec()
}

/// Reads an ONNX file.
pub fn read(path: &Path) -> Result<ModelProto> {
    let bytes = crate::files::read_input(path, crate::files::ONNX)?;
    let model = ModelProto::decode(bytes.as_slice()).map_err(|source| LenetError::Onnx {
        path: path.to_path_buf(),
        source,
    })?;
    if model.graph.is_none() {
        return Err(LenetError::Artifact {
            path: path.to_path_buf(),
            reason: "an ONNX model without a graph (field `graph` of ModelProto missing)".into(),
        });
    }
    Ok(model)
}

/// A model's graph in text: versions, metadata, inputs and outputs with their shapes, the
/// constant tensors, the operators used and every node in order.
pub fn describe(model: &ModelProto) -> String {
    let mut text = String::new();
    let opsets: Vec<String> = model
        .opset_import
        .iter()
        .map(|o| {
            let domain = o
                .domain
                .as_deref()
                .filter(|d| !d.is_empty())
                .unwrap_or("ai.onnx");
            format!("{domain} {}", o.version.unwrap_or_default())
        })
        .collect();
    let _ = writeln!(
        text,
        "ONNX IR version {}, opset {}, producer {} {}",
        model.ir_version.unwrap_or_default(),
        opsets.join(", "),
        model.producer_name.as_deref().unwrap_or("?"),
        model.producer_version.as_deref().unwrap_or("")
    );
    for entry in &model.metadata_props {
        let _ = writeln!(
            text,
            "  metadata {} = {}",
            entry.key.as_deref().unwrap_or(""),
            entry.value.as_deref().unwrap_or("")
        );
    }
    let Some(graph) = &model.graph else {
        return text;
    };
    let shape = |value: &proto::ValueInfoProto| -> String {
        use proto::tensor_shape_proto::dimension::Value;
        let Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(tensor)),
            ..
        }) = &value.r#type
        else {
            return "?".into();
        };
        let dims: Vec<String> = tensor
            .shape
            .iter()
            .flat_map(|s| &s.dim)
            .map(|d| match &d.value {
                Some(Value::DimValue(n)) => n.to_string(),
                Some(Value::DimParam(p)) => p.clone(),
                None => "?".into(),
            })
            .collect();
        format!(
            "{} [{}]",
            proto::DataType::name(tensor.elem_type.unwrap_or_default()),
            dims.join(", ")
        )
    };
    for (kind, values) in [("input", &graph.input), ("output", &graph.output)] {
        for value in values {
            let _ = writeln!(
                text,
                "  {kind} {}: {}",
                value.name.as_deref().unwrap_or(""),
                shape(value)
            );
        }
    }
    let _ = writeln!(text, "  {} constant tensors:", graph.initializer.len());
    for tensor in &graph.initializer {
        let _ = writeln!(
            text,
            "    {} {} {:?}",
            tensor.name.as_deref().unwrap_or(""),
            proto::DataType::name(tensor.data_type.unwrap_or_default()),
            tensor.dims
        );
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for node in &graph.node {
        *counts
            .entry(node.op_type.as_deref().unwrap_or("?"))
            .or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(op, n)| format!("{op} {n}")).collect();
    let _ = writeln!(
        text,
        "  {} nodes ({}):",
        graph.node.len(),
        counts.join(", ")
    );
    for node in &graph.node {
        let _ = writeln!(
            text,
            "    {}({}) -> {}",
            node.op_type.as_deref().unwrap_or("?"),
            node.input.join(", "),
            node.output.join(", ")
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LeNetConfig, Subsampling};
    use crate::{Backend, TrainingConfig};

    fn model(config: TrainingConfig) -> TrainedModel {
        let device = Backend::default().device().unwrap();
        let net = config.model.init_seeded(&device, 3);
        TrainedModel::new(config, net, "memory".into(), &device)
    }

    #[test]
    fn the_graph_round_trips_through_protobuf_and_describes_itself() {
        let config = TrainingConfig::default().with_deskew(true).with_model(
            LeNetConfig::new()
                .with_c1(4)
                .with_c3(7)
                .with_kernel_size(3)
                .with_subsampling(Subsampling::Paper),
        );
        let onnx = to_onnx(&model(config));
        let decoded = ModelProto::decode(onnx.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, onnx);
        let text = describe(&decoded);
        for needle in [
            "opset ai.onnx 17",
            "input image: float [N, 1, 28, 28]",
            "output outputs: float [N, 10]",
            "c1.weight float [4, 1, 3, 3]",
            "s2.bias float [1, 4, 1, 1]",
            "fc.weight float [175, 10]",
            "Conv 2",
            "GatherElements 2",
            "metadata preprocessing = deskew",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        // Without deskewing the graph starts at the network, and has no subsampling biases with
        // mean subsampling.
        let plain = describe(&to_onnx(&model(TrainingConfig::default())));
        assert!(plain.contains("Conv(image, c1.weight, c1.bias)"), "{plain}");
        assert!(
            !plain.contains("GatherElements") && !plain.contains("s2.bias"),
            "{plain}"
        );
        assert!(plain.contains("metadata preprocessing = none"), "{plain}");
    }

    #[test]
    fn files_that_are_not_onnx_models_are_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("weights.onnx");
        std::fs::write(&garbage, b"\xff\xff\xff not protobuf").unwrap();
        let error = read(&garbage).unwrap_err().to_string();
        assert!(error.contains("weights.onnx: not an ONNX model"), "{error}");
        // Valid protobuf without a graph.
        let empty = dir.path().join("empty.onnx");
        std::fs::write(&empty, ModelProto::default().encode_to_vec()).unwrap();
        let error = read(&empty).unwrap_err().to_string();
        assert!(
            error.contains("empty.onnx") && error.contains("without a graph"),
            "{error}"
        );
        // Writing into a missing folder names the file and leaves nothing behind.
        let missing = dir.path().join("no/such/folder/model.onnx");
        let error = export(&model(TrainingConfig::default()), &missing).unwrap_err();
        assert!(error.to_string().contains("model.onnx"), "{error}");
    }
}
