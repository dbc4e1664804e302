//! The model as ONNX operators: the deskewing of [`crate::data::deskew`] (when the model was
//! trained with it) and the network of [`crate::model::LeNet`], each written to compute what
//! the Rust code computes, in the same order of operations.

use burn::module::Param;
use burn::prelude::*;

use super::builder::{Attribute, GraphBuilder};
use super::proto::DataType;
use crate::mnist::IMAGE_SIZE;
use crate::model::{LeNet, SubsamplingLayer, subsampling};

/// Appends the deskewing of the images `input` (float32 `[N, 1, 28, 28]`, grey levels / 255)
/// and returns the deskewed images, in the same form.
///
/// [`crate::data::deskew::deskew`] step by step, in float64 as the Rust code computes: the
/// grey levels; their mass, centre and the moments μ11 and μ02 (`ReduceSum`); the slant
/// μ11/μ02 (0 for a blank or one-row image); each row's source columns `x + slant·(y − ȳ)`;
/// bilinear interpolation between the two neighbouring columns (`GatherElements`, 0 outside
/// the image); the result rounded to a grey level, halves up, and divided by 255 in float32.
pub(super) fn deskew(b: &mut GraphBuilder, input: &str) -> String {
    use Attribute::Int;
    let double = Int(DataType::Double as i64);
    let zero = b.doubles("deskew.zero", &[], vec![0.0]);
    let one = b.doubles("deskew.one", &[], vec![1.0]);
    let half = b.doubles("deskew.half", &[], vec![0.5]);
    let white = b.doubles("deskew.white", &[], vec![255.0]);
    let last = b.doubles("deskew.last_column", &[], vec![(IMAGE_SIZE - 1) as f64]);
    let coordinates: Vec<f64> = (0..IMAGE_SIZE).map(|i| i as f64).collect();
    let xs = b.doubles("deskew.x", &[1, 1, 1, IMAGE_SIZE], coordinates.clone());
    let ys = b.doubles("deskew.y", &[1, 1, IMAGE_SIZE, 1], coordinates);
    let axes = b.int64s("deskew.image_axes", &[2], vec![2, 3]);
    let sum =
        |b: &mut GraphBuilder, x: &str| b.op("ReduceSum", &[x, &axes], &[("keepdims", Int(1))]);

    // Grey levels 0..=255 (the input is p/255 in float32: rounding restores p exactly).
    let scaled = b.op("Cast", &[input], &[("to", double)]);
    let scaled = b.op("Mul", &[&scaled, &white], &[]);
    let scaled = b.op("Add", &[&scaled, &half], &[]);
    let grey = b.op("Floor", &[&scaled], &[]);

    // Mass and centre (0 for a blank image).
    let mass = sum(b, &grey);
    let weighted_x = b.op("Mul", &[&grey, &xs], &[]);
    let sx = sum(b, &weighted_x);
    let weighted_y = b.op("Mul", &[&grey, &ys], &[]);
    let sy = sum(b, &weighted_y);
    let blank = b.op("Equal", &[&mass, &zero], &[]);
    let divisor = b.op("Where", &[&blank, &one, &mass], &[]);
    let cx = b.op("Div", &[&sx, &divisor], &[]);
    let cy = b.op("Div", &[&sy, &divisor], &[]);

    // The slant μ11 / μ02, with μ11 = Σ p·x·y and μ02 = Σ p·y·y about the centre.
    let dx = b.op("Sub", &[&xs, &cx], &[]);
    let dy = b.op("Sub", &[&ys, &cy], &[]);
    let px = b.op("Mul", &[&grey, &dx], &[]);
    let pxy = b.op("Mul", &[&px, &dy], &[]);
    let mu11 = sum(b, &pxy);
    let py = b.op("Mul", &[&grey, &dy], &[]);
    let pyy = b.op("Mul", &[&py, &dy], &[]);
    let mu02 = sum(b, &pyy);
    let flat = b.op("Equal", &[&mu02, &zero], &[]);
    let divisor = b.op("Where", &[&flat, &one, &mu02], &[]);
    let slant = b.op("Div", &[&mu11, &divisor], &[]);
    let slant = b.op("Where", &[&flat, &zero, &slant], &[]);

    // Each output pixel reads its row at column x + slant·(y − ȳ).
    let shift = b.op("Mul", &[&slant, &dy], &[]);
    let source = b.op("Add", &[&xs, &shift], &[]);
    let left = b.op("Floor", &[&source], &[]);
    let fraction = b.op("Sub", &[&source, &left], &[]);
    let right = b.op("Add", &[&left, &one], &[]);
    let column = |b: &mut GraphBuilder, at: &str| {
        let from_left = b.op("GreaterOrEqual", &[at, &zero], &[]);
        let to_right = b.op("LessOrEqual", &[at, &last], &[]);
        let inside = b.op("And", &[&from_left, &to_right], &[]);
        let clipped = b.op("Clip", &[at, &zero, &last], &[]);
        let index = b.op("Cast", &[&clipped], &[("to", Int(DataType::Int64 as i64))]);
        let value = b.op("GatherElements", &[&grey, &index], &[("axis", Int(3))]);
        b.op("Where", &[&inside, &value, &zero], &[])
    };
    let at_left = column(b, &left);
    let at_right = column(b, &right);
    let keep = b.op("Sub", &[&one, &fraction], &[]);
    let left_part = b.op("Mul", &[&keep, &at_left], &[]);
    let right_part = b.op("Mul", &[&fraction, &at_right], &[]);
    let value = b.op("Add", &[&left_part, &right_part], &[]);

    // Rounded to a grey level, then scaled as the network's input.
    let clipped = b.op("Clip", &[&value, &zero, &white], &[]);
    let rounded = b.op("Add", &[&clipped, &half], &[]);
    let rounded = b.op("Floor", &[&rounded], &[]);
    let rounded = b.op("Cast", &[&rounded], &[("to", Int(DataType::Float as i64))]);
    let white = b.floats("deskew.white_f32", &[], vec![255.0]);
    b.op("Div", &[&rounded, &white], &[])
}

