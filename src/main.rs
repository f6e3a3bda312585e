//! The `nativebench` binary: parse arguments, call the library, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use nativebench::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let args = Cli::parse_from(cli::normalize_args(std::env::args_os()));
    match dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            // Usage and input errors exit 2, like clap's own; everything else 1.
            let usage = matches!(
                e.downcast_ref::<nativebench::Error>(),
                Some(nativebench::Error::Config(_) | nativebench::Error::Workload { .. })
            );
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// The error and its causes on one line, each cause once: an error whose message already
/// quotes its source (`path: No such file or directory`) does not repeat it.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

fn dispatch(args: Cli) -> anyhow::Result<ExitCode> {
    match args.command {
        // Bare `nativebench` is `nativebench run` with every default.
        None => dispatch(Cli::parse_from(["nativebench", "run"])),
        Some(Command::Run(a)) => run(&a),
        Some(Command::Bench(a)) => {
            let stop = nativebench::session::stop_flag();
            cli::bench::run(&a, stop, &mut std::io::stdout().lock())?;
            Ok(if stop.load(std::sync::atomic::Ordering::Relaxed) {
                ExitCode::from(130)
            } else {
                ExitCode::SUCCESS
            })
        }
        Some(Command::Env(a)) => {
            let machine = nativebench::env::MachineInfo::detect();
            let build = nativebench::env::BuildInfo::current();
            match a.format {
                cli::OutputFormat::Table => {
                    print!("{}", nativebench::env::describe(&machine, &build))
                }
                cli::OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "machine": machine, "build": build })
                    )?
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Workloads) => {
            for name in nativebench::workload::builtin_names() {
                let w = nativebench::workload::WorkloadSpec::load(name)?;
                println!("{name:<15} {}", w.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report(a)) => Ok(cli::report::run(
            &a,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )?),
        Some(Command::Model(a)) => cli::model::run(a).map(|_| ExitCode::SUCCESS),
        Some(Command::Serve(a)) => {
            cli::serve::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::CheckAgreement(a)) => {
            cli::agreement::run(&a, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Compare(a)) => {
            let stop = nativebench::session::stop_flag();
            let outcome = cli::compare::run(&a, stop, &mut std::io::stdout().lock())?;
            Ok(if outcome.interrupted {
                ExitCode::from(130)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn run(args: &cli::run::RunArgs) -> anyhow::Result<ExitCode> {
    let config = args.validate()?;
    let stop = nativebench::session::stop_flag();
    let result = nativebench::session::execute(&config, stop, &mut std::io::stdout().lock())?;
    if result.interrupted {
        return Ok(ExitCode::from(130));
    }
    if result
        .runs
        .iter()
        .any(|(_, m)| m.metrics.num_requests > 0 && m.metrics.completed == 0)
    {
        eprintln!("error: every request failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
