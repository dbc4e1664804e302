//! The network's forward and backward pass on the host, one image at a time, on plain `f32`
//! slices, with the bias, the sigmoid and the 2x2 subsampling fused into the loops around the
//! convolutions. Every buffer lives in a per-thread [`Scratch`] that is reused from image to
//! image and from step to step, so a training step allocates nothing but its result.
//!
//! - C1 (one input map, `c1` small maps) is a direct convolution: each output row is computed
//!   [`LANES`] pixels at a time with the kernel's taps as multiply-adds, which the compiler turns
//!   into vector instructions (the loops run inside pulp's run-time dispatch, AVX2 and FMA where
//!   the processor has them, one dispatched function per stage of the pass). Its maps are
//!   stored map-major, `[c1][h1][w1p]` (CHW, rows padded to a multiple of [`LANES`] with the
//!   image read from a zero-padded copy), and so is their gradient, from which the kernel
//!   gradient is the same kind of loop.
//! - C3 (`c1` maps in, `c3` out) is a direct convolution too, without an im2col copy: its
//!   input (S2's output) is stored position-major, `[h·w, maps]` (HWC), so that the `k`
//!   neighbouring positions of a kernel row, with all their maps, are one contiguous run of
//!   `k·c1` values, and its maps are stored `[h·w, c3p]` with `c3` padded to a multiple of
//!   [`LANES`]. The forward pass and the kernel gradient hold a block of outputs in registers
//!   (several positions × 8 or 16 maps) and stream the runs through them; the input gradient
//!   adds each position's contribution to a whole run at once (its weights padded with zeros to
//!   whole registers, so the padding adds nothing). An earlier version ran these as matrix
//!   products over an im2col buffer (matrixmultiply through ndarray); packing the small
//!   per-image operands cost as much as the arithmetic.
//!
//! The weights are kept in the matching orders (see [`HostNet`]); lenet's `fused` module
//! converts from and to burn's layouts.

use crate::{IMAGE_SIZE, NUM_CLASSES, PIXELS, half_squared_error};

/// Pixels computed together by C1's loops: one AVX2 register of `f32`.
pub const LANES: usize = 8;
/// Row length of the zero-padded copy of the input image C1 reads (a row of C1's output
/// starting at any `x` below `h1`, rounded up to [`LANES`], plus the kernel, fits).
const PADDED_ROW: usize = IMAGE_SIZE + LANES;
/// Largest kernel side [`Scratch`] handles (a 28x28 input allows 9).
const MAX_KERNEL: usize = 16;

/// The network's sizes, derived from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Maps of C1 (and S2).
    pub c1: usize,
    /// Maps of C3 (and S4).
    pub c3: usize,
    /// Kernel side.
    pub k: usize,
    /// Side of C1's output.
    pub h1: usize,
    /// Row length of C1's stored maps: `h1` rounded up to [`LANES`].
    pub w1p: usize,
    /// Side of S2's output.
    pub h2: usize,
    /// Side of C3's output.
    pub h3: usize,
    /// Side of S4's output.
    pub h4: usize,
    /// The paper's subsampling `sigmoid(4·(mean − ½) + b)` rather than the plain mean.
    pub paper: bool,
}

impl Dims {
    /// Inputs of the fully connected layer.
    pub fn fc_inputs(&self) -> usize {
        self.h4 * self.h4 * self.c3
    }

    /// Values of one C3 kernel: a window of `k·k` positions over all S2 maps.
    fn window3(&self) -> usize {
        self.k * self.k * self.c1
    }

    /// `c3` rounded up to whole registers: the stride of C3's stored maps.
    fn c3p(&self) -> usize {
        self.c3.div_ceil(LANES) * LANES
    }

    /// One kernel row over all S2 maps, `k·c1`: a contiguous run of S2's stored output.
    fn run3(&self) -> usize {
        self.k * self.c1
    }

    /// [`Self::run3`] rounded up to whole registers.
    fn run3p(&self) -> usize {
        self.run3().div_ceil(LANES) * LANES
    }
}

/// The parameters in the kernels' layouts (also used for their gradients).
#[derive(Debug, Clone, PartialEq)]
pub struct HostNet {
    /// The sizes.
    pub dims: Dims,
    /// C1 kernels, `[c1, k·k]` (row `ky·k + kx`), as burn's `[c1, 1, k, k]`.
    pub w1: Vec<f32>,
    /// C1 biases, `[c1]`.
    pub b1: Vec<f32>,
    /// S2 biases, `[c1]` (paper subsampling; empty otherwise).
    pub b2: Vec<f32>,
    /// C3 kernels, `[c3, k·k·c1]` with columns in `(ky, kx, map)` order (burn: `[c3, c1, k, k]`).
    pub w3: Vec<f32>,
    /// C3 biases, `[c3]`.
    pub b3: Vec<f32>,
    /// S4 biases, `[c3]` (paper subsampling; empty otherwise).
    pub b4: Vec<f32>,
    /// Output weights, `[h4·h4·c3, 10]` with rows in `(y, x, map)` order (burn: `[c3·h4·h4, 10]`
    /// with rows in `(map, y, x)` order).
    pub wf: Vec<f32>,
    /// Output biases, `[10]`.
    pub bf: Vec<f32>,
}

