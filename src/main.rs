//! The `nativebench` binary: parse arguments, validate them into a command's config
//! (`cli`), run the command (`app`), and map the result to an exit status.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::Parser;
use nativebench::app::{self, OutputFormat};
use nativebench::cli::{self, Cli, Command};

/// Exit status of a run the user stopped, with its results kept (as a shell's SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let args = match Cli::try_parse_from(cli::normalize_args(std::env::args_os())) {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    match dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            // The library's errors say which status they mean; anything else is a
            // runtime failure.
            let code = e.downcast_ref::<nativebench::Error>().map_or(
                nativebench::error::EXIT_RUNTIME,
                nativebench::Error::exit_code,
            );
            ExitCode::from(code)
        }
    }
}

/// clap's own errors: help and version as clap prints them; a value outside its range
/// (`cli::ranged`) or not among the choices as one line, exit 2, as the library's usage
/// errors; other usage errors with clap's usage and tips.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or("error: invalid value");
            eprintln!("{line}");
            ExitCode::from(nativebench::error::EXIT_USAGE)
        }
        _ => e.exit(),
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

/// 130 when the user stopped the command, else success.
fn finished(interrupted: bool) -> ExitCode {
    if interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    }
}

fn dispatch(args: Cli) -> anyhow::Result<ExitCode> {
    let stdout = &mut std::io::stdout().lock();
    match args.command {
        // Bare `nativebench` is `nativebench run` with every default.
        None => dispatch(Cli::parse_from(["nativebench", "run"])),
        Some(Command::Run(a)) => {
            let config = a.validate()?;
            let result = app::run::execute(&config, app::stop_flag(), stdout)?;
            if result.interrupted {
                return Ok(finished(true));
            }
            if let Some(why) = &result.failure {
                eprintln!("error: {why}");
                return Ok(ExitCode::FAILURE);
            }
            if result.every_request_failed() {
                eprintln!("error: every request failed");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Bench(a)) => {
            let plan = a.validate()?;
            let stop = app::stop_flag();
            app::bench::run(&plan, stop, stdout)?;
            Ok(finished(stop.load(Ordering::Relaxed)))
        }
        Some(Command::Compare(a)) => {
            let config = a.validate()?;
            let outcome = app::compare::run(&config, app::stop_flag(), stdout)?;
            Ok(finished(outcome.interrupted))
        }
        Some(Command::Suite(a)) => {
            let config = a.validate()?;
            let result = app::suite::run(&config, app::stop_flag(), stdout)?;
            if result.interrupted {
                return Ok(finished(true));
            }
            if result
                .summary
                .is_some_and(|s| s.total_requests > 0 && s.successful_requests == 0)
            {
                eprintln!("error: every request failed");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Sweep(a)) => {
            let config = a.validate()?;
            let result = app::sweep::run(&config, app::stop_flag(), stdout)?;
            if result.interrupted {
                return Ok(finished(true));
            }
            if result.every_request_failed() {
                eprintln!("error: every request failed");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Preprocess(a)) => {
            app::preprocess::run(&a.validate()?, stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Ratio(a)) => {
            app::ratio::run(&a.validate()?, stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Serve(a)) => {
            app::serve::run(&a.validate()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report(a)) => Ok(app::report::run(
            &a.validate()?,
            stdout,
            &mut std::io::stderr().lock(),
        )?),
        Some(Command::Model(a)) => {
            app::model::run(&a.validate()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::CheckAgreement(a)) => {
            app::agreement::run(&a.validate()?, stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Env(a)) => {
            let machine = nativebench::env::MachineInfo::detect();
            let build = nativebench::env::BuildInfo::current();
            if a.probe {
                return probe(&a, &machine, stdout);
            }
            match a.format {
                OutputFormat::Table => {
                    write!(stdout, "{}", nativebench::env::describe(&machine, &build))?
                }
                OutputFormat::Json => writeln!(
                    stdout,
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "machine": machine, "build": build })
                    )?
                )?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Workloads) => {
            for name in nativebench::workload::builtin_names() {
                let w = nativebench::workload::WorkloadSpec::load(name)?;
                writeln!(stdout, "{name:<15} {}", w.description)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `env --probe`: measures this machine's limits and caches them.
fn probe(
    a: &nativebench::cli::EnvArgs,
    machine: &nativebench::env::MachineInfo,
    stdout: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    use nativebench::probe;
    let path = probe::default_path().ok_or_else(|| {
        nativebench::Error::Config(format!(
            "no place for the probe cache: set HOME or {}",
            probe::PROBE_VAR
        ))
    })?;
    let threads = a.probe_threads.unwrap_or(machine.cpu_cores);
    let measured = probe::measure(machine, threads, a.quick, &path)?;
    match a.format {
        OutputFormat::Table => write!(stdout, "{}", probe::render(&measured, &path))?,
        OutputFormat::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&measured)?)?,
    }
    Ok(ExitCode::SUCCESS)
}
