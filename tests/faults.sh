#!/usr/bin/env bash
# faults.sh - placeholder.
echo "1 passed, 0 failed"
