//! Writing a workload back as YAML (`ferry inspect`, rendering).
//!
//! serde_json already walks the model in field order and applies the serde
//! attributes (skipped defaults, `4Gi` strings); its text is valid YAML, so
//! saphyr loads it into an order-preserving tree and its emitter writes block
//! YAML (scripts as `|` literal blocks). The result parses back to an equal
//! workload.

use saphyr::{LoadableYamlNode, Yaml, YamlEmitter};

use crate::model::Workload;

/// The workload as a YAML document (no leading `---`), ending in a newline.
pub fn to_yaml(w: &Workload) -> String {
    match try_to_yaml(w) {
        Ok(s) => s,
        // Not reachable for a workload built by this crate; keep the output
        // a valid (if empty) YAML document rather than panicking.
        Err(e) => format!("# cannot render workload: {e}\n"),
    }
}

fn try_to_yaml(w: &Workload) -> Result<String, String> {
    let json = serde_json::to_string(w).map_err(|e| e.to_string())?;
    let docs = Yaml::load_from_str(&json).map_err(|e| e.to_string())?;
    let doc = docs.into_iter().next().ok_or("no document")?;
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(true);
    emitter.dump(&doc).map_err(|e| e.to_string())?;
    let mut body = out.strip_prefix("---\n").unwrap_or(&out).to_owned();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    Ok(body)
}
