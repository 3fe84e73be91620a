//! Slicer emulator.
