//! `--threads N`: how many threads a command's networks and loops use.

/// The `--threads` option, shared by the commands that run networks.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct ThreadsArg {
    /// Threads for the networks and medseg's own loops (default: every core)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

impl ThreadsArg {
    /// The count asked for, else every core.
    pub fn count(self) -> usize {
        self.threads.map_or_else(medseg::engine::threads::available, usize::from)
    }

    /// Starts the process-wide pool of that many threads.
    pub fn install(self) -> Result<usize, String> {
        let n = self.count();
        medseg::engine::threads::install_global_pool(n)?;
        Ok(n)
    }
}
