//! Project tasks, run as `cargo xtask <task>`:
//!
//! * `setup` — installs what the tests and the packaging need: `.venv` from
//!   `requirements-dev.txt`, `.venv-tools` from `requirements-tools.txt`,
//!   chromium, tmux and systemd (for `systemd-analyze verify`) from Debian's
//!   packages when missing, the AWS provider's schema (from its CDK for
//!   Terraform package on npm), the ARM64 Rust target.
//! * `package-lambdas` — builds one ARM64 `bootstrap.zip` per function of
//!   `api-lambdas/routes.json` with cargo-lambda, into `target/lambda-zips/<function>/`
//!   (where Terraform reads them), and checks each zip.
//! * `package-controller` — builds `cutover` (with the AWS adapters) for
//!   ARM64 Linux into `target/controller/cutover-aarch64`, where the
//!   Terraform controller module uploads it from.
//! * `bench-cold-start` — starts each function binary many times against a
//!   local Lambda Runtime API and prints init and first-answer times, binary
//!   size and peak memory.
//! * `bench-page` — the web dashboard of a finished 48-hour cutover in
//!   headless chromium: first render and bytes transferred.
//! * `fuzz` — every fuzz target, longer than `./tests/run` runs them.

#![forbid(unsafe_code)]

mod bench;
mod bench_page;
mod fuzz;
mod package;
mod zip;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install the test and packaging tools into the project (.venv, Rust target).
    Setup,
    /// Build an ARM64 bootstrap.zip per Lambda function into target/lambda-zips/<function>/.
    PackageLambdas,
    /// Build cutover (with the AWS adapters) for ARM64 Linux into target/controller/cutover-aarch64.
    PackageController,
    /// Measure each function's cold start against a local Lambda Runtime API.
    BenchColdStart {
        /// Process starts per function.
        #[arg(long, default_value_t = 50)]
        starts: usize,
        /// Only these functions (comma-separated names from routes.json).
        #[arg(long, value_delimiter = ',')]
        functions: Vec<String>,
        /// Also run get-user-context written in Node.js (AWS SDK v3) under the
        /// same harness, and print the ratio (installs the SDK with npm).
        #[arg(long)]
        node: bool,
        /// Also measure the binaries in this directory (an earlier build's
        /// target/lambda), alternating starts, and print the ratios.
        #[arg(long, value_name = "DIR")]
        baseline: Option<PathBuf>,
    },
    /// The web dashboard of a finished 48-hour cutover in headless chromium:
    /// first render and bytes transferred.
    BenchPage {
        /// Fresh page loads to measure.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Run the demo again for the cutover to draw (else the last one's store is reused).
        #[arg(long)]
        fresh: bool,
    },
    /// Every fuzz target (plan decoder, cohort parsing, the API handlers, the control API, the
    /// Lambda functions' events) with many more cases than ./tests/run, and schemathesis.
    Fuzz {
        /// Cases per property-based target.
        #[arg(long, default_value_t = 20_000)]
        cases: u32,
        /// schemathesis examples per operation of api-local.
        #[arg(long, default_value_t = 2_000)]
        schemathesis_examples: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup(true),
        Task::PackageLambdas => setup(true).and_then(|()| package::run()),
        Task::PackageController => setup(true).and_then(|()| package::controller()),
        Task::BenchColdStart { starts, functions, node, baseline } => {
            setup(false).and_then(|()| bench::run(starts, &functions, node, baseline.as_deref()))
        }
        Task::BenchPage { runs, fresh } => setup(false).and_then(|()| bench_page::run(runs, fresh)),
        Task::Fuzz { cases, schemathesis_examples } => {
            setup(false).and_then(|()| fuzz::run(cases, schemathesis_examples))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace root").to_path_buf()
}

const ARM64: &str = "aarch64-unknown-linux-gnu";

/// Makes `.venv` match `requirements-dev.txt` (a stamp file skips pip when
/// nothing changed) and, with `arm64`, adds the ARM64 Rust target.
fn setup(arm64: bool) -> anyhow::Result<()> {
    venv(".venv", "requirements-dev.txt")?;
    // checkov pins versions (packaging, its own HCL parser) that the
    // tools above need newer or different: it lives in a venv of its own.
    venv(".venv-tools", "requirements-tools.txt")?;
    system_packages()?;
    provider_schema()?;
    if arm64 {
        let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
        let installed = installed.context("run rustup (the Rust toolchain installer)")?;
        if !String::from_utf8_lossy(&installed.stdout).lines().any(|t| t.trim() == ARM64) {
            eprintln!("setup: adding the Rust target {ARM64}");
            run(Command::new("rustup").args(["target", "add", ARM64]))?;
        }
    }
    Ok(())
}

/// The AWS provider release the Terraform is checked against, and the npm
/// package of the CDK for Terraform generated from its schema
/// (`@cdktf/provider-aws` 19.65.1 is hashicorp/aws 5.99.1).
const PROVIDER_SCHEMA: &str = "target/provider-schema/aws-5.99.1.json";
const PROVIDER_PACKAGE: &str = "@cdktf/provider-aws@19.65.1";

/// Reduces the provider package's jsii manifest (120 MB) to the arguments
/// and blocks of each resource and data source (1.5 MB), once:
/// `infra/tests/test_terraform.py` checks every `aws_*` block against it.
fn provider_schema() -> anyhow::Result<()> {
    let root = root();
    if root.join(PROVIDER_SCHEMA).exists() {
        return Ok(());
    }
    eprintln!("setup: the AWS provider's schema from npm ({PROVIDER_PACKAGE}, 34 MB) into {PROVIDER_SCHEMA}");
    let dir = root.join("target/provider-schema/download");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).context("create target/provider-schema")?;
    run(Command::new("npm").args(["pack", "--silent", PROVIDER_PACKAGE, "--pack-destination"]).arg(&dir))?;
    let tarball = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .context("npm pack wrote no .tgz")?;
    run(Command::new("tar").arg("-xzf").arg(&tarball).arg("-C").arg(&dir).arg("package/.jsii"))?;
    run(Command::new(root.join(".venv/bin/python"))
        .arg(root.join("infra/tests/provider_schema.py"))
        .arg(dir.join("package/.jsii"))
        .arg(root.join(PROVIDER_SCHEMA)))?;
    std::fs::remove_dir_all(&dir).context("remove the download")?;
    Ok(())
}

