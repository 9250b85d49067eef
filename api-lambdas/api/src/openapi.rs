//! The route contract as an OpenAPI 3.0 document, generated from
//! `routes.json` and the request rules in [`crate::domain`], so it cannot
//! drift from what the handlers serve. `cutover-api-local --openapi` prints
//! it; the schemathesis run in `./tests/run` fuzzes `api-local` with it.

use serde_json::{json, Value};

use crate::app::SERVED_BY;
use crate::domain::{
    ID_MAX_CHARS, MAPPING_MAX_ENTRIES, MAPPING_TARGET_MAX_CHARS, METADATA_KEY_MAX_CHARS, USER_CONTEXT_MAX_BYTES,
    WORKFLOW_MAPPING_MAX_BYTES,
};
use crate::routes::{contract, Function};

/// A path parameter's schema, as [`crate::domain::check_param`] checks it.
fn param_schema(name: &str) -> Value {
    match name {
        "key" => json!({
            "type": "string",
            "pattern": "^[A-Za-z0-9_.:-]+$",
            "minLength": 1,
            "maxLength": METADATA_KEY_MAX_CHARS,
            "not": { "enum": [".", ".."] },
        }),
        _ => json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]+$", "minLength": 1, "maxLength": ID_MAX_CHARS }),
    }
}

/// The body a PUT takes.
fn body_schema(function: Function) -> Option<Value> {
    match function {
        Function::PutUserContext => Some(json!({
            "type": "object",
            "description": format!("any JSON object of at most {USER_CONTEXT_MAX_BYTES} bytes"),
        })),
        Function::PutWorkflowMapping => Some(json!({
            "type": "object",
            "description": format!("step id → target, at most {WORKFLOW_MAPPING_MAX_BYTES} bytes"),
            "maxProperties": MAPPING_MAX_ENTRIES,
            "propertyNames": param_schema("step id"),
            "additionalProperties": { "type": "string", "minLength": 1, "maxLength": MAPPING_TARGET_MAX_CHARS },
        })),
        _ => None,
    }
}

/// The document.
pub fn document() -> Value {
    let served_by = json!({
        "required": true,
        "description": "the side that answered",
        "schema": { "type": "string", "enum": [contract().side] },
    });
    let headers = json!({ SERVED_BY.as_str(): served_by });
    let error = json!({
        "description": "what was wrong and what would pass",
        "headers": headers,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    });
    let success = |what: &str| {
        json!({
            "description": what,
            "headers": headers,
            "content": { "application/json": { "schema": { "type": "object" } } },
        })
    };
    let mut paths = serde_json::Map::new();
    for route in &contract().routes {
        let f = route.function;
        let mut parameters: Vec<Value> = route
            .params()
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": param_schema(name) }))
            .collect();
        let mut responses = serde_json::Map::new();
        responses.insert("200".into(), success("the item"));
        let mut operation = json!({ "operationId": f.name() });
        if let Some(schema) = body_schema(f) {
            responses.insert("201".into(), success("created"));
            parameters.push(json!({
                "name": "If-Match", "in": "header", "required": false,
                "description": "update only this version: the ETag a GET gave",
                "schema": { "type": "string", "pattern": "^\"[1-9][0-9]{0,18}\"$" },
            }));
            parameters.push(json!({
                "name": "If-None-Match", "in": "header", "required": false,
                "description": "create only: `*`",
                "schema": { "type": "string", "enum": ["*"] },
            }));
            operation["requestBody"] =
                json!({ "required": true, "content": { "application/json": { "schema": schema } } });
        }
        responses.insert("default".into(), error.clone());
        operation["parameters"] = Value::Array(parameters);
        operation["responses"] = Value::Object(responses);
        let item = paths.entry(route.path.clone()).or_insert_with(|| json!({}));
        item[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "cutover's serverless side",
            "version": "1",
            "description": "Generated from api-lambdas/routes.json: one Lambda function per operation.",
        },
        "paths": paths,
        "components": { "schemas": { "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": { "error": { "type": "string" }, "message": { "type": "string" } },
        } } },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_one_operation_named_by_its_function() {
        let doc = document();
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("an item") {
                operations.push((method.to_uppercase(), path.clone(), op["operationId"].as_str().map(str::to_owned)));
            }
        }
        let mut expected: Vec<_> = contract()
            .routes
            .iter()
            .map(|r| (r.method.to_string(), r.path.clone(), Some(r.function.name().to_owned())))
            .collect();
        operations.sort();
        expected.sort();
        assert_eq!(operations, expected);
    }
}
