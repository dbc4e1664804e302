//! Building an ONNX graph node by node: each call appends a node (or a constant tensor) and
//! returns the name of the value it makes, so a graph reads like the computation it holds.

use super::proto::{
    AttributeProto, AttributeType, DataType, GraphProto, NodeProto, TensorProto, TypeProto,
    ValueInfoProto, tensor_shape_proto, type_proto,
};

/// A graph under construction: nodes in order (each one's inputs made before it), and the
/// constant tensors (initializers) they read.
#[derive(Default)]
pub(super) struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

/// A node's attribute.
pub(super) enum Attribute {
    Int(i64),
    Ints(Vec<i64>),
}

impl GraphBuilder {
    /// Appends `op(inputs)` with `attributes`, its output named `output`; returns the name.
    pub(super) fn op_named(
        &mut self,
        op: &str,
        inputs: &[&str],
        attributes: &[(&str, Attribute)],
        output: &str,
    ) -> String {
        let attribute = attributes
            .iter()
            .map(|(name, value)| {
                let mut proto = AttributeProto {
                    name: Some((*name).into()),
                    ..Default::default()
                };
                match value {
                    Attribute::Int(i) => {
                        proto.r#type = Some(AttributeType::Int as i32);
                        proto.i = Some(*i);
                    }
                    Attribute::Ints(ints) => {
                        proto.r#type = Some(AttributeType::Ints as i32);
                        proto.ints = ints.clone();
                    }
                }
                proto
            })
            .collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|i| (*i).into()).collect(),
            output: vec![output.into()],
            name: Some(format!("{op}_{}", self.nodes.len())),
            op_type: Some(op.into()),
            attribute,
            ..Default::default()
        });
        output.into()
    }

    /// Appends `op(inputs)` with `attributes`; returns its output's generated name.
    pub(super) fn op(
        &mut self,
        op: &str,
        inputs: &[&str],
        attributes: &[(&str, Attribute)],
    ) -> String {
        let output = format!("{}_{}", op.to_lowercase(), self.nodes.len());
        self.op_named(op, inputs, attributes, &output)
    }

    /// A constant float32 tensor named `name`.
    pub(super) fn floats(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        self.constant(
            name,
            dims,
            TensorProto {
                data_type: Some(DataType::Float as i32),
                float_data: values,
                ..Default::default()
            },
        )
    }

    /// A constant float64 tensor named `name`.
    pub(super) fn doubles(&mut self, name: &str, dims: &[usize], values: Vec<f64>) -> String {
        self.constant(
            name,
            dims,
            TensorProto {
                data_type: Some(DataType::Double as i32),
                double_data: values,
                ..Default::default()
            },
        )
    }

    /// A constant int64 tensor named `name`.
    pub(super) fn int64s(&mut self, name: &str, dims: &[usize], values: Vec<i64>) -> String {
        self.constant(
            name,
            dims,
            TensorProto {
                data_type: Some(DataType::Int64 as i32),
                int64_data: values,
                ..Default::default()
            },
        )
    }

    fn constant(&mut self, name: &str, dims: &[usize], mut tensor: TensorProto) -> String {
        debug_assert!(
            self.initializers
                .iter()
                .all(|t| t.name.as_deref() != Some(name)),
            "{name} defined twice"
        );
        tensor.name = Some(name.into());
        tensor.dims = dims.iter().map(|&d| d as i64).collect();
        self.initializers.push(tensor);
        name.into()
    }

    /// The finished graph named `name`, with these inputs and outputs.
    pub(super) fn finish(
        self,
        name: &str,
        inputs: Vec<ValueInfoProto>,
        outputs: Vec<ValueInfoProto>,
    ) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: Some(name.into()),
            initializer: self.initializers,
            input: inputs,
            output: outputs,
            ..Default::default()
        }
    }
}

/// A dimension of a value's shape: a fixed size, or a name for a size chosen at run time.
pub(super) enum Dim {
    Fixed(usize),
    Named(&'static str),
}

/// A float32 tensor value `name` of shape `dims`, described by `doc`.
pub(super) fn float_value(name: &str, dims: &[Dim], doc: &str) -> ValueInfoProto {
    use tensor_shape_proto::dimension::Value;
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Dim::Fixed(n) => Value::DimValue(*n as i64),
                Dim::Named(n) => Value::DimParam((*n).into()),
            }),
            denotation: None,
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(super::proto::TensorShapeProto { dim }),
            })),
            denotation: None,
        }),
        doc_string: Some(doc.into()),
    }
}
