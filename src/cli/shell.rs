use clap::{Args, CommandFactory, ValueEnum};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall completions bash > ~/.local/share/bash-completion/completions/cpuwall
  cpuwall completions zsh > ~/.zfunc/_cpuwall
  cpuwall completions fish > ~/.config/fish/completions/cpuwall.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall man > cpuwall.1 && man ./cpuwall.1
  cpuwall man | gzip > /usr/local/share/man/man1/cpuwall.1.gz")]
pub struct ManArgs {}

/// Print the completion script for `a.shell` (clap_complete).
pub fn completions(a: CompletionsArgs) -> Result<()> {
    use clap_complete::Shell as S;
    let shell = match a.shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Powershell => S::PowerShell,
        Shell::Elvish => S::Elvish,
    };
    let mut cmd = super::Cli::command();
    clap_complete::generate(shell, &mut cmd, "cpuwall", &mut std::io::stdout());
    Ok(())
}

/// Print the man page (roff, clap_mangen).
pub fn man(_: ManArgs) -> Result<()> {
    clap_mangen::Man::new(super::Cli::command())
        .render(&mut std::io::stdout())
        .map_err(|e| Error::io("cannot write the man page", e))
}
