//! The `replicate` and `backup` Lambda handlers (issue #8). Built so far: the environment contract
//! ([`env`]), parsed once into a typed configuration. The handlers follow the engine's replicate and backup
//! jobs.

pub mod env;
