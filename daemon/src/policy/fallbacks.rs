//! The `fallbacks` msclaw writes next to `primary`.

/// The `fallbacks` list to write with `active`: rotation models that are spent are left out, the
/// others follow the active model in rotation order (no more of them than the user listed);
/// entries of other providers keep their places.
pub fn plan_fallbacks(
    original: &[String],
    rotation: &[String],
    is_spent: impl Fn(&str) -> bool,
    active: &str,
) -> Vec<String> {
    let is_rotation = |m: &str| rotation.iter().any(|r| r == m);
    let slots = original.iter().filter(|m| is_rotation(m)).count();
    let start = rotation
        .iter()
        .position(|r| r == active)
        .map_or(0, |i| i + 1);
    let mut next = (0..rotation.len())
        .map(|i| &rotation[(start + i) % rotation.len()])
        .filter(|m| m.as_str() != active && !is_spent(m))
        .take(slots);
    let mut out = Vec::with_capacity(original.len());
    for entry in original {
        if is_rotation(entry) {
            if let Some(m) = next.next() {
                out.push(m.clone());
            }
        } else {
            out.push(entry.clone());
        }
    }
    out
}