/// The programs the live-view tests drive, from Debian's packages: the
/// browser the dashboard test runs (Playwright drives the system chromium)
/// and the terminal `cutover watch` is tested in.
const SYSTEM_PACKAGES: [(&str, &str); 3] =
    [("chromium", "/usr/bin/chromium"), ("tmux", "/usr/bin/tmux"), ("systemd", "/usr/bin/systemd-analyze")];

/// Installs what `SYSTEM_PACKAGES` lacks with apt-get (as root, or through
/// sudo), reading the package lists first only if the install fails.
fn system_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> =
        SYSTEM_PACKAGES.iter().filter(|(_, path)| !Path::new(path).exists()).map(|(name, _)| *name).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("setup: installing {} with apt-get (the live-view tests drive them)", missing.join(", "));
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut command = if root { Command::new("apt-get") } else { Command::new("sudo") };
        if !root {
            command.args(["-n", "apt-get"]);
        }
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    let install = |apt: &dyn Fn(&[&str]) -> Command| {
        let mut command = apt(&["install", "-y", "-q"]);
        command.args(&missing);
        run(&mut command)
    };
    if install(&apt).is_err() {
        run(&mut apt(&["update", "-q"]))?;
        install(&apt).with_context(|| {
            format!("install {} (apt-get as root or with sudo; or install them yourself)", missing.join(", "))
        })?;
    }
    Ok(())
}

/// Makes the virtualenv `dir` match `requirements` (a stamp file skips pip
/// when nothing changed).
fn venv(dir: &str, requirements: &str) -> anyhow::Result<()> {
    let root = root();
    let venv = root.join(dir);
    let wanted = std::fs::read_to_string(root.join(requirements)).with_context(|| format!("read {requirements}"))?;
    let stamp = venv.join(".installed-requirements");
    if !venv.join("bin/python").exists() {
        eprintln!("setup: creating {dir}");
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        eprintln!("setup: installing {requirements} into {dir}");
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(root.join(requirements)))?;
        std::fs::write(&stamp, &wanted).with_context(|| format!("write the {dir} stamp"))?;
    }
    Ok(())
}

/// Runs a command to completion, failing with its name if it fails.
fn run(command: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{command:?}");
    let status = command.status().with_context(|| format!("start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// `PATH` with the project's `.venv/bin` first, so cargo-lambda and zig
/// are the pinned ones.
fn venv_path() -> std::ffi::OsString {
    let mut paths = vec![root().join(".venv/bin")];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).unwrap_or_default()
}
