use super::*;
use crate::model::forge::{CheckState, DeploymentState};

#[test]
fn every_check_state_maps_to_a_gitlab_status() {
    let valid = [
        "pending", "running", "success", "failed", "canceled", "skipped",
    ];
    for state in CheckState::ALL {
        assert!(valid.contains(&commit_status_state(state)), "{state:?}");
    }
    assert_eq!(commit_status_state(CheckState::InProgress), "running");
    assert_eq!(commit_status_state(CheckState::TimedOut), "failed");
    assert_eq!(commit_status_state(CheckState::Cancelled), "canceled");
    assert_eq!(commit_status_state(CheckState::ActionRequired), "pending");
}

#[test]
fn every_deployment_state_maps_to_a_gitlab_status() {
    let valid = ["running", "success", "failed", "canceled"];
    for state in DeploymentState::ALL {
        assert!(valid.contains(&deployment_status(state)));
    }
}

#[test]
fn access_levels_map_onto_the_permission_scale() {
    let cases = [
        (0, Permission::None),
        (5, Permission::None),
        (10, Permission::Read),
        (15, Permission::Read),
        (20, Permission::Triage),
        (30, Permission::Write),
        (40, Permission::Maintain),
        (50, Permission::Admin),
        (60, Permission::Admin),
    ];
    for (level, expected) in cases {
        assert_eq!(permission_from_access_level(level), expected, "{level}");
    }
}
