//! hearth-cache
