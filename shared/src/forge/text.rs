//! Cutting texts to the limits forges impose, without breaking a character or a line.

use std::borrow::Cow;

/// At most `max_bytes` bytes of `s`, cut on a UTF-8 character boundary.
pub fn cut_bytes(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// At most `max_chars` characters; a cut text ends with `…` (counted in the limit).
pub fn cut_chars(s: &str, max_chars: usize) -> Cow<'_, str> {
    if s.chars().count() <= max_chars {
        return Cow::Borrowed(s);
    }
    let kept: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    Cow::Owned(format!("{kept}…"))
}

/// A comment body that fits in `max_chars`: cut at the last whole line that leaves room for
/// `note` (the text saying so, from `render`).
pub fn fit_comment<'a>(body: &'a str, max_chars: usize, note: &str) -> Cow<'a, str> {
    if body.chars().count() <= max_chars {
        return Cow::Borrowed(body);
    }
    let room = max_chars.saturating_sub(note.chars().count() + 1);
    let byte_room = body.char_indices().nth(room).map_or(body.len(), |(i, _)| i);
    let head = &body[..byte_room];
    match head.rfind('\n') {
        Some(newline) => Cow::Owned(format!("{}{note}", &head[..=newline])),
        None => Cow::Owned(format!("{head}\n{note}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_bytes_never_splits_a_character() {
        let s = "aé€😀";
        assert_eq!(cut_bytes(s, 100), s);
        assert_eq!(cut_bytes(s, 1), "a");
        assert_eq!(cut_bytes(s, 2), "a", "é is two bytes");
        assert_eq!(cut_bytes(s, 3), "aé");
        assert_eq!(cut_bytes(s, 5), "aé");
        assert_eq!(cut_bytes(s, 6), "aé€");
        assert_eq!(cut_bytes(s, 9), "aé€");
        assert_eq!(cut_bytes(s, 10), s);
    }

    #[test]
    fn cut_chars_counts_characters_and_marks_the_cut() {
        assert_eq!(cut_chars("short", 140), "short");
        let long = "é".repeat(200);
        let cut = cut_chars(&long, 140);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn fit_comment_cuts_at_a_line_and_links_the_full_text() {
        let body: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let none = crate::render::comment_cut_note(None);
        assert_eq!(fit_comment(&body, 10_000, &none), body.as_str());
        let note = crate::render::comment_cut_note(Some("https://ci.example/runs/7"));
        let fitted = fit_comment(&body, 300, &note);
        assert!(fitted.chars().count() <= 300, "{}", fitted.chars().count());
        assert!(fitted.starts_with("line 0\n"));
        assert!(fitted.contains("https://ci.example/runs/7"));
        let before_note = fitted.split("\n\n_").next().unwrap();
        assert!(
            before_note.lines().all(|l| l.starts_with("line ")),
            "whole lines only"
        );
    }

    #[test]
    fn fit_comment_without_newlines_still_fits() {
        let body = "x".repeat(1000);
        let fitted = fit_comment(&body, 200, &crate::render::comment_cut_note(None));
        assert!(fitted.chars().count() <= 200);
    }
}
