//! The route contract: `api-lambdas/routes.json`, parsed once.
//!
//! The file says where each function lives (method and path), which DynamoDB
//! actions its role may use and whether it calls the backend. This module
//! says what each function *does* ([`Function`]) and finds the route a
//! request is for. The contract is compiled in, and a test checks that it
//! names every [`Function`] exactly once.

use std::sync::LazyLock;

use http::Method;
use serde::Deserialize;

/// The contract's text, as committed.
pub const CONTRACT_JSON: &str = include_str!("../../routes.json");

/// One function per route: the Express monolith, decomposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Health,
    GetUserContext,
    PutUserContext,
    GetMetadata,
    GetWorkflowMapping,
    PutWorkflowMapping,
    GetReport,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::Health,
        Function::GetUserContext,
        Function::PutUserContext,
        Function::GetMetadata,
        Function::GetWorkflowMapping,
        Function::PutWorkflowMapping,
        Function::GetReport,
    ];

    /// The function's name in the contract, in Terraform and as a binary.
    pub const fn name(self) -> &'static str {
        match self {
            Function::Health => "health",
            Function::GetUserContext => "get-user-context",
            Function::PutUserContext => "put-user-context",
            Function::GetMetadata => "get-metadata",
            Function::GetWorkflowMapping => "get-workflow-mapping",
            Function::PutWorkflowMapping => "put-workflow-mapping",
            Function::GetReport => "get-report",
        }
    }

    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// This function's route in the contract.
    pub fn route(self) -> &'static Route {
        contract()
            .routes
            .iter()
            .find(|r| r.function == self)
            .expect("the contract test checks every function has a route")
    }
}

/// The whole contract.
#[derive(Debug)]
pub struct Contract {
    /// The value of the `x-served-by` header on every answer of this side.
    pub side: String,
    pub partition_key: String,
    pub ttl_attribute: String,
    pub routes: Vec<Route>,
}

#[derive(Debug)]
pub struct Route {
    pub function: Function,
    pub method: Method,
    /// As written in the contract, e.g. `/api/users/{userId}/context`.
    pub path: String,
    segments: Vec<Segment>,
    /// IAM action names, e.g. `dynamodb:GetItem`.
    pub dynamodb: Vec<String>,
    /// Every key this function touches starts with this prefix.
    pub key_prefix: Option<String>,
    pub backend: bool,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A path parameter, as taken from the request path (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub value: String,
}

/// What a request's method and path lead to.
#[derive(Debug)]
pub enum Lookup {
    Found(&'static Route, Vec<Param>),
    /// The path is known but not for this method: these methods are.
    MethodNotAllowed(Vec<&'static Method>),
    /// The path is known but a parameter is not valid percent-encoding.
    BadEncoding(&'static str),
    NotFound,
}

/// The contract, parsed on first use.
pub fn contract() -> &'static Contract {
    static CONTRACT: LazyLock<Contract> =
        LazyLock::new(|| parse(CONTRACT_JSON).unwrap_or_else(|e| panic!("api-lambdas/routes.json: {e}")));
    &CONTRACT
}

/// Finds the route for `method` and `path` (no query string). Like Express,
/// one trailing slash is ignored; literal segments are case-sensitive, as
/// CloudFront's path patterns are.
pub fn lookup(method: &Method, path: &str) -> Lookup {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let mut allowed = Vec::new();
    for route in &contract().routes {
        let Some(raw) = route.capture(path) else { continue };
        if route.method != *method {
            allowed.push(&route.method);
            continue;
        }
        let mut params = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            match percent_decode(value) {
                Some(value) => params.push(Param { name, value }),
                None => return Lookup::BadEncoding(name),
            }
        }
        return Lookup::Found(route, params);
    }
    if allowed.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::MethodNotAllowed(allowed)
    }
}

impl Route {
    /// The raw values of the parameters if `path` has this route's shape.
    fn capture<'p>(&'static self, path: &'p str) -> Option<Vec<(&'static str, &'p str)>> {
        let mut parts = path.strip_prefix('/')?.split('/');
        let mut params = Vec::new();
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(lit) if lit == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(_) if part.is_empty() => return None,
                Segment::Param(name) => params.push((name.as_str(), part)),
            }
        }
        parts.next().is_none().then_some(params)
    }

    /// The concrete path of this route for the given parameter values, in
    /// order (the values are inserted as they are).
    pub fn path_for(&self, values: &[&str]) -> String {
        let mut values = values.iter();
        let mut path = String::new();
        for segment in &self.segments {
            path.push('/');
            match segment {
                Segment::Literal(lit) => path.push_str(lit),
                Segment::Param(_) => path.push_str(values.next().copied().unwrap_or_default()),
            }
        }
        path
    }

    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is
/// not UTF-8 (Express answers 400 to both).
pub fn percent_decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("routes[{index}].{field}: {message}")]
    Route { index: usize, field: &'static str, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    #[serde(rename = "about")]
    _about: String,
    side: String,
    table: RawTable,
    routes: Vec<RawRoute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    partition_key: String,
    ttl_attribute: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    function: String,
    method: String,
    path: String,
    dynamodb: Vec<String>,
    key_prefix: Option<String>,
    backend: bool,
}

