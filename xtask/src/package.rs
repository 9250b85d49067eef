//! `cargo xtask package-lambdas`: one ARM64 `bootstrap.zip` per function,
//! built by cargo-lambda with the `lambda` profile, each checked to hold
//! exactly the aarch64 binary that was built, executable, named `bootstrap`,
//! linking only what the function's contract needs.

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
        links_only_its_contract(function, &binary).with_context(|| binary_path.display().to_string())?;
        println!("{name:<22} {:>10} {:>12}  ELF 64-bit {machine}", mebibytes(zip_bytes.len()), mebibytes(binary.len()));
    }
    println!("\n{} zips in {LAMBDA_DIR}/<function>/bootstrap.zip, each checked.", Function::ALL.len());
    Ok(())
}

/// Each function links only what its contract needs: the DynamoDB SDK
/// when it has DynamoDB actions, an HTTP client when it calls the backend,
/// never the SDK's default credential chain (STS). Told by the source
/// paths the compiler leaves in a binary, stripped or not (panic locations
/// name the crate and its version: `…/aws-sdk-dynamodb-1.136.0/src/…`).
fn links_only_its_contract(function: Function, binary: &[u8]) -> anyhow::Result<()> {
    let route = function.route();
    let links = |krate: &str| binary.windows(krate.len()).any(|w| w == krate.as_bytes());
    for (krate, wanted) in
        [("/aws-sdk-dynamodb-", !route.dynamodb.is_empty()), ("/reqwest-", route.backend), ("/aws-sdk-sts-", false)]
    {
        let name = krate.trim_matches(|c| c == '/' || c == '-');
        ensure!(
            links(krate) == wanted,
            "{} {name}, but its contract (api-lambdas/routes.json) {}",
            if wanted { "does not link" } else { "links" },
            if wanted { "needs it" } else { "does not" }
        );
    }
    Ok(())
}

/// Where `package-controller` puts the controller's binary for the
/// instances of `infra/modules/controller` (its `binary_path`).
pub const CONTROLLER_BINARY: &str = "target/controller/cutover-aarch64";

/// `cutover` with the AWS adapters, for ARM64 Linux (Graviton, Amazon Linux
/// 2023), cross-built by cargo-lambda's zig linker in the functions'
/// shipping profile (`lambda`: release, no debug info, stripped), so it
/// shares their compiled ARM64 dependencies.
pub fn controller() -> anyhow::Result<()> {
    let root = root();
    eprintln!(
        "package-controller: cargo lambda build --profile {PROFILE} --arm64 --package cutover --features aws \
         (the first build takes minutes)"
    );
    let staging = "target/controller/staging";
    run_command(
        Command::new("cargo")
            .current_dir(&root)
            .env("PATH", venv_path())
            .args(["lambda", "build", "--profile", PROFILE, "--arm64", "--package", "cutover", "--bin", "cutover"])
            .args(["--features", "aws", "--lambda-dir", staging]),
    )?;
    // cargo-lambda moves what it built to <lambda-dir>/<binary>/bootstrap.
    let built = root.join(staging).join("cutover/bootstrap");
    let binary = std::fs::read(&built).with_context(|| format!("read {}", built.display()))?;
    let machine = zip::elf_machine(&binary).with_context(|| built.display().to_string())?;
    ensure!(machine == "ARM aarch64", "{} is built for {machine}, not ARM aarch64", built.display());
    // Amazon Linux 2023 has glibc 2.34: a symbol from a newer one would stop
    // the binary at its first start on the instance.
    let newest = glibc_minors(&binary).max().context("no GLIBC_2.x symbol version: not a glibc binary")?;
    ensure!(newest <= 34, "{} needs GLIBC_2.{newest}; Amazon Linux 2023 has 2.34", built.display());
    let target = root.join(CONTROLLER_BINARY);
    std::fs::rename(&built, &target).with_context(|| format!("move {} to {}", built.display(), target.display()))?;
    println!("{CONTROLLER_BINARY}: {}, ELF 64-bit {machine}, needs glibc 2.{newest}", mebibytes(binary.len()));
    Ok(())
}

/// The minor versions of the `GLIBC_2.x` symbol versions a binary names.
fn glibc_minors(binary: &[u8]) -> impl Iterator<Item = u32> + '_ {
    const TAG: &[u8] = b"GLIBC_2.";
    binary.windows(TAG.len()).enumerate().filter(|(_, w)| *w == TAG).filter_map(|(at, _)| {
        let digits = binary[at + TAG.len()..].iter().take_while(|b| b.is_ascii_digit()).count();
        std::str::from_utf8(&binary[at + TAG.len()..at + TAG.len() + digits]).ok()?.parse().ok()
    })
}

pub fn mebibytes(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
