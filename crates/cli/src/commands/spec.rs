//! `ferry validate` and `ferry schema`.

use anyhow::Result;

use crate::cli::ValidateArgs;

pub fn validate(args: ValidateArgs) -> Result<u8> {
    let mut failed = 0;
    for file in &args.files {
        match ferry_spec::load(file) {
            Ok(w) => println!("{}: ok ({} {:?})", file.display(), w.name, w.kind),
            Err(e) => {
                eprintln!("{e}");
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
