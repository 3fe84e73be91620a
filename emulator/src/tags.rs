//! Tag rules: validation at create time and `PATCH /vm/{h}/tags` updates.
//!
//! `name=<label>` is the VM's friendly name: a lowercase DNS label, set only
//! at create time and immutable afterwards.

use slicer_core::VmTagUpdate;

use crate::config::is_dns_label;

/// Prefix of the friendly-name tag.
pub(crate) const NAME_PREFIX: &str = "name=";

/// Longest tag accepted, in bytes.
const MAX_TAG_LEN: usize = 255;

/// The friendly name among `tags`, if any.
pub(crate) fn friendly_name(tags: &[String]) -> Option<&str> {
    tags.iter().find_map(|t| t.strip_prefix(NAME_PREFIX))
}

/// Checks one tag's syntax (and the label of a `name=` tag).
fn validate(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("tags must not be empty".to_owned());
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(format!("tag {tag:?} is longer than {MAX_TAG_LEN} bytes"));
    }
    if tag.chars().any(char::is_control) {
        return Err(format!("tag {tag:?} contains control characters"));
    }
    if let Some(label) = tag.strip_prefix(NAME_PREFIX) {
        if !is_dns_label(label) {
            return Err(format!(
                "invalid friendly name {label:?}: use 1-63 lowercase letters, digits and '-', not starting or ending with '-'"
            ));
        }
    }
    Ok(())
}

/// Validates create-time tags: each valid, at most one `name=`. Duplicates
/// are dropped, keeping the first occurrence's position.
pub(crate) fn for_create(tags: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        validate(tag)?;
        if tag.starts_with(NAME_PREFIX)
            && friendly_name(&out).is_some_and(|n| Some(n) != tag.strip_prefix(NAME_PREFIX))
        {
            return Err("a VM can have only one name= tag".to_owned());
        }
        if !out.contains(tag) {
            out.push(tag.clone());
        }
    }
    Ok(out)
}

/// Applies a tag update to `current`, returning the new tag list.
///
/// Rules: the update must change something; `replace` excludes `add` and
/// `remove`; `replace` keeps the `name=` tag and may not contain one;
/// `remove` may not name a `name=` tag; `add` may repeat the existing name
/// but not set or change one. Removals apply before additions.
pub(crate) fn apply(current: &[String], update: &VmTagUpdate) -> Result<Vec<String>, String> {
    let name_tag = current.iter().find(|t| t.starts_with(NAME_PREFIX));
    if let Some(replacement) = &update.replace {
        if !update.add.is_empty() || !update.remove.is_empty() {
            return Err("replace cannot be combined with add or remove".to_owned());
        }
        if let Some(tag) = replacement.iter().find(|t| t.starts_with(NAME_PREFIX)) {
            return Err(format!(
                "replace must not contain a name= tag ({tag:?}): the friendly name is immutable and kept automatically"
            ));
        }
        let mut out: Vec<String> = name_tag.into_iter().cloned().collect();
        for tag in replacement {
            validate(tag)?;
            if !out.contains(tag) {
                out.push(tag.clone());
            }
        }
        return Ok(out);
    }
    if update.add.is_empty() && update.remove.is_empty() {
        return Err("empty tag update: give add and/or remove, or replace".to_owned());
    }
    if let Some(tag) = update.remove.iter().find(|t| t.starts_with(NAME_PREFIX)) {
        return Err(format!(
            "cannot remove {tag:?}: the friendly name is immutable"
        ));
    }
    for tag in &update.add {
        validate(tag)?;
        if tag.starts_with(NAME_PREFIX) && Some(tag) != name_tag {
            return Err(match name_tag {
                Some(existing) => {
                    format!("cannot change {existing:?} to {tag:?}: the friendly name is immutable")
                }
                None => format!(
                    "cannot add {tag:?}: a friendly name can only be set when the VM is created"
                ),
            });
        }
    }
    let mut out: Vec<String> = current
        .iter()
        .filter(|t| !update.remove.contains(t))
        .cloned()
        .collect();
    for tag in &update.add {
        if !out.contains(tag) {
            out.push(tag.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|t| t.to_string()).collect()
    }

    fn update(add: &[&str], remove: &[&str], replace: Option<&[&str]>) -> VmTagUpdate {
        VmTagUpdate {
            add: s(add),
            remove: s(remove),
            replace: replace.map(s),
        }
    }

    #[test]
    fn create_rules() {
        assert_eq!(
            for_create(&s(&["a", "name=web", "a"])).unwrap(),
            s(&["a", "name=web"])
        );
        assert_eq!(
            for_create(&s(&["name=web", "name=web"])).unwrap(),
            s(&["name=web"])
        );
        assert!(for_create(&s(&["name=web", "name=db"]))
            .unwrap_err()
            .contains("only one"));
        assert!(for_create(&s(&["name=Web"]))
            .unwrap_err()
            .contains("friendly name"));
        assert!(for_create(&s(&["name="])).is_err());
        assert!(for_create(&s(&[""])).is_err());
        assert!(for_create(&s(&["a\nb"])).unwrap_err().contains("control"));
        assert!(for_create(&["x".repeat(256)])
            .unwrap_err()
            .contains("longer"));
    }

    #[test]
    fn add_and_remove() {
        let cur = s(&["name=web", "role=ci", "old"]);
        assert_eq!(
            apply(&cur, &update(&["new", "role=ci"], &["old", "absent"], None)).unwrap(),
            s(&["name=web", "role=ci", "new"])
        );
        assert_eq!(apply(&cur, &update(&["name=web"], &[], None)).unwrap(), cur);
        assert!(apply(&cur, &update(&[], &["name=web"], None))
            .unwrap_err()
            .contains("immutable"));
        assert!(apply(&cur, &update(&["name=db"], &[], None))
            .unwrap_err()
            .contains("immutable"));
        assert!(apply(&s(&["a"]), &update(&["name=db"], &[], None))
            .unwrap_err()
            .contains("created"));
        assert!(apply(&cur, &update(&[], &[], None))
            .unwrap_err()
            .contains("empty"));
        assert!(apply(&cur, &update(&[""], &[], None)).is_err());
    }

    #[test]
    fn replace_rules() {
        let cur = s(&["name=web", "role=ci"]);
        assert_eq!(
            apply(&cur, &update(&[], &[], Some(&[]))).unwrap(),
            s(&["name=web"])
        );
        assert_eq!(
            apply(&cur, &update(&[], &[], Some(&["x", "x"]))).unwrap(),
            s(&["name=web", "x"])
        );
        assert_eq!(
            apply(&s(&["a"]), &update(&[], &[], Some(&["b"]))).unwrap(),
            s(&["b"])
        );
        assert!(apply(&cur, &update(&[], &[], Some(&["name=web"])))
            .unwrap_err()
            .contains("name="));
        assert!(apply(&cur, &update(&["x"], &[], Some(&["y"])))
            .unwrap_err()
            .contains("combined"));
        assert!(apply(&cur, &update(&[], &["x"], Some(&["y"])))
            .unwrap_err()
            .contains("combined"));
    }
}