impl HostNet {
    /// All-zero parameters of the given sizes.
    pub fn zeros(dims: Dims) -> Self {
        let sub = |maps: usize| {
            if dims.paper {
                vec![0.0; maps]
            } else {
                Vec::new()
            }
        };
        Self {
            dims,
            w1: vec![0.0; dims.c1 * dims.k * dims.k],
            b1: vec![0.0; dims.c1],
            b2: sub(dims.c1),
            w3: vec![0.0; dims.c3 * dims.window3()],
            b3: vec![0.0; dims.c3],
            b4: sub(dims.c3),
            wf: vec![0.0; dims.fc_inputs() * NUM_CLASSES],
            bf: vec![0.0; NUM_CLASSES],
        }
    }

    fn tensors_mut(&mut self) -> [&mut Vec<f32>; 8] {
        [
            &mut self.w1,
            &mut self.b1,
            &mut self.b2,
            &mut self.w3,
            &mut self.b3,
            &mut self.b4,
            &mut self.wf,
            &mut self.bf,
        ]
    }

    /// Adds `other` element by element.
    pub fn add_assign(&mut self, other: &mut HostNet) {
        for (mine, theirs) in self.tensors_mut().into_iter().zip(other.tensors_mut()) {
            for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                *a += *b;
            }
        }
    }

    /// The weights weight decay applies to: the three kernels/matrices, not the biases.
    pub fn decayed(&self) -> [&[f32]; 3] {
        [&self.w1, &self.w3, &self.wf]
    }
}

/// The logistic function `1 / (1 + e^(−x))` of every element, in place.
///
/// Written as a plain loop over a polynomial `exp` so that the compiler vectorises it (libm's
/// `expf` is a scalar call, and the two sigmoid layers take ~4 200 of them per image).
#[inline(always)]
pub fn sigmoid_in_place(values: &mut [f32]) {
    for v in values {
        *v = 1.0 / (1.0 + exp(-*v));
    }
}

/// `e^x` to within 2 ulp for `|x| ≤ 87` (Cody-Waite reduction to `[−ln2/2, ln2/2]` and the
/// degree-6 minimax polynomial of Cephes' `expf`); saturates beyond, NaN stays NaN. Plain
/// arithmetic and a bit cast, so that loops over it vectorise (hand-written because libm's
/// `expf` is a scalar call and no maintained crate offers a vectorisable `f32` exponential).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest without a libm call: adding 1.5·2²³ pushes the fraction out.
    const ROUND: f32 = 12_582_912.0;
    // 2²³ + 127: adding it to an integer n in [−126, 127] leaves n + 127 in the mantissa bits.
    const BIASED: f32 = 8_388_735.0;
    // `clamp` keeps a NaN a NaN (`max`/`min` would not): a diverged run must show.
    let x = x.clamp(-87.0, 87.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    // 2^n from the exponent bits, n + 127 shifted into place (n is in [−126, 126] after the
    // clamp); no float-to-integer conversion, which would not vectorise.
    let scale = f32::from_bits((n + BIASED).to_bits() << 23);
    p * scale
}

/// One thread's buffers for one image's forward and backward pass.
#[derive(Debug, Clone)]
pub struct Scratch {
    dims: Dims,
    /// The vector instructions this processor has, found once.
    arch: pulp::Arch,
    /// The input image, rows zero-padded to `PADDED_ROW`, and a zero row below it.
    image: Vec<f32>,
    /// C1 activations, `[c1][h1][w1p]`.
    a1: Vec<f32>,
    /// S2 output, `[h2², c1]`.
    s2: Vec<f32>,
    /// Where each C3 output position's window starts in `s2`, `[h3²]`.
    starts: Vec<usize>,
    /// C3 kernels for the forward pass and the kernel gradient, `[k²·c1, c3p]` (transposed,
    /// zero in the padding); biases `[c3p]`.
    w3t: Vec<f32>,
    b3p: Vec<f32>,
    /// C3 kernels for the input gradient, `[c3][k][run3p]`: each kernel row padded with zeros.
    w3r: Vec<f32>,
    /// C3 activations, `[h3², c3p]`.
    a3: Vec<f32>,
    /// S4 output = the FC input, `[h4², c3]`.
    s4: Vec<f32>,
    /// Gradient of C1's pre-activations, `[c1][h1][w1p]` (zero in the padding).
    d1: Vec<f32>,
    /// Gradient of S2's output, `[h2², c1]`, and `run3p − run3` values of slack after it for
    /// the padded runs the input gradient adds.
    ds2: Vec<f32>,
    /// Gradient of C3's pre-activations, `[h3², c3p]` (zero in the padding).
    d3: Vec<f32>,
    /// Gradient of C3's kernels summed over the images of a call, `[k²·c1, c3p]`.
    dw3t: Vec<f32>,
    /// Gradient of S4's output, `[h4², c3]`.
    ds4: Vec<f32>,
}

