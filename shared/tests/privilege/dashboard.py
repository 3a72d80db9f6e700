#!/usr/bin/env python3
"""The delivery dashboard of template.yaml (argv[1]) as the test checks it: its body must be JSON
once CloudFormation's !Sub fills it in; prints the Slipway metric names its searches read."""
import json
import re
import sys

from cfnlint.decode import decode_str

with open(sys.argv[1]) as f:
    template, problems = decode_str(f.read())
if problems:
    sys.exit(f"template.yaml does not parse: {problems}")
body = template["Resources"]["DeliveryDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "substituted", body))
names = set()
for widget in dashboard["widgets"]:
    for row in widget["properties"]["metrics"]:
        for item in row:
            if isinstance(item, dict) and "expression" in item:
                names.update(re.findall(r'MetricName="([A-Za-z]+)"', item["expression"]))
print(json.dumps(sorted(names)))
