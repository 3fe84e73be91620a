//! Native Slicer client.