impl Scratch {
    /// Buffers for a network of sizes `dims`.
    pub fn new(dims: Dims) -> Self {
        let (n2, n3, n4) = (dims.h2 * dims.h2, dims.h3 * dims.h3, dims.h4 * dims.h4);
        assert!(
            dims.k <= MAX_KERNEL,
            "kernel side {} > {MAX_KERNEL}",
            dims.k
        );
        let c1_maps = dims.c1 * dims.h1 * dims.w1p;
        let (c3p, window) = (dims.c3p(), dims.window3());
        let starts = (0..n3)
            .map(|pos| ((pos / dims.h3) * dims.h2 + pos % dims.h3) * dims.c1)
            .collect();
        Self {
            dims,
            arch: pulp::Arch::new(),
            image: vec![0.0; (IMAGE_SIZE + 1) * PADDED_ROW],
            a1: vec![0.0; c1_maps],
            s2: vec![0.0; n2 * dims.c1],
            starts,
            w3t: vec![0.0; window * c3p],
            b3p: vec![0.0; c3p],
            w3r: vec![0.0; dims.c3 * dims.k * dims.run3p()],
            a3: vec![0.0; n3 * c3p],
            s4: vec![0.0; n4 * dims.c3],
            d1: vec![0.0; c1_maps],
            ds2: vec![0.0; n2 * dims.c1 + dims.run3p() - dims.run3()],
            d3: vec![0.0; n3 * c3p],
            dw3t: vec![0.0; window * c3p],
            ds4: vec![0.0; n4 * dims.c3],
        }
    }

    /// The sizes these buffers fit.
    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// Copies `net`'s C3 kernels into the layouts the C3 loops read (once per call, not per
    /// image).
    fn load_c3_kernels(&mut self, net: &HostNet) {
        let d = self.dims;
        let (c3p, window, run, run_p) = (d.c3p(), d.window3(), d.run3(), d.run3p());
        for (o, kernel) in net.w3.chunks_exact(window).enumerate() {
            for (i, &w) in kernel.iter().enumerate() {
                self.w3t[i * c3p + o] = w;
            }
            for (ky, row) in kernel.chunks_exact(run).enumerate() {
                self.w3r[(o * d.k + ky) * run_p..][..run].copy_from_slice(row);
            }
        }
        self.b3p[..d.c3].copy_from_slice(&net.b3);
    }

    /// Forward pass of every image of `images` (`[n, PIXELS]`) into `outputs` (`[n, 10]`).
    pub fn forward_images(&mut self, net: &HostNet, images: &[f32], outputs: &mut [f32]) {
        self.load_c3_kernels(net);
        for (out, image) in outputs
            .chunks_exact_mut(NUM_CLASSES)
            .zip(images.chunks_exact(PIXELS))
        {
            self.forward(net, image, out);
        }
    }

    /// Forward and backward pass of every image of `images` (`[n, PIXELS]`, classes
    /// `targets`), for a batch of `batch` images in all: writes the outputs (`[n, 10]`) and
    /// returns the images' share of the data term `1/batch Σ ½‖t − y‖²` and of its gradient.
    pub fn train_images(
        &mut self,
        net: &HostNet,
        images: &[f32],
        targets: &[usize],
        batch: usize,
        outputs: &mut [f32],
    ) -> (f64, HostNet) {
        self.load_c3_kernels(net);
        self.dw3t.fill(0.0);
        let scale = 1.0 / batch as f32;
        let mut grads = HostNet::zeros(net.dims);
        let mut loss = 0.0;
        let mut d_out = [0.0; NUM_CLASSES];
        for ((out, image), &target) in outputs
            .chunks_exact_mut(NUM_CLASSES)
            .zip(images.chunks_exact(PIXELS))
            .zip(targets)
        {
            self.forward(net, image, out);
            loss += half_squared_error(out, target);
            // E = 1/batch Σ ½‖t − y‖²; y = sigmoid(z), so dE/dz = (y − t)·y·(1 − y)/batch.
            for (class, (d, &y)) in d_out.iter_mut().zip(out.iter()).enumerate() {
                let t = if class == target { 1.0 } else { 0.0 };
                *d = (y - t) * scale * y * (1.0 - y);
            }
            self.backward(net, &d_out, &mut grads);
        }
        // C3's kernel gradient, summed in the transposed layout, into the net's.
        let c3p = net.dims.c3p();
        for (o, kernel) in grads.w3.chunks_exact_mut(net.dims.window3()).enumerate() {
            for (i, g) in kernel.iter_mut().enumerate() {
                *g = self.dw3t[i * c3p + o];
            }
        }
        (loss / batch as f64, grads)
    }

    /// Forward pass of one image (`PIXELS` values in `[0, 1]`); writes the 10 outputs.
    /// The intermediate maps stay in the buffers for [`Self::backward`].
    pub fn forward(&mut self, net: &HostNet, image: &[f32], outputs: &mut [f32]) {
        let arch = self.arch;
        arch.dispatch(ForwardC1 {
            scratch: self,
            net,
            image,
        });
        arch.dispatch(ForwardC3 {
            scratch: self,
            net,
            outputs,
        });
    }

    /// C1: the direct convolution (bias included), sigmoid; S2 into position-major maps.
    #[inline(always)]
    fn forward_c1(&mut self, net: &HostNet, image: &[f32]) {
        let d = self.dims;
        for (padded, row) in self
            .image
            .chunks_exact_mut(PADDED_ROW)
            .zip(image.chunks_exact(IMAGE_SIZE))
        {
            padded[..IMAGE_SIZE].copy_from_slice(row);
        }
        conv1(&self.image, &net.w1, &net.b1, d, &mut self.a1);
        sigmoid_in_place(&mut self.a1);
        pool_maps(&self.a1, d, &mut self.s2);
        paper_subsampling(&mut self.s2, d.c1, &net.b2);
    }

