//! Band-limited resampling to the engine rate with rubato's synchronous FFT resampler.
//!
//! The resampler runs in fixed blocks: `block_in` source frames in, `block_out` engine frames
//! out, no internal buffering (rubato's `FixedSync::Both`). Each block's contribution is a
//! fixed linear function of that block's input spread over two output blocks (overlap-add of a
//! filter as long as one block), so the output from block `b` on depends only on input blocks
//! `b - 1` and later. That is what makes random access exact: start one block early from a
//! zeroed state, discard that block's output, and every following sample equals a front-to-back
//! pass (see `Source`).

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};

use crate::chunk::ENGINE_CHANNELS;
use crate::error::SourceError;

/// Target input block length; the real one is rounded to the rate pair's grid.
const BLOCK_HINT: usize = 2048;

/// A fixed-ratio resampler with a fixed block grid.
pub struct BlockResampler {
    fft: Fft<f32>,
    block_in: usize,
    block_out: usize,
    delay: usize,
}

impl std::fmt::Debug for BlockResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockResampler")
            .field("block_in", &self.block_in)
            .field("block_out", &self.block_out)
            .field("delay", &self.delay)
            .finish()
    }
}

impl BlockResampler {
    /// A resampler from `from` Hz to `to` Hz for stereo.
    pub fn new(from: u32, to: u32) -> Result<Self, SourceError> {
        let err = |reason: String| SourceError::Resampler { from, to, reason };
        let fft = Fft::<f32>::new_custom(
            from as usize,
            to as usize,
            BLOCK_HINT,
            1,
            ENGINE_CHANNELS,
            WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(|e| err(e.to_string()))?;
        let block_in = fft.input_frames_next();
        let block_out = fft.output_frames_next();
        let delay = fft.output_delay();
        if block_in == 0 || block_out == 0 || delay >= block_out {
            return Err(err(format!(
                "unexpected block sizes {block_in}/{block_out}/{delay}"
            )));
        }
        Ok(Self {
            fft,
            block_in,
            block_out,
            delay,
        })
    }

    /// Source frames consumed per block.
    pub fn block_in(&self) -> usize {
        self.block_in
    }

    /// Engine frames produced per block.
    pub fn block_out(&self) -> usize {
        self.block_out
    }

    /// Output frames by which the resampled stream lags the source.
    pub fn delay(&self) -> usize {
        self.delay
    }

    /// Clears the filter state (as before the first block of a track).
    pub fn reset(&mut self) {
        self.fft.reset();
    }

    /// Resamples one block: `input` holds `block_in` interleaved stereo frames, `output` gets
    /// `block_out`. Allocation-free.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), SourceError> {
        let err = |e: &dyn std::fmt::Display| SourceError::Resampler {
            from: 0,
            to: 0,
            reason: e.to_string(),
        };
        let inp =
            InterleavedSlice::new(input, ENGINE_CHANNELS, self.block_in).map_err(|e| err(&e))?;
        let mut out = InterleavedSlice::new_mut(output, ENGINE_CHANNELS, self.block_out)
            .map_err(|e| err(&e))?;
        let (read, written) = self
            .fft
            .process_into_buffer(&inp, &mut out, None)
            .map_err(|e| err(&e))?;
        debug_assert_eq!((read, written), (self.block_in, self.block_out));
        Ok(())
    }
}
