//! Output sinks (being written).
