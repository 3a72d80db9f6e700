//! The JSON document inside a delivery's body, whatever the content type that carried it.

use std::borrow::Cow;

use http::HeaderMap;

use super::{header_str, Rejection};
use crate::model::event::ForgeKind;

/// The JSON payload: the body itself, or GitHub's form encoding's `payload` field.
/// A missing content type is read as JSON, as forges have always sent it.
pub(super) fn json_payload<'b>(
    forge: ForgeKind,
    headers: &HeaderMap,
    body: &'b [u8],
) -> Result<Cow<'b, [u8]>, Rejection> {
    let content_type = match headers.get(http::header::CONTENT_TYPE) {
        None => return Ok(Cow::Borrowed(body)),
        Some(v) => v.to_str().unwrap_or(""),
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" => Ok(Cow::Borrowed(body)),
        "application/x-www-form-urlencoded" if forge == ForgeKind::Github => {
            form_payload(body).map(|json| Cow::Owned(json.into_bytes()))
        }
        _ => Err(Rejection::UnsupportedMediaType(
            header_str(headers, "content-type")
                .unwrap_or("(not text)")
                .chars()
                .take(100)
                .collect(),
        )),
    }
}

fn form_payload(body: &[u8]) -> Result<String, Rejection> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| {
            Rejection::Malformed("form-encoded delivery without a `payload` field".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", value.parse().unwrap());
        headers
    }

    #[test]
    fn json_with_charset_is_borrowed_as_is() {
        let body = br#"{"a":1}"#;
        let got = json_payload(
            ForgeKind::Github,
            &with_type("Application/JSON; charset=utf-8"),
            body,
        )
        .unwrap();
        assert!(matches!(got, Cow::Borrowed(_)));
        assert_eq!(&*got, body);
    }

    #[test]
    fn missing_content_type_reads_as_json() {
        let got = json_payload(ForgeKind::Gitlab, &HeaderMap::new(), b"{}").unwrap();
        assert_eq!(&*got, b"{}");
    }

    #[test]
    fn github_form_encoding_yields_the_payload_field() {
        let body = b"payload=%7B%22zen%22%3A%22a+b%22%7D";
        let headers = with_type("application/x-www-form-urlencoded");
        let got = json_payload(ForgeKind::Github, &headers, body).unwrap();
        assert_eq!(&*got, br#"{"zen":"a b"}"#);
    }

    #[test]
    fn form_without_payload_is_malformed() {
        let headers = with_type("application/x-www-form-urlencoded");
        let err = json_payload(ForgeKind::Github, &headers, b"other=1").unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn other_types_are_unsupported() {
        for forge in [ForgeKind::Github, ForgeKind::Gitlab] {
            let err = json_payload(forge, &with_type("text/plain"), b"{}").unwrap_err();
            assert_eq!(err.status(), 415);
        }
        let form = with_type("application/x-www-form-urlencoded");
        let err = json_payload(ForgeKind::Gitlab, &form, b"payload=%7B%7D").unwrap_err();
        assert_eq!(err.status(), 415, "GitLab never form-encodes");
    }
}
