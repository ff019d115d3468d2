//! `ferry validate` and `ferry schema`.

use anyhow::Result;

use crate::cli::ValidateArgs;

/// Check each file and print every problem it has, so that one round of
/// fixes is enough; exit 1 when any file has one.
pub fn validate(args: ValidateArgs) -> Result<u8> {
    let mut failed = 0;
    for file in &args.files {
        match ferry_spec::check_file(file) {
            Ok(w) => println!("{}: ok ({} {:?})", file.display(), w.name, w.kind),
            Err(problems) => {
                for p in &problems {
                    eprintln!("{p}");
                }
                if problems.len() > 1 {
                    eprintln!("{}: {} problems", file.display(), problems.len());
                }
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

pub fn schema() -> Result<u8> {
    println!("{}", serde_json::to_string_pretty(&ferry_spec::json_schema())?);
    Ok(0)
}
