//! Repair of SysArmor templates that sysdig `-p` broke with unescaped characters (raw `"`, `\`,
//! newlines in values): the fields are recovered from the template's fixed layout, in time
//! linear in the payload.

use super::*;

/// Recovers the fields of `{"event":{"k":"v",…}}` whose values contain raw `"`, `\` or newlines.
/// Values run from one `","<sysdig key>":"` separator to the next; the last ends at `"}}`.
pub(super) fn repair_template(body: &[u8]) -> Option<Event<'_>> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let inner = text.strip_prefix("{\"event\":{\"")?.strip_suffix("\"}}")?;
    // inner: k1":"v1","k2":"v2",…,"kn":"vn
    let mut event = Event::default();
    let mut found = 0;
    let mut rest = inner;
    loop {
        let (key, after_key) = rest.split_once("\":\"")?;
        if !is_sysdig_key(key) {
            return None;
        }
        let (value, next) = match find_next_separator(after_key) {
            Some((end, next_start)) => (&after_key[..end], Some(&after_key[next_start..])),
            None => (after_key, None),
        };
        if set_sysdig_field(&mut event, key, Scalar::Str(Cow::Borrowed(value))) {
            found += 1;
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    (found > 0).then_some(event)
}

/// Finds the next `","<key>":"` in `s`; returns where the value ends and where the key starts.
/// A key is at most [`MAX_KEY`] bytes, so each candidate separator costs a bounded look ahead and
/// the whole repair stays linear in the payload, whatever an adversary repeats in it.
pub(super) fn find_next_separator(s: &str) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(pos) = s[from..].find("\",\"") {
        let at = from + pos;
        let key_start = at + 3;
        let window = &bytes[key_start..(key_start + MAX_KEY + 3).min(bytes.len())];
        #[cfg(test)]
        LOOKAHEAD.with(|n| n.set(n.get() + window.len()));
        if let Some(key_len) = window.windows(3).position(|w| w == b"\":\"") {
            // Both ends of the key sit next to ASCII quotes: valid char boundaries.
            if is_sysdig_key(&s[key_start..key_start + key_len]) {
                return Some((at, key_start));
            }
        }
        from = at + 1;
    }
    None
}

/// The longest sysdig field name the repair accepts.
pub(super) const MAX_KEY: usize = 64;

#[cfg(test)]
thread_local! {
    /// Bytes the separator search looked ahead, for the linearity test.
    pub(super) static LOOKAHEAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// `evt.num`, `proc.pcmdline`, `fd.cip`, `k8s.pod.name`: lowercase words joined by dots.
pub(super) fn is_sysdig_key(k: &str) -> bool {
    k.contains('.')
        && k.len() <= MAX_KEY
        && k.split('.').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}
