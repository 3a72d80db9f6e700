//! Checks requests against GitHub's official REST description (`@octokit/openapi`,
//! `generated/api.github.com.json`): the path and method exist, query parameters are declared,
//! and the JSON body has only declared fields, of the declared types and enum values, with every
//! required field. `scripts/test` fetches the description; `SLIPWAY_GITHUB_OPENAPI` names it.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

pub struct Spec {
    root: Value,
}

pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = std::env::var_os("SLIPWAY_GITHUB_OPENAPI")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/openapi/api.github.com.json")
            });
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "GitHub's REST description is needed at {} ({e}); ./scripts/test fetches it \
                 (npm pack @octokit/openapi)",
                path.display()
            )
        });
        Spec {
            root: serde_json::from_slice(&bytes).unwrap(),
        }
    })
}

impl Spec {
    /// Every problem with one request; empty when it matches the description.
    pub fn problems(
        &self,
        method: &str,
        url_path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Vec<String> {
        let method = method.to_ascii_lowercase();
        let Some((template, operation)) = self.operation(&method, url_path) else {
            return vec![format!(
                "{method} {url_path}: no such operation in GitHub's REST description"
            )];
        };
        let at = format!("{method} {template}");
        let mut problems = Vec::new();
        let declared: Vec<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| self.resolve(p))
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap_or("");
            if !declared.contains(&name) {
                problems.push(format!("{at}: undeclared query parameter {name:?}"));
            }
        }
        let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
        match (body, schema.is_null()) {
            (Some(body), false) => {
                self.validate(schema, body, &format!("{at} body"), &mut problems)
            }
            (Some(body), true) if !body.is_null() => {
                problems.push(format!("{at}: sends a body the operation does not take"))
            }
            (None, false) if !self.resolve(schema)["required"].is_null() => {
                problems.push(format!("{at}: a body with required fields is missing"))
            }
            _ => {}
        }
        problems
    }

    /// The operation whose path template matches, preferring literal segments over parameters.
    fn operation(&self, method: &str, url_path: &str) -> Option<(String, &Value)> {
        let segments: Vec<&str> = url_path.trim_end_matches('/').split('/').collect();
        let mut best: Option<(usize, String, &Value)> = None;
        for (template, item) in self.root["paths"].as_object()? {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() || item.get(method).is_none() {
                continue;
            }
            let mut literal = 0;
            let fits = parts.iter().zip(&segments).all(|(t, s)| {
                if t.starts_with('{') {
                    !s.is_empty()
                } else {
                    literal += 1;
                    t == s
                }
            });
            if fits && best.as_ref().is_none_or(|(n, _, _)| literal > *n) {
                best = Some((literal, template.clone(), &item[method]));
            }
        }
        best.map(|(_, t, op)| (t, op))
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.resolve(self.root.pointer(pointer).unwrap_or(&Value::Null))
            }
            None => schema,
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if value.is_null() && schema["nullable"] == true {
            return;
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema[key].as_array() {
                let fits = options.iter().any(|option| {
                    let mut scratch = Vec::new();
                    self.validate(option, value, at, &mut scratch);
                    scratch.is_empty()
                });
                if !fits {
                    problems.push(format!("{at}: matches none of the {key} alternatives"));
                }
                return;
            }
        }
        if let Some(all) = schema["allOf"].as_array() {
            for part in all {
                self.validate(part, value, at, problems);
            }
            return;
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                problems.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        let kind = schema["type"].as_str().unwrap_or("");
        let fits = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        if !fits {
            problems.push(format!("{at}: {value} is not of type {kind}"));
            return;
        }
        if let (Some(object), "object") = (value.as_object(), kind) {
            let properties = schema["properties"].as_object();
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or("");
                if !object.contains_key(name) {
                    problems.push(format!("{at}: required field {name:?} is missing"));
                }
            }
            for (name, field) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(field_schema) => {
                        self.validate(field_schema, field, &format!("{at}.{name}"), problems)
                    }
                    None if properties.is_some()
                        && (schema["additionalProperties"].is_null()
                            || schema["additionalProperties"] == false) =>
                    {
                        problems.push(format!("{at}: undeclared field {name:?}"));
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), "array") = (value.as_array(), kind) {
            for (i, item) in items.iter().enumerate() {
                self.validate(&schema["items"], item, &format!("{at}[{i}]"), problems);
            }
        }
    }
}

/// Every request the fake GitHub received matches the description.
pub async fn assert_requests_match_github(server: &wiremock::MockServer) {
    let spec = spec();
    let mut problems = Vec::new();
    for request in server.received_requests().await.unwrap_or_default() {
        let body: Option<Value> = (!request.body.is_empty())
            .then(|| serde_json::from_slice(&request.body).expect("request bodies are JSON"));
        problems.extend(spec.problems(
            request.method.as_str(),
            request.url.path(),
            request.url.query().unwrap_or(""),
            body.as_ref(),
        ));
    }
    assert!(
        problems.is_empty(),
        "requests that GitHub's REST description refuses:\n{}",
        problems.join("\n")
    );
}
