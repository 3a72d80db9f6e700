#!/bin/sh
# The service's tests.
set -e
[ "$(./hello.sh)" = "Hello, world!" ] || { echo "default greeting is wrong"; exit 1; }
[ "$(./hello.sh Slipway)" = "Hello, Slipway!" ] || { echo "named greeting is wrong"; exit 1; }
echo "2 tests passed"