    /// C3 (bias included), sigmoid; S4 and the fully connected layer.
    #[inline(always)]
    fn forward_c3(&mut self, net: &HostNet, outputs: &mut [f32]) {
        let d = self.dims;
        conv3(
            &self.s2,
            &self.starts,
            &self.w3t,
            &self.b3p,
            d,
            &mut self.a3,
        );
        sigmoid_in_place(&mut self.a3);
        let c3p = d.c3p();
        subsample(
            &self.a3,
            |y, x, m| (y * d.h3 + x) * c3p + m,
            d.c3,
            d.h4,
            &net.b4,
            &mut self.s4,
        );
        outputs.copy_from_slice(&net.bf);
        for (input, weights) in self.s4.iter().zip(net.wf.chunks_exact(NUM_CLASSES)) {
            for (out, w) in outputs.iter_mut().zip(weights) {
                *out += input * w;
            }
        }
        sigmoid_in_place(outputs);
    }

    /// Backward pass of the image last passed to [`Self::forward`], given the gradient of the
    /// objective with respect to the output layer's pre-activations; adds the parameters'
    /// gradients to `grads`.
    pub fn backward(&mut self, net: &HostNet, d_out: &[f32], grads: &mut HostNet) {
        let arch = self.arch;
        arch.dispatch(BackwardC3 {
            scratch: self,
            net,
            d_out,
            grads,
        });
        arch.dispatch(BackwardS2 { scratch: self });
        arch.dispatch(BackwardC1 {
            scratch: self,
            grads,
        });
    }

    /// Output layer; S4 back to C3's pre-activations; C3's kernels and biases.
    #[inline(always)]
    fn backward_c3(&mut self, net: &HostNet, d_out: &[f32], grads: &mut HostNet) {
        let d = self.dims;
        let c3p = d.c3p();
        for ((input, gw), (w, ds)) in self
            .s4
            .iter()
            .zip(grads.wf.chunks_exact_mut(NUM_CLASSES))
            .zip(net.wf.chunks_exact(NUM_CLASSES).zip(self.ds4.iter_mut()))
        {
            let mut sum = 0.0;
            for ((g, w), dz) in gw.iter_mut().zip(w).zip(d_out) {
                *g += input * dz;
                sum += w * dz;
            }
            *ds = sum;
        }
        for (g, dz) in grads.bf.iter_mut().zip(d_out) {
            *g += dz;
        }
        self.d3.fill(0.0);
        subsample_backward(
            &mut self.ds4,
            &self.s4,
            d.h4,
            d.c3,
            &mut grads.b4,
            &mut self.d3,
            |y, x, m| (y * d.h3 + x) * c3p + m,
        );
        sigmoid_backward(&mut self.d3, &self.a3);
        add_position_sums(&self.d3, c3p, &mut grads.b3);
        conv3_kernel_gradient(&self.s2, &self.starts, &self.d3, d, &mut self.dw3t);
    }

    /// C3's input gradient: the gradient of S2's output.
    #[inline(always)]
    fn backward_s2(&mut self) {
        self.ds2.fill(0.0);
        conv3_input_gradient(&self.d3, &self.starts, &self.w3r, self.dims, &mut self.ds2);
    }

    /// S2 back to C1's pre-activations; C1's kernels and biases.
    #[inline(always)]
    fn backward_c1(&mut self, grads: &mut HostNet) {
        let d = self.dims;
        self.d1.fill(0.0);
        let plane = d.h1 * d.w1p;
        subsample_backward(
            &mut self.ds2[..d.h2 * d.h2 * d.c1],
            &self.s2,
            d.h2,
            d.c1,
            &mut grads.b2,
            &mut self.d1,
            |y, x, m| m * plane + y * d.w1p + x,
        );
        sigmoid_backward(&mut self.d1, &self.a1);
        for (g, map) in grads.b1.iter_mut().zip(self.d1.chunks_exact(plane)) {
            *g += lane_sum(map);
        }
        conv1_kernel_gradient(&self.image, &self.d1, d, &mut grads.w1);
    }
}

/// Declares `$name`, a stage of the pass as pulp dispatches it: the arguments of
/// `Scratch::$method`, and a `with_simd` that calls it. Each stage becomes a function of its
/// own, compiled for the processor's best vector instructions (AVX2 and FMA where present,
/// chosen at run time) with the stage's loops inlined into it. One function for the whole
/// pass was too large for LLVM's inliner, which then left iterator adapters as calls in the
/// inner loops (or kept running sums on the stack), depending on what else the crate held.
macro_rules! stage {
    ($name:ident => $method:ident($($arg:ident: $ty:ty),*)) => {
        struct $name<'a> {
            scratch: &'a mut Scratch,
            $($arg: $ty,)*
        }

        impl pulp::WithSimd for $name<'_> {
            type Output = ();

            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) {
                self.scratch.$method($(self.$arg),*)
            }
        }
    };
}

