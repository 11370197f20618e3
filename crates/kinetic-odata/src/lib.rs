//! OData pieces shared by the kinetic connector and its emulator.
pub mod ast;
pub use ast::*;
