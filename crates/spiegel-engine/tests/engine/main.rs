//! Integration tests of the engine (one test binary: each links DataFusion).

mod bad_data;
mod differential;
mod disclosure;
mod mirror;
mod tiny;
