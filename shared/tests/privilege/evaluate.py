#!/usr/bin/env python3
"""Evaluate IAM requests against the policies that ship (the cloud privilege test's adapter).

Reads a JSON request on stdin: {"template": path, "substitutions": {...}, "session_policy": {...},
"checks": [{"principal": "BuildRole" | "RunRole" | "<function logical id>", "action", "resource"}]}
and prints one JSON list of "allow" / "deny", in order.

The template is parsed with cfn-lint's decoder (it understands !Sub, !GetAtt, !Ref, ...); the
intrinsics the role policies use are resolved from "substitutions" (logical ids, pseudo
parameters, "X.Arn" attributes). Statements are matched with moto's IAM policy evaluator
(moto.iam.access_control.IAMPolicy: actions and resources with wildcards, explicit denies win).
It does not evaluate conditions, resource policies, or anything S3 or ECR check at request time
(such as an image's tag), so callers must not claim more from it. For "RunRole" a request is
allowed only when both the role's policies and the session policy allow it, as IAM intersects
them for a session.
"""
import json
import re
import sys

from cfnlint.decode import decode_str
from moto.iam.access_control import IAMPolicy, PermissionResult


def named(subs, name):
    # Names no check depends on (queues, tables) resolve to a placeholder no ARN matches.
    return subs.get(name, f"<{name}>")


def resolve(node, subs):
    if isinstance(node, list):
        return [resolve(n, subs) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, value), = node.items()
        if key == "Fn::Sub":
            text = value if isinstance(value, str) else value[0]
            return re.sub(r"\$\{([^}]+)\}", lambda m: named(subs, m.group(1)), text)
        if key == "Ref":
            return named(subs, value)
        if key == "Fn::GetAtt":
            return named(subs, value if isinstance(value, str) else ".".join(value))
        if key == "Fn::If":
            return None  # conditional grants (secrets, DeployPolicyArn) are not evaluated here
    return {k: resolve(v, subs) for k, v in node.items()}


def role_policies(resource):
    """The policy documents a role (or a SAM function's execution role) holds."""
    props = resource["Properties"]
    if resource["Type"] == "AWS::IAM::Role":
        return [p["PolicyDocument"] for p in props.get("Policies", [])]
    return [p for p in props.get("Policies", []) if isinstance(p, dict) and "Statement" in p]


def without_nulls(document):
    statements = []
    for statement in document["Statement"]:
        if statement is None:  # a conditional statement (Fn::If), not evaluated
            continue
        resources = statement.get("Resource")
        if isinstance(resources, list):
            statement = dict(statement, Resource=[r for r in resources if r is not None])
        statements.append(statement)
    return {"Statement": statements}


def decide(documents, action, resource):
    results = [
        IAMPolicy(json.dumps(without_nulls(d))).is_action_permitted(action, resource)
        for d in documents
    ]
    if PermissionResult.DENIED in results:
        return False
    return PermissionResult.PERMITTED in results


def main():
    request = json.load(sys.stdin)
    with open(request["template"]) as f:
        template, problems = decode_str(f.read())
    if problems:
        sys.exit(f"template.yaml does not parse: {problems}")
    resources = resolve(template["Resources"], request["substitutions"])
    session = request["session_policy"]
    answers = []
    for check in request["checks"]:
        principal, action, resource = check["principal"], check["action"], check["resource"]
        allowed = decide(role_policies(resources[principal]), action, resource)
        if principal == "RunRole":
            allowed = allowed and decide([session], action, resource)
        answers.append("allow" if allowed else "deny")
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
