#!/bin/sh
# hello-service: the smallest service there is. `./hello.sh NAME` greets NAME.
echo "Hello, ${1:-world}!"