stage!(ForwardC1 => forward_c1(net: &'a HostNet, image: &'a [f32]));
stage!(ForwardC3 => forward_c3(net: &'a HostNet, outputs: &'a mut [f32]));
stage!(BackwardC3 => backward_c3(net: &'a HostNet, d_out: &'a [f32], grads: &'a mut HostNet));
stage!(BackwardS2 => backward_s2());
stage!(BackwardC1 => backward_c1(grads: &'a mut HostNet));

/// C1's pre-activations: `out[c][y][x] = b[c] + Σ w[c][ky][kx] · image[y+ky][x+kx]` for every
/// map `c` and row `y` (the padding columns get values too).
#[inline(always)]
fn conv1(image: &[f32], w1: &[f32], b1: &[f32], d: Dims, out: &mut [f32]) {
    match d.w1p / LANES {
        1 => conv1_rows::<1>(image, w1, b1, d, out),
        2 => conv1_rows::<2>(image, w1, b1, d, out),
        3 => conv1_rows::<3>(image, w1, b1, d, out),
        _ => conv1_rows::<4>(image, w1, b1, d, out),
    }
}

/// [`conv1`] for rows of `CHUNKS` × [`LANES`] pixels, two rows at a time: the 2·`CHUNKS`
/// running sums are independent, so the multiply-adds do not wait for each other, and they stay
/// in registers.
#[inline(always)]
fn conv1_rows<const CHUNKS: usize>(
    image: &[f32],
    w1: &[f32],
    b1: &[f32],
    d: Dims,
    out: &mut [f32],
) {
    let (k, kk, width) = (d.k, d.k * d.k, CHUNKS * LANES);
    for ((kernel, &bias), maps) in w1
        .chunks_exact(kk)
        .zip(b1)
        .zip(out.chunks_exact_mut(d.h1 * width))
    {
        for (pair, rows) in maps.chunks_mut(2 * width).enumerate() {
            let y = 2 * pair;
            let mut even = [[bias; LANES]; CHUNKS];
            let mut odd = [[bias; LANES]; CHUNKS];
            for (ky, taps) in kernel.chunks_exact(k).enumerate() {
                // The odd row reads one image row further (a padding row at the end).
                let line = &image[(y + ky) * PADDED_ROW..];
                let next = &image[(y + ky + 1) * PADDED_ROW..];
                for (kx, &w) in taps.iter().enumerate() {
                    multiply_add(even.as_flattened_mut(), w, &line[kx..][..width]);
                    multiply_add(odd.as_flattened_mut(), w, &next[kx..][..width]);
                }
            }
            for (row, acc) in rows.chunks_exact_mut(width).zip([even, odd]) {
                for (pixels, acc) in row.chunks_exact_mut(LANES).zip(&acc) {
                    pixels.copy_from_slice(acc);
                }
            }
        }
    }
}

/// `acc[i] += w · source[i]`, one fused multiply-add per value.
#[inline(always)]
fn multiply_add(acc: &mut [f32], w: f32, source: &[f32]) {
    for (a, s) in acc.iter_mut().zip(source) {
        *a = w.mul_add(*s, *a);
    }
}

/// Maps and kernel values whose C1 kernel gradients [`conv1_kernel_gradient`] sums together:
/// `GRADIENT1_MAPS · GRADIENT1_TAPS` running sums in registers, each value loaded (a gradient of
/// a map or a row of the image) used 3 times.
const GRADIENT1_MAPS: usize = 3;
const GRADIENT1_TAPS: usize = 3;

/// Adds C1's kernel gradient, `Σ_{y,x} d1[c][y][x] · image[y+ky][x+kx]` for every `c, ky, kx`,
/// to `grads` (`[c1, k²]`); `d1` is zero in its padding. The positions `(y, x..x+8)` of a
/// kernel value read 8 neighbouring pixels of the image, so the sum over positions is a
/// lane-wise one over whole rows, for blocks of maps × kernel values at a time.
#[inline(always)]
fn conv1_kernel_gradient(image: &[f32], d1: &[f32], d: Dims, grads: &mut [f32]) {
    let mut map = 0;
    while map < d.c1 {
        if d.c1 - map >= GRADIENT1_MAPS {
            conv1_kernel_gradient_maps::<GRADIENT1_MAPS>(image, d1, d, map, grads);
            map += GRADIENT1_MAPS;
        } else {
            conv1_kernel_gradient_maps::<1>(image, d1, d, map, grads);
            map += 1;
        }
    }
}

/// [`conv1_kernel_gradient`] for the `M` maps from `map`.
#[inline(always)]
fn conv1_kernel_gradient_maps<const M: usize>(
    image: &[f32],
    d1: &[f32],
    d: Dims,
    map: usize,
    grads: &mut [f32],
) {
    let kk = d.k * d.k;
    let mut tap = 0;
    while tap + GRADIENT1_TAPS <= kk {
        conv1_kernel_gradient_block::<M, GRADIENT1_TAPS>(image, d1, d, map, tap, grads);
        tap += GRADIENT1_TAPS;
    }
    for tap in tap..kk {
        conv1_kernel_gradient_block::<M, 1>(image, d1, d, map, tap, grads);
    }
}

/// [`conv1_kernel_gradient`] for the `M` maps from `map` and the `T` kernel values from
/// `first`: `M·T` running sums of [`LANES`] lanes over all positions.
#[inline(always)]
fn conv1_kernel_gradient_block<const M: usize, const T: usize>(
    image: &[f32],
    d1: &[f32],
    d: Dims,
    map: usize,
    first: usize,
    grads: &mut [f32],
) {
    let (kk, width) = (d.k * d.k, d.w1p);
    let plane = d.h1 * width;
    // Where each kernel value's window starts in the padded image.
    let offsets: [usize; T] = std::array::from_fn(|t| {
        let tap = first + t;
        (tap / d.k) * PADDED_ROW + tap % d.k
    });
    let maps: [&[f32]; M] = std::array::from_fn(|m| &d1[(map + m) * plane..][..plane]);
    let mut acc = [[[0.0f32; LANES]; T]; M];
    for y in 0..d.h1 {
        for x in (0..width).step_by(LANES) {
            let g: [[f32; LANES]; M] = std::array::from_fn(|m| lanes(&maps[m][y * width + x..]));
            for (t, &offset) in offsets.iter().enumerate() {
                let pixels = lanes(&image[y * PADDED_ROW + offset + x..]);
                for (acc, g) in acc.iter_mut().zip(&g) {
                    fma_lanes(&mut acc[t], *g, pixels);
                }
            }
        }
    }
    for (m, acc) in acc.iter().enumerate() {
        for (t, sums) in acc.iter().enumerate() {
            grads[(map + m) * kk + first + t] += sums.iter().sum::<f32>();
        }
    }
}

/// The sum of `values`, summed lane-wise in [`LANES`] independent running sums (a plain
/// `sum()` of `f32` is one long chain of dependent additions the compiler may not reorder).
#[inline(always)]
fn lane_sum(values: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `acc[i] += a[i] · b[i]`, one fused multiply-add per lane.
#[inline(always)]
fn fma_lanes(acc: &mut [f32; LANES], a: [f32; LANES], b: [f32; LANES]) {
    for ((acc, a), b) in acc.iter_mut().zip(a).zip(b) {
        *acc = a.mul_add(b, *acc);
    }
}

/// Positions computed together by [`conv3`]: each weight register loaded is used this many
/// times.
const POSITIONS: usize = 4;
/// Kernel values whose gradients [`conv3_kernel_gradient`] sums together.
const TAPS: usize = 4;

/// C3's pre-activations, `out[pos][m] = b[m] + Σ_i w3t[i][m] · s2[starts[pos] + offset(i)]`
/// (`offset(i)` the place of kernel value `i` in the window), for every position and every
/// map, padding included (zero weights and bias: zero there).
#[inline(always)]
fn conv3(s2: &[f32], starts: &[usize], w3t: &[f32], b3p: &[f32], d: Dims, out: &mut [f32]) {
    let c3p = d.c3p();
    let mut lane = 0;
    while lane < c3p {
        if c3p - lane >= 2 * LANES {
            conv3_lanes::<2>(s2, starts, w3t, b3p, d, lane, out);
            lane += 2 * LANES;
        } else {
            conv3_lanes::<1>(s2, starts, w3t, b3p, d, lane, out);
            lane += LANES;
        }
    }
}

/// [`conv3`] for the maps `lane..lane + CHUNKS·LANES`.
#[inline(always)]
fn conv3_lanes<const CHUNKS: usize>(
    s2: &[f32],
    starts: &[usize],
    w3t: &[f32],
    b3p: &[f32],
    d: Dims,
    lane: usize,
    out: &mut [f32],
) {
    let blocks = starts.chunks_exact(POSITIONS);
    let rest = blocks.remainder();
    for (block, first) in blocks.zip((0..).step_by(POSITIONS)) {
        conv3_block::<POSITIONS, CHUNKS>(s2, block, w3t, b3p, d, lane, first, out);
    }
    let done = starts.len() - rest.len();
    for (i, start) in rest.chunks_exact(1).enumerate() {
        conv3_block::<1, CHUNKS>(s2, start, w3t, b3p, d, lane, done + i, out);
    }
}

/// [`conv3`] for `P` positions (windows at `starts`, the first being output position
/// `first`) and `CHUNKS` registers of maps from `lane`: `P·CHUNKS` running sums in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn conv3_block<const P: usize, const CHUNKS: usize>(
    s2: &[f32],
    starts: &[usize],
    w3t: &[f32],
    b3p: &[f32],
    d: Dims,
    lane: usize,
    first: usize,
    out: &mut [f32],
) {
    let (c3p, run, row) = (d.c3p(), d.run3(), d.h2 * d.c1);
    let bias: [[f32; LANES]; CHUNKS] = std::array::from_fn(|c| lanes(&b3p[lane + c * LANES..]));
    let mut acc = [bias; P];
    for ky in 0..d.k {
        let inputs: [&[f32]; P] = std::array::from_fn(|p| &s2[starts[p] + ky * row..][..run]);
        let weights = &w3t[ky * run * c3p..][..run * c3p];
        for (j, w) in weights.chunks_exact(c3p).enumerate() {
            let w: [[f32; LANES]; CHUNKS] = std::array::from_fn(|c| lanes(&w[lane + c * LANES..]));
            for (acc, input) in acc.iter_mut().zip(&inputs) {
                let s = input[j];
                for (acc, w) in acc.iter_mut().zip(&w) {
                    for (a, w) in acc.iter_mut().zip(w) {
                        *a = s.mul_add(*w, *a);
                    }
                }
            }
        }
    }
    for (p, acc) in acc.iter().enumerate() {
        out[(first + p) * c3p + lane..][..CHUNKS * LANES].copy_from_slice(acc.as_flattened());
    }
}

/// The [`LANES`] values at the start of `values`.
#[inline(always)]
fn lanes(values: &[f32]) -> [f32; LANES] {
    values[..LANES].try_into().expect("LANES values")
}

/// Adds C3's kernel gradient, `Σ_pos d3[pos][m] · s2[starts[pos] + offset(i)]` for every
/// kernel value `i` and map `m`, to `dw3t` (`[k²·c1, c3p]`).
#[inline(always)]
fn conv3_kernel_gradient(s2: &[f32], starts: &[usize], d3: &[f32], d: Dims, dw3t: &mut [f32]) {
    let c3p = d.c3p();
    let mut lane = 0;
    while lane < c3p {
        if c3p - lane >= 2 * LANES {
            conv3_kernel_gradient_lanes::<2>(s2, starts, d3, d, lane, dw3t);
            lane += 2 * LANES;
        } else {
            conv3_kernel_gradient_lanes::<1>(s2, starts, d3, d, lane, dw3t);
            lane += LANES;
        }
    }
}

/// [`conv3_kernel_gradient`] for the maps `lane..lane + CHUNKS·LANES`.
#[inline(always)]
fn conv3_kernel_gradient_lanes<const CHUNKS: usize>(
    s2: &[f32],
    starts: &[usize],
    d3: &[f32],
    d: Dims,
    lane: usize,
    dw3t: &mut [f32],
) {
    let window = d.window3();
    let mut first = 0;
    while first + TAPS <= window {
        conv3_kernel_gradient_block::<TAPS, CHUNKS>(s2, starts, d3, d, lane, first, dw3t);
        first += TAPS;
    }
    for tap in first..window {
        conv3_kernel_gradient_block::<1, CHUNKS>(s2, starts, d3, d, lane, tap, dw3t);
    }
}

/// [`conv3_kernel_gradient`] for the `T` kernel values from `first` and `CHUNKS` registers of
/// maps from `lane`: `T·CHUNKS` running sums in registers over all positions.
#[inline(always)]
fn conv3_kernel_gradient_block<const T: usize, const CHUNKS: usize>(
    s2: &[f32],
    starts: &[usize],
    d3: &[f32],
    d: Dims,
    lane: usize,
    first: usize,
    dw3t: &mut [f32],
) {
    let (c3p, run, row) = (d.c3p(), d.run3(), d.h2 * d.c1);
    // Where each of the T kernel values sits in a window.
    let offsets: [usize; T] = std::array::from_fn(|t| {
        let i = first + t;
        (i / run) * row + i % run
    });
    let mut acc = [[[0.0f32; LANES]; CHUNKS]; T];
    for (&start, grad) in starts.iter().zip(d3.chunks_exact(c3p)) {
        let g: [[f32; LANES]; CHUNKS] = std::array::from_fn(|c| lanes(&grad[lane + c * LANES..]));
        for (acc, offset) in acc.iter_mut().zip(offsets) {
            let s = s2[start + offset];
            for (acc, g) in acc.iter_mut().zip(&g) {
                for (a, g) in acc.iter_mut().zip(g) {
                    *a = s.mul_add(*g, *a);
                }
            }
        }
    }
    for (t, acc) in acc.iter().enumerate() {
        let sums = &mut dw3t[(first + t) * c3p + lane..][..CHUNKS * LANES];
        for (sum, a) in sums.iter_mut().zip(acc.as_flattened()) {
            *sum += a;
        }
    }
}

/// Adds C3's input gradient to `ds2`: for every position and kernel row, the run of `k·c1`
/// values the row reads gets `Σ_m d3[pos][m] · w3r[m][ky]` (whole registers: the zero padding
/// of `w3r` adds zeros to the values after the run, and to the slack at the end of `ds2`).
#[inline(always)]
fn conv3_input_gradient(d3: &[f32], starts: &[usize], w3r: &[f32], d: Dims, ds2: &mut [f32]) {
    let run_p = d.run3p();
    let mut lane = 0;
    while lane < run_p {
        let left = run_p - lane;
        if left >= 4 * LANES {
            conv3_input_gradient_lanes::<4>(d3, starts, w3r, d, lane, ds2);
            lane += 4 * LANES;
        } else if left >= 2 * LANES {
            conv3_input_gradient_lanes::<2>(d3, starts, w3r, d, lane, ds2);
            lane += 2 * LANES;
        } else {
            conv3_input_gradient_lanes::<1>(d3, starts, w3r, d, lane, ds2);
            lane += LANES;
        }
    }
}

/// [`conv3_input_gradient`] for the run's values `lane..lane + CHUNKS·LANES`, two kernel rows
/// at a time.
#[inline(always)]
fn conv3_input_gradient_lanes<const CHUNKS: usize>(
    d3: &[f32],
    starts: &[usize],
    w3r: &[f32],
    d: Dims,
    lane: usize,
    ds2: &mut [f32],
) {
    for (&start, grad) in starts.iter().zip(d3.chunks_exact(d.c3p())) {
        let grad = &grad[..d.c3];
        let mut ky = 0;
        while ky + 2 <= d.k {
            input_gradient_rows::<2, CHUNKS>(grad, w3r, d, lane, ky, start, ds2);
            ky += 2;
        }
        if ky < d.k {
            input_gradient_rows::<1, CHUNKS>(grad, w3r, d, lane, ky, start, ds2);
        }
    }
}

/// [`conv3_input_gradient`] of one position (gradient `grad`, window at `start`) for the `R`
/// kernel rows from `ky`: `R·CHUNKS` independent running sums in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn input_gradient_rows<const R: usize, const CHUNKS: usize>(
    grad: &[f32],
    w3r: &[f32],
    d: Dims,
    lane: usize,
    ky: usize,
    start: usize,
    ds2: &mut [f32],
) {
    let (run_p, row, width) = (d.run3p(), d.h2 * d.c1, CHUNKS * LANES);
    let mut acc = [[[0.0f32; LANES]; CHUNKS]; R];
    for (o, &g) in grad.iter().enumerate() {
        for (r, acc) in acc.iter_mut().enumerate() {
            let w = &w3r[(o * d.k + ky + r) * run_p + lane..][..width];
            for (a, w) in acc.as_flattened_mut().iter_mut().zip(w) {
                *a = g.mul_add(*w, *a);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let target = &mut ds2[start + (ky + r) * row + lane..][..width];
        for (t, a) in target.iter_mut().zip(acc.as_flattened()) {
            *t += a;
        }
    }
}

/// Turns the gradient of sigmoid outputs `a` into that of their pre-activations, in place.
#[inline(always)]
fn sigmoid_backward(grad: &mut [f32], a: &[f32]) {
    for (g, a) in grad.iter_mut().zip(a) {
        *g *= a * (1.0 - a);
    }
}

/// Adds the sums over positions of position-major values (`[positions, stride]`, the first
/// `sums.len()` of each row) to `sums`.
#[inline(always)]
fn add_position_sums(values: &[f32], stride: usize, sums: &mut [f32]) {
    for row in values.chunks_exact(stride) {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
}

/// 2x2, stride-2 subsampling into position-major `output` (`[out_side², maps]`), reading
/// `input` at `at(y, x, map)`: the mean, or with `bias` (the paper's variant)
/// `sigmoid(4·(mean − ½) + bias)`. A last odd row or column is dropped, as burn's `AvgPool2d`
/// does.
#[inline(always)]
fn subsample(
    input: &[f32],
    at: impl Fn(usize, usize, usize) -> usize,
    maps: usize,
    out_side: usize,
    bias: &[f32],
    output: &mut [f32],
) {
    for (position, out) in output.chunks_exact_mut(maps).enumerate() {
        let (y, x) = (2 * (position / out_side), 2 * (position % out_side));
        for (m, o) in out.iter_mut().enumerate() {
            *o = 0.25
                * (input[at(y, x, m)]
                    + input[at(y, x + 1, m)]
                    + input[at(y + 1, x, m)]
                    + input[at(y + 1, x + 1, m)]);
        }
    }
    paper_subsampling(output, maps, bias);
}

/// S2's pooling of C1's map-major maps (`[c1][h1][w1p]`) into position-major `[h2², c1]`, the
/// same sums as [`subsample`]'s: each map's pairs of rows a whole row at a time, without
/// computing an index per value (as `subsample` for any layout, it was a sixth of the stage).
#[inline(always)]
fn pool_maps(a1: &[f32], d: Dims, s2: &mut [f32]) {
    let (plane, side) = (d.h1 * d.w1p, d.h2);
    for (m, map) in a1.chunks_exact(plane).enumerate() {
        for (oy, rows) in map.chunks_exact(2 * d.w1p).take(side).enumerate() {
            let (top, bottom) = rows.split_at(d.w1p);
            let out = &mut s2[oy * side * d.c1..][..side * d.c1];
            for ((o, t), b) in out
                .chunks_exact_mut(d.c1)
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
            {
                o[m] = 0.25 * (t[0] + t[1] + b[0] + b[1]);
            }
        }
    }
}

/// The paper's subsampling after the pooling, `sigmoid(4·(mean − ½) + b)` for every position
/// (`[positions, maps]`) and map; nothing where `bias` is empty (the plain mean).
#[inline(always)]
fn paper_subsampling(output: &mut [f32], maps: usize, bias: &[f32]) {
    if !bias.is_empty() {
        for row in output.chunks_exact_mut(maps) {
            for (o, b) in row.iter_mut().zip(bias) {
                *o = 4.0 * (*o - 0.5) + b;
            }
        }
        sigmoid_in_place(output);
    }
}

/// Backward of [`subsample`]: from the gradient of its output (`[out_side², maps]`, consumed)
/// to that of its input, written at `at(y, x, map)` into `grad_in` (positions a pool does not
/// read are left as they are: zero them first); with the paper's variant, through its sigmoid
/// (`output` holds the forward outputs) and adding to the bias gradient.
#[inline(always)]
fn subsample_backward(
    grad_out: &mut [f32],
    output: &[f32],
    out_side: usize,
    maps: usize,
    bias_grad: &mut [f32],
    grad_in: &mut [f32],
    at: impl Fn(usize, usize, usize) -> usize,
) {
    let scale = if bias_grad.is_empty() {
        0.25
    } else {
        sigmoid_backward(grad_out, output);
        add_position_sums(grad_out, maps, bias_grad);
        // d/d(mean) of 4·(mean − ½) is 4; each input is a quarter of the mean.
        1.0
    };
    for (position, g) in grad_out.chunks_exact(maps).enumerate() {
        let (y, x) = (2 * (position / out_side), 2 * (position % out_side));
        for (m, g) in g.iter().enumerate() {
            let v = scale * g;
            grad_in[at(y, x, m)] = v;
            grad_in[at(y, x + 1, m)] = v;
            grad_in[at(y + 1, x, m)] = v;
            grad_in[at(y + 1, x + 1, m)] = v;
        }
    }
}
