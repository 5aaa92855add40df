#!/usr/bin/env bash
# The main command: sets up .venv on first use, then shows what each way of
# building classifiers creates and costs, on the embedded data.
source "$(dirname "$0")/_env.sh" "plots"
python scripts/modes.py "$@"
