use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(error) = didhub::cli::refuse_control_chars(std::env::args_os(), std::env::vars_os())
    {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let cli = didhub::cli::Cli::parse();
    didhub::cli::init_tracing(&cli);
    match didhub::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
