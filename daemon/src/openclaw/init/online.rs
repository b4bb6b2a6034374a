//! `--check-online`: which models ModelScope's `/models` listing (free and keyless) no longer
//! serves. The request itself is the ctl's; this reads the answer.

use serde_json::Value;

/// The ids of `/v1/models`' answer (`{ data: [ { id } ] }`) that are missing among `ids`, in
/// order. `Err` when the body is not such a list.
pub fn missing_from_listing<'a>(body: &Value, ids: &[&'a str]) -> Result<Vec<&'a str>, String> {
    let Some(Value::Array(data)) = body.get("data") else {
        return Err("the answer has no `data` list".into());
    };
    let served: Vec<&str> = data.iter().filter_map(|m| m.get("id")?.as_str()).collect();
    Ok(ids
        .iter()
        .copied()
        .filter(|id| !served.contains(id))
        .collect())
}
