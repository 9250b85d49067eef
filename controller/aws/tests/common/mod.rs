//! What more than one adapter test needs.

use cutover_core::plan::MetricSources;

/// An ALB, an HTTP API stage and two Lambda functions, named as AWS names them.
pub fn sources() -> MetricSources {
    MetricSources {
        alb_load_balancer: "app/internal-api/50dc6c495c0c9188".into(),
        alb_target_group: "targetgroup/internal-api/73e2d6bc24d8a067".into(),
        api_id: "a1b2c3d4e5".into(),
        api_stage: "$default".into(),
        lambda_functions: vec!["internal-api-health".into(), "internal-api-user-context".into()],
        xray_legacy_service: "internal-api-express".into(),
        alb_shared: false,
        edge_logs: None,
    }
}
