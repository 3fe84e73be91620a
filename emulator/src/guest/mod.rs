//! The guest side of the emulator: what the in-VM agent does for exec,
//! background exec, file copy, the filesystem endpoints and userdata.
//!
//! Guest processes run under bubblewrap, confined to the VM's root
//! directory ([`sandbox`]); file operations resolve every path inside that
//! root without following a link out of it ([`paths`]).

pub(crate) mod background;
pub(crate) mod copy;
pub(crate) mod exec;
pub(crate) mod fs;
pub(crate) mod paths;
pub(crate) mod sandbox;
pub(crate) mod stream;
pub(crate) mod tarfs;
pub(crate) mod userdata;
