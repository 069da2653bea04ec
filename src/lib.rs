//! hearth facade
