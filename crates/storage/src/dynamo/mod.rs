//! The DynamoDB-compatible API: the data types, the expression language, tables and items
//! on the engine, and the JSON 1.0 protocol.

pub mod error;
pub mod expr;
pub mod number;
pub mod stored;
pub mod types;