/// Parses and checks a contract: every function known and listed once,
/// paths well formed, actions spelled as IAM actions.
pub fn parse(json: &str) -> Result<Contract, ContractError> {
    let raw: RawContract = serde_json::from_str(json)?;
    let mut routes = Vec::with_capacity(raw.routes.len());
    for (index, r) in raw.routes.into_iter().enumerate() {
        let bad = |field, message: String| ContractError::Route { index, field, message };
        let function = Function::from_name(&r.function).ok_or_else(|| {
            let known: Vec<_> = Function::ALL.iter().map(|f| f.name()).collect();
            bad("function", format!("unknown function {:?}; the handlers know {}", r.function, known.join(", ")))
        })?;
        if routes.iter().any(|x: &Route| x.function == function) {
            return Err(bad("function", format!("{:?} is listed twice", r.function)));
        }
        let method = match r.method.as_str() {
            "GET" => Method::GET,
            "PUT" => Method::PUT,
            "POST" => Method::POST,
            "DELETE" => Method::DELETE,
            other => return Err(bad("method", format!("{other:?} is not one of GET, PUT, POST, DELETE"))),
        };
        let segments = parse_path(&r.path).map_err(|m| bad("path", m))?;
        if let Some(a) = r.dynamodb.iter().find(|a| !a.starts_with("dynamodb:") || a.len() <= "dynamodb:".len()) {
            return Err(bad("dynamodb", format!("{a:?} is not an IAM action such as \"dynamodb:GetItem\"")));
        }
        if r.dynamodb.is_empty() != r.key_prefix.is_none() {
            return Err(bad("key_prefix", "give a key prefix exactly when the function uses DynamoDB".into()));
        }
        routes.push(Route {
            function,
            method,
            path: r.path,
            segments,
            dynamodb: r.dynamodb,
            key_prefix: r.key_prefix,
            backend: r.backend,
        });
    }
    if let Some(missing) = Function::ALL.iter().find(|f| !routes.iter().any(|r| r.function == **f)) {
        return Err(ContractError::Route {
            index: routes.len(),
            field: "function",
            message: format!("no route for function {:?}", missing.name()),
        });
    }
    Ok(Contract {
        side: raw.side,
        partition_key: raw.table.partition_key,
        ttl_attribute: raw.table.ttl_attribute,
        routes,
    })
}

fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let rest = path.strip_prefix("/api/").ok_or_else(|| format!("{path:?} must start with /api/"))?;
    std::iter::once("api")
        .chain(rest.split('/'))
        .map(|part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) => {
                Ok(Segment::Param(name.to_owned()))
            }
            Some(_) => Err(format!("{part:?} in {path:?} is not a parameter like {{userId}}")),
            None if part.is_empty() => Err(format!("{path:?} has an empty segment")),
            None => Ok(Segment::Literal(part.to_owned())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_contract_names_every_function_once() {
        let contract = parse(CONTRACT_JSON).unwrap();
        assert_eq!(contract.routes.len(), Function::ALL.len());
        for f in Function::ALL {
            assert_eq!(f.route().function, f);
        }
    }

    #[test]
    fn lookup_finds_routes_and_decodes_params() {
        let Lookup::Found(route, params) = lookup(&Method::GET, "/api/users/a%2Db/context/") else { panic!() };
        assert_eq!(route.function, Function::GetUserContext);
        assert_eq!(params, vec![Param { name: "userId", value: "a-b".into() }]);
        assert!(matches!(lookup(&Method::GET, "/api/health"), Lookup::Found(r, _) if r.function == Function::Health));
        assert!(matches!(lookup(&Method::GET, "/api/Health"), Lookup::NotFound));
        assert!(matches!(lookup(&Method::GET, "/api/users//context"), Lookup::NotFound));
        assert!(matches!(lookup(&Method::GET, "/api/users/a/context/extra"), Lookup::NotFound));
        assert!(matches!(lookup(&Method::GET, "/api/users/%zz/context"), Lookup::BadEncoding("userId")));
        assert!(matches!(lookup(&Method::GET, "/"), Lookup::NotFound));
        let Lookup::MethodNotAllowed(allowed) = lookup(&Method::DELETE, "/api/users/a/context") else { panic!() };
        assert_eq!(allowed, vec![&Method::GET, &Method::PUT]);
    }

    #[test]
    fn path_for_fills_in_parameters() {
        let route = Function::PutWorkflowMapping.route();
        assert_eq!(route.path_for(&["wf-1"]), "/api/workflows/wf-1/mapping");
        assert_eq!(route.params().collect::<Vec<_>>(), vec!["workflowId"]);
    }

    #[test]
    fn bad_contracts_name_the_route_and_field() {
        let good: serde_json::Value = serde_json::from_str(CONTRACT_JSON).unwrap();
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            f(&mut v);
            parse(&v.to_string()).unwrap_err().to_string()
        };
        assert!(with(&|v| v["routes"][1]["function"] = "nope".into()).starts_with("routes[1].function: unknown"));
        assert!(with(&|v| v["routes"][2]["path"] = "/users".into()).starts_with("routes[2].path"));
        assert!(with(&|v| v["routes"][3]["dynamodb"][0] = "GetItem".into()).starts_with("routes[3].dynamodb"));
        assert!(with(&|v| v["routes"][0]["key_prefix"] = "x#".into()).starts_with("routes[0].key_prefix"));
        assert!(with(&|v| v["routes"][0]["method"] = "PATCH".into()).starts_with("routes[0].method"));
        assert!(with(&|v| {
            v["routes"].as_array_mut().unwrap().pop();
        })
        .contains("no route for function \"get-report\""));
    }
}
