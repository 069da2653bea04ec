//! hearth-dsp
