//! One module per command. Each has `Args` (clap) and `run(&Ctx, Args) -> Result<ExitCode>`.

pub mod catalogue;
pub mod checkpoint;
pub mod completions;
pub mod demo;
pub mod doctor;
pub mod export;
pub mod hook;
pub mod import;
pub mod policy;
pub mod push;
pub mod record;
pub mod replay;
pub mod report;
pub mod sessions;
pub mod show;
pub mod team;
pub mod verify;