/// A parameter's shape and values on the host, in its layout (burn's: `[out, in, k, k]` for a
/// convolution, `[in, out]` for a linear layer).
fn values<const D: usize>(param: &Param<Tensor<D>>) -> (Vec<usize>, Vec<f32>) {
    (param.dims().to_vec(), crate::fused::host_values(param))
}

/// Appends the network `net` applied to `images` (float32 `[N, 1, 28, 28]`); its output,
/// float32 `[N, 10]`, is named `output`.
pub(super) fn lenet(b: &mut GraphBuilder, net: &LeNet, images: &str, output: &str) -> String {
    let x = convolution(b, "c1", &net.c1.weight, net.c1.bias.as_ref(), images);
    let x = b.op("Sigmoid", &[&x], &[]);
    let x = subsampling(b, "s2", &net.s2, &x);
    let x = convolution(b, "c3", &net.c3.weight, net.c3.bias.as_ref(), &x);
    let x = b.op("Sigmoid", &[&x], &[]);
    let x = subsampling(b, "s4", &net.s4, &x);
    let x = b.op("Flatten", &[&x], &[("axis", Attribute::Int(1))]);
    let (dims, weight) = values(&net.fc.weight);
    let weight = b.floats("fc.weight", &dims, weight);
    let mut inputs = vec![x, weight];
    if let Some(bias) = &net.fc.bias {
        let (dims, bias) = values(bias);
        inputs.push(b.floats("fc.bias", &dims, bias));
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    // Gemm with B = burn's [in, out] weight as it is: Y = X·W + b.
    let x = b.op("Gemm", &inputs, &[]);
    b.op_named("Sigmoid", &[&x], &[], output)
}

fn convolution(
    b: &mut GraphBuilder,
    name: &str,
    weight: &Param<Tensor<4>>,
    bias: Option<&Param<Tensor<1>>>,
    x: &str,
) -> String {
    let (dims, values) = values(weight);
    let kernel = vec![dims[2] as i64, dims[3] as i64];
    let mut inputs = vec![
        x.to_string(),
        b.floats(&format!("{name}.weight"), &dims, values),
    ];
    if let Some(bias) = bias {
        let (dims, values) = self::values(bias);
        inputs.push(b.floats(&format!("{name}.bias"), &dims, values));
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    b.op(
        "Conv",
        &inputs,
        &[("kernel_shape", Attribute::Ints(kernel))],
    )
}

/// A 2x2 stride-2 average, and for the paper's kind `sigmoid(4·(mean − ½) + b_j)`.
fn subsampling(b: &mut GraphBuilder, name: &str, layer: &SubsamplingLayer, x: &str) -> String {
    let ints = |v: &[i64]| Attribute::Ints(v.to_vec());
    let mean = b.op(
        "AveragePool",
        &[x],
        &[("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))],
    );
    let Some(bias) = &layer.bias else {
        return mean;
    };
    let (dims, values) = values(bias);
    let centre = b.floats(
        &format!("{name}.centre"),
        &[],
        vec![subsampling::PAPER_CENTRE as f32],
    );
    let gain = b.floats(
        &format!("{name}.gain"),
        &[],
        vec![subsampling::PAPER_GAIN as f32],
    );
    let bias = b.floats(&format!("{name}.bias"), &[1, dims[0], 1, 1], values);
    let centred = b.op("Sub", &[&mean, &centre], &[]);
    let scaled = b.op("Mul", &[&centred, &gain], &[]);
    let biased = b.op("Add", &[&scaled, &bias], &[]);
    b.op("Sigmoid", &[&biased], &[])
}
