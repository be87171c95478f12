//! Reading a raw NATS header block (`NATS/1.0[ status]\r\nName: value\r\n…`) as stored and
//! returned, base64-encoded, by `STREAM.MSG.GET`: bytes a publisher wrote, parsed without trusting
//! them. Depends on nothing but `serde_json`, so the fuzz targets in `fuzz/` compile it alone.

/// A raw NATS header block (`NATS/1.0[ status]\r\nName: value\r\n…`) as the `headers`
/// column's JSON. Never fails: a status on the version line is kept under `:status`, lines
/// without a `name:` under `:unparsed`, a block that does not start with `NATS/1.0` whole under
/// `:raw` (text not UTF-8 is replaced, lossily, as everywhere in that column). Linear in the
/// block's length.
pub fn header_block_json(block: &[u8]) -> Option<String> {
    if block.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(block);
    let mut map = serde_json::Map::new();
    let mut add = |name: &str, value: &str| {
        let entry = map
            .entry(name.to_string())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(values) = entry {
            values.push(serde_json::Value::String(value.to_string()));
        }
    };
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    match first.strip_prefix("NATS/1.0") {
        Some(status) => {
            if !status.trim().is_empty() {
                add(":status", status.trim());
            }
        }
        None => {
            add(":raw", &text);
            return Some(serde_json::Value::Object(map).to_string());
        }
    }
    for line in lines.filter(|l| !l.is_empty()) {
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                add(name, value.trim())
            }
            _ => add(":unparsed", line),
        }
    }
    (!map.is_empty()).then(|| serde_json::Value::Object(map).to_string())
}
