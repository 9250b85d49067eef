//! `cargo xtask package-lambdas`: one ARM64 `bootstrap.zip` per function,
//! built by cargo-lambda with the `lambda` profile, each checked to hold
//! exactly the aarch64 binary that was built, executable, named `bootstrap`.

use std::process::Command;

use anyhow::{ensure, Context as _};
use cutover_api::routes::Function;

use crate::{root, run as run_command, venv_path, zip, ARM64};

/// Where the zips go: `target/lambda-zips/<function>/bootstrap.zip` (not
/// cargo-lambda's default `target/lambda`, which is where cargo puts the
/// host build of the `lambda` profile that the benchmark runs). Terraform
/// (`infra/`) reads them from there.
pub const LAMBDA_DIR: &str = "target/lambda-zips";
const PROFILE: &str = "lambda";

pub fn run() -> anyhow::Result<()> {
    let root = root();
    eprintln!("package-lambdas: cargo lambda build --profile {PROFILE} --arm64 (the first build takes minutes)");
    run_command(
        Command::new("cargo")
            .current_dir(&root)
            .env("PATH", venv_path())
            .args(["lambda", "build", "--profile", PROFILE, "--arm64", "--package", "cutover-api-lambda"])
            .args(["--output-format", "zip", "--lambda-dir", LAMBDA_DIR]),
    )?;

    println!("{:<22} {:>10} {:>12}  machine", "function", "zip", "bootstrap");
    for function in Function::ALL {
        let name = function.name();
        let zip_path = root.join(LAMBDA_DIR).join(name).join("bootstrap.zip");
        let binary_path = root.join("target").join(ARM64).join(PROFILE).join(name);
        let zip_bytes = std::fs::read(&zip_path).with_context(|| format!("read {}", zip_path.display()))?;
        let binary = std::fs::read(&binary_path).with_context(|| format!("read {}", binary_path.display()))?;
        let machine = zip::elf_machine(&binary).with_context(|| binary_path.display().to_string())?;
        ensure!(machine == "ARM aarch64", "{} is built for {machine}, not ARM aarch64", binary_path.display());
        let entries = zip::entries(&zip_bytes).with_context(|| zip_path.display().to_string())?;
        let [entry] = entries.as_slice() else {
            anyhow::bail!("{} holds {} entries; Lambda wants one, bootstrap", zip_path.display(), entries.len());
        };
        ensure!(entry.name == "bootstrap", "{}: the entry is {:?}, not bootstrap", zip_path.display(), entry.name);
        ensure!(
            entry.size == binary.len() as u64 && entry.crc32 == zip::crc32(&binary),
            "{}: bootstrap is not the binary just built ({})",
            zip_path.display(),
            binary_path.display()
        );
        ensure!(entry.mode.is_some_and(|m| m & 0o111 != 0), "{}: bootstrap is not executable", zip_path.display());
        println!("{name:<22} {:>10} {:>12}  ELF 64-bit {machine}", mebibytes(zip_bytes.len()), mebibytes(binary.len()));
    }
    println!("\n{} zips in {LAMBDA_DIR}/<function>/bootstrap.zip, each checked.", Function::ALL.len());
    Ok(())
}

pub fn mebibytes(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
