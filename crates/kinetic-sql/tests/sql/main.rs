//! The SQL layer's end-to-end tests, in one test binary: each links DataFusion, the connector and
//! the emulator (about 170 MB), so one binary instead of five saves the links and the disk.
mod baq_parameters;
mod common;
mod differential;
mod join_pushdown;
mod limits;
mod lying;
mod oracle;
mod procedures;
mod smoke;
mod system;
mod writes;
