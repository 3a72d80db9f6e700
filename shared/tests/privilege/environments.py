#!/usr/bin/env python3
"""Each function's environment as template.yaml gives it, per set-up (the cloud settings test's
adapter).

Reads the template path as the only argument and prints one JSON object: for each set-up (GitHub
App only, GitLab only, both) and each AWS::Serverless::Function, its variables (Globals merged
with the function's own, `Fn::If` decided by the set-up's conditions, `AWS::NoValue` dropped),
each value a literal or "ref:<logical id>"; and for every `*_ARN` variable naming a secret,
whether the function's role may call secretsmanager:GetSecretValue on it (moto's IAM evaluator,
as evaluate.py uses).
"""
import json
import sys

from cfnlint.decode import decode_str
from evaluate import decide, role_policies

SETUPS = {
    "github-app": {"HasGitHubApp": True, "HasGitLab": False, "HasDeployPolicy": False,
                   "HasAlarmEmail": False, "HasWebhookReservedConcurrency": False, "HasPublicUrl": False, "HasDeployStepsRole": False},
    "gitlab": {"HasGitHubApp": False, "HasGitLab": True, "HasDeployPolicy": False,
               "HasAlarmEmail": False, "HasWebhookReservedConcurrency": False, "HasPublicUrl": False, "HasDeployStepsRole": False},
    "both": {"HasGitHubApp": True, "HasGitLab": True, "HasDeployPolicy": True,
             "HasAlarmEmail": True, "HasWebhookReservedConcurrency": True, "HasPublicUrl": True, "HasDeployStepsRole": True},
}
NO_VALUE = object()


def decided(node, conditions):
    """The node with every Fn::If decided and AWS::NoValue removed; Ref/GetAtt/Sub kept."""
    if isinstance(node, list):
        items = [decided(n, conditions) for n in node]
        return [i for i in items if i is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, value), = node.items()
        if key == "Fn::If":
            name, then, otherwise = value
            return decided(then if conditions[name] else otherwise, conditions)
        if key == "Ref" and value == "AWS::NoValue":
            return NO_VALUE
    out = {}
    for k, v in node.items():
        v = decided(v, conditions)
        if v is not NO_VALUE:
            out[k] = v
    return out


def token(value):
    """A variable's value as the test compares it: a literal, or "ref:<logical id>"."""
    if isinstance(value, dict) and "Ref" in value:
        return f"ref:{value['Ref']}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        att = value["Fn::GetAtt"]
        return "getatt:" + (att if isinstance(att, str) else ".".join(att))
    if isinstance(value, dict):
        return "expr:" + json.dumps(value, sort_keys=True)
    return str(value)


def placeholders(node):
    """Refs to secrets become their logical id (the evaluator compares resource strings)."""
    if isinstance(node, list):
        return [placeholders(n) for n in node]
    if isinstance(node, dict):
        if len(node) == 1 and "Ref" in node:
            return f"ref:{node['Ref']}"
        if len(node) == 1 and ("Fn::GetAtt" in node or "Fn::Sub" in node):
            return "<elsewhere>"
        return {k: placeholders(v) for k, v in node.items()}
    return node


def main():
    with open(sys.argv[1]) as f:
        template, problems = decode_str(f.read())
    if problems:
        sys.exit(f"template.yaml does not parse: {problems}")
    out = {}
    for setup, conditions in SETUPS.items():
        resources = decided(template["Resources"], conditions)
        globals_env = decided(
            template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
            conditions,
        )
        functions = {}
        for name, resource in resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            own = resource["Properties"].get("Environment", {}).get("Variables", {})
            env = {k: token(v) for k, v in {**globals_env, **own}.items()}
            policies = [placeholders(p) for p in role_policies(resource)]
            secrets = {}
            for variable, value in env.items():
                if variable.endswith("_ARN") and value.startswith("ref:"):
                    secret = value[len("ref:"):]
                    if resources.get(secret, {}).get("Type") == "AWS::SecretsManager::Secret":
                        secrets[variable] = {
                            "secret": secret,
                            "readable": decide(policies, "secretsmanager:GetSecretValue", value),
                        }
            functions[name] = {"env": env, "secrets": secrets}
        out[setup] = functions
    print(json.dumps(out))


if __name__ == "__main__":
    main()
