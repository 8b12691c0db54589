//! Test helper: a tiny XML well-formedness check for the SVG output (no XML crate needed).

/// A tiny well-formedness check: balanced tags, quoted attributes, escaped text, one root.
pub(crate) fn check_xml(doc: &str) -> Result<usize, String> {
    let mut stack: Vec<&str> = Vec::new();
    let (mut rest, mut roots, mut elements) = (doc, 0, 0);
    let check_text = |t: &str| -> Result<(), String> {
        for (i, _) in t.match_indices('&') {
            let ent = &t[i..t[i..].find(';').map_or(t.len(), |j| i + j + 1)];
            if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&ent) {
                return Err(format!("bad entity in {t:?}"));
            }
        }
        Ok(())
    };
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        check_text(text)?;
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        let close = rest[i..].find('>').ok_or("unclosed tag")? + i;
        let tag = &rest[i + 1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('?') || tag.starts_with("!--") {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            (stack.pop() == Some(name.trim()))
                .then_some(())
                .ok_or(format!("mismatched </{name}>"))?;
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name = body.split_whitespace().next().ok_or("empty tag")?;
        let mut attrs = body[name.len()..].trim();
        while !attrs.is_empty() {
            let eq = attrs
                .find("=\"")
                .ok_or(format!("bad attribute in <{tag}>"))?;
            let end = attrs[eq + 2..].find('"').ok_or("unterminated attribute")? + eq + 2;
            let value = &attrs[eq + 2..end];
            if value.contains('<') {
                return Err(format!("'<' in attribute of <{name}>"));
            }
            check_text(value)?;
            attrs = attrs[end + 1..].trim_start();
        }
        elements += 1;
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest)?;
    match (stack.is_empty(), roots, rest.trim().is_empty()) {
        (true, 1, true) => Ok(elements),
        _ => Err(format!("unbalanced: open {stack:?}, {roots} roots")),
    }
}
